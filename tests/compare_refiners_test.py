"""Tests of the refiner comparison harness (tools/compare_refiners.py) and tools/refine.py end to end."""
import importlib.util
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rl_fakes import Z, FakeClassifier, FakeModels
from vid_jax import testing
from vid_jax.refiners import rl

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _harness():
  path = os.path.join(REPO, "tools", "compare_refiners.py")
  spec = importlib.util.spec_from_file_location("vid_jax_tool_compare_refiners", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


harness = _harness()


@pytest.fixture(scope="module")
def fake_task():
  cfg = rl.default_config()
  cfg.bank_size = 4
  cfg.population = 8
  cfg.amortized.update(dict(hidden=16, train_steps=2, requests_per_step=2, samples_per_request=2))
  task = rl.model_task(FakeModels(), FakeClassifier(), cfg=cfg, key=jax.random.key(0))
  want = rl.attribute_vector(["Smiling"])
  return task, task.make_requests(want, np.zeros(40), 2), cfg


def test_evaluate_latents_one_or_many_per_request(fake_task):
  task, req, _ = fake_task
  z = jax.random.normal(jax.random.key(1), (2, 3, Z))
  many = harness.evaluate_latents(task, z, req)
  assert many["reward"].shape == (2, 3) and many["images"].shape == (2, 3, 8, 8, 3)
  assert many["hits"].dtype == bool and set(many["terms"]) == set(task.weights)
  one = harness.evaluate_latents(task, z[:, 0], req)  # [R, Z]: one latent per request
  assert one["reward"].shape == (2,)
  np.testing.assert_allclose(one["reward"], many["reward"][:, 0], rtol=1e-5, atol=1e-6)
  images = FakeModels().generate(z[0], jnp.tile(req.cond[:1], (3, 1)))
  np.testing.assert_allclose(many["images"][0], images, rtol=1e-5, atol=1e-6)


def test_checkpoints_are_distinct_fractions_of_the_budget():
  assert harness.checkpoints(16) == [1, 3, 7, 15]
  assert harness.checkpoints(2) == [0, 1]
  assert harness.checkpoints(1) == [0]


def test_compare_methods_same_requests_and_budget(fake_task):
  task, req, cfg = fake_task
  out = harness.compare_methods(task, req, jax.random.key(2), cfg=cfg, budget=32,
                                methods=("best_of_n", "amortized"), one_shot_samples=4)
  assert list(out["methods"]) == ["best_of_n", "amortized"]
  for name, m in out["methods"].items():
    assert m["evals"] == 32, name
    assert [p["evals"] for p in m["curve"]] == [8, 16, 32]  # 4 steps of 8: 1/4, 1/2, all
    rewards = [p["mean_reward"] for p in m["curve"]]
    assert rewards == sorted(rewards)  # best-so-far never falls
    assert rewards[-1] == pytest.approx(m["mean_reward"], rel=1e-6)
    assert 0.0 <= m["attr_hit_rate"] <= 1.0 and m["z"].shape == (2, Z)
  assert out["methods"]["amortized"]["train_evals"] == 2 * 2 * 2
  assert set(out["one_shot"]) == {"prior", "amortized"}
  assert out["one_shot"]["prior"]["samples"] == 2 * 4


# ------------------------------------------------------- tools/refine.py end to end


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory):
  """A tiny run whose config.json also holds a `refiners.rl` section, as runs from before the split
  do; the tool ignores it (these values would fail validation)."""
  workdir = testing.make_tiny_workdir(str(tmp_path_factory.mktemp("rl_run")))
  path = os.path.join(workdir, "config.json")
  with open(path, encoding="utf-8") as f:
    config = json.load(f)
  config["refiners"]["rl"] = {"budget": 1, "population": 3, "weights": {"realism": -1.0}}
  with open(path, "w", encoding="utf-8") as f:
    json.dump(config, f)
  return workdir


def _tool(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="")
  return subprocess.run([sys.executable, os.path.join(REPO, "tools", "refine.py"), *args],
                        capture_output=True, text=True, env=env, timeout=600, check=False)


def test_refine_tool_compare_json(tiny_workdir, tmp_path):
  out = tmp_path / "grid.png"
  proc = _tool(f"--workdir={tiny_workdir}", "--budget=32", "--compare", "--json", "--num_requests=2",
               "--amortized_steps=3", f"--out={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  assert report["budget"] == 32
  assert set(report["methods"]) == set(rl.METHODS)
  for name, m in report["methods"].items():
    assert set(m) == {"mean_reward", "attr_hit_rate", "evals"}, name
    assert m["attr_hit_rate"] is None  # no classifier
    assert 0 < m["evals"] <= 32 and np.isfinite(m["mean_reward"])
  assert "best_of_n" in proc.stdout and out.exists()


def test_refine_tool_bad_input_is_one_line(tiny_workdir):
  proc = _tool(f"--workdir={tiny_workdir}", "--attrs=Smilling")
  assert proc.returncode == 2
  assert proc.stderr.strip().startswith("error: --attrs: unknown attribute")
  assert "Traceback" not in proc.stderr
  # An unconditional run without a classifier cannot steer attributes.
  proc = _tool(f"--workdir={tiny_workdir}", "--attrs=Smiling", "--budget=32")
  assert proc.returncode == 2 and "Traceback" not in proc.stderr
  assert "--classifier_workdir" in proc.stderr


def test_refine_tool_refine_config_overrides(tiny_workdir):
  proc = _tool(f"--workdir={tiny_workdir}", "--method=best_of_n", "--json", "--num_requests=2",
               "--refine_config.budget=16", "--refine_config.population=8")
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  assert report["budget"] == 16 and report["methods"]["best_of_n"]["evals"] == 16
  proc = _tool(f"--workdir={tiny_workdir}", "--refine_config.reinforce.baseline=median")
  assert proc.returncode == 2 and "Traceback" not in proc.stderr
  assert proc.stderr.strip().splitlines() == [
      "error: refine_config.reinforce.baseline='median': use loo, ema or none"
  ]

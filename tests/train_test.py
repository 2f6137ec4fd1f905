"""End-to-end training: smoke run, exact resume, one-line errors from launch.py, non-finite stop."""
import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from vid_jax import checkpoint as ckpt_lib
from vid_jax import testing
from vid_jax import train
from vid_jax.errors import NonFiniteLossError

REPO = testing.REPO


def _leaves(state):
  fields = ("g_params", "g_batch_stats", "d_params", "d_batch_stats", "g_opt_state", "d_opt_state",
            "ema_params", "step", "rng")
  return jax.device_get([getattr(state, f) for f in fields])


def test_smoke_run_writes_checkpoint_samples_and_metrics(tmp_path):
  config = testing.tiny_config(steps=2)
  result = train.train_and_evaluate(config, str(tmp_path))
  assert result["step"] == 2
  assert {"state", "start_step", "wall_s", "compile_s", "d_loss", "steps_per_sec"} <= set(result)
  assert result["start_step"] == 0 and int(result["state"].step) == 2
  assert os.listdir(tmp_path / "checkpoints") == ["2"]
  assert (tmp_path / "samples" / "step_000002.png").exists()
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path))
  lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert lines[-1]["step"] == 2
  for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm", "steps_per_sec",
              "images_per_sec"):
    assert np.isfinite(lines[-1][key]), key
  assert json.load(open(tmp_path / "config.json"))["model"]["resolution"] == 32


def test_interrupted_and_resumed_run_is_bitwise_identical(tmp_path, monkeypatch):
  config = testing.tiny_config(steps=5)
  config.train.checkpoint_every = 2
  config.train.log_every = 1
  config.train.sample_every = 0
  straight = train.train_and_evaluate(config, str(tmp_path / "a"))["state"]

  # A SIGTERM after step 3, between checkpoints; then rerun the same command.
  original, calls = train.next_batches, []

  def next_batches(loader, **kw):
    if len(calls) == 3:
      os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler only sets its stop flag
    calls.append(1)
    return original(loader, **kw)

  monkeypatch.setattr(train, "next_batches", next_batches)
  stopped = train.train_and_evaluate(config, str(tmp_path / "b"))
  assert stopped["step"] == 4  # the step in flight finishes, then a checkpoint is written
  assert ckpt_lib.Checkpointer(str(tmp_path / "b")).latest_step() == 4
  monkeypatch.setattr(train, "next_batches", original)
  resumed = train.train_and_evaluate(config, str(tmp_path / "b"))
  assert resumed["start_step"] == 4 and resumed["step"] == 5
  for a, b in zip(jax.tree.leaves(_leaves(straight)), jax.tree.leaves(_leaves(resumed["state"]))):
    np.testing.assert_array_equal(a, b)
  steps = [json.loads(l)["step"] for l in open(tmp_path / "b" / "metrics.jsonl")]
  assert steps == sorted(set(steps)) == [1, 2, 3, 4, 5]


def test_missing_cache_is_one_clear_line(tmp_path):
  proc = subprocess.run([
      sys.executable, "launch.py", "--config=configs/dcgan_avatars.py:smoke", f"--workdir={tmp_path}",
      f"--config.data.cache_dir={tmp_path}/nocache"
  ], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2
  assert "Traceback" not in proc.stderr
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors) == 1 and "prepare_data.py" in errors[0], proc.stderr[-2000:]


def test_resuming_with_a_config_that_does_not_fit_the_checkpoint_is_one_clear_line(tmp_path):
  # A learning-rate decay adds a schedule count to Adam's state: the step-2 checkpoint of a
  # constant-lr run cannot be restored into it. One line, and the run's config.json is kept.
  launch = [sys.executable, "launch.py", "--config=configs/dcgan_avatars.py:smoke", f"--workdir={tmp_path}"]
  subprocess.run(launch + ["--config.train.num_steps=2"], cwd=REPO, check=True, capture_output=True,
                 timeout=300)
  before = (tmp_path / "config.json").read_text()
  proc = subprocess.run(launch + ["--config.train.num_steps=4", "--config.optim.lr_decay_start=3"], cwd=REPO,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors) == 1 and "does not fit this config" in errors[0] and "step 2" in errors[0], errors
  assert (tmp_path / "config.json").read_text() == before


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  config = testing.tiny_config(steps=2)
  train.train_and_evaluate(config, str(tmp_path))
  config = testing.tiny_config(steps=8)
  config.optim.g_lr = config.optim.d_lr = float("inf")
  with pytest.raises(NonFiniteLossError,
                     match=r"non-finite loss at step [3-8] .*last good checkpoint \(step 2\)"):
    train.train_and_evaluate(config, str(tmp_path))
  assert ckpt_lib.Checkpointer(str(tmp_path)).latest_step() == 2

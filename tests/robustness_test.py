"""tools/robustness.py: --eps parsing, and the robust config trained for 2 steps then reported."""
import functools
import importlib.util
import json
import math
import os

import pytest

from vid_jax import testing, train
from vid_jax.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.cache
def _robustness_tool():
  # Loaded once: the module defines absl flags, which may be defined only once per process.
  path = os.path.join(REPO, "tools", "robustness.py")
  spec = importlib.util.spec_from_file_location("vid_jax_tool_robustness", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_robustness_eps_flag_parsing():
  tool = _robustness_tool()
  assert tool.parse_eps_list("0,1/255, 0.5/255,8/255") == pytest.approx([0.0, 2 / 255, 1 / 255, 16 / 255])
  for bad in ("", "1/0", "abc", "-1/255", "1/255,,2/255", "300/255"):
    with pytest.raises(UserError, match="--eps"):
      tool.parse_eps_list(bad)


# ------------------------------------------- robust config, training and report


@pytest.fixture(scope="module")
def robust_workdir(tmp_path_factory):
  config = testing.load_config_file("dcgan_avatars_robust", "smoke")
  for field in ("num_steps", "log_every", "checkpoint_every", "sample_every"):
    config.train[field] = 2
  path = str(tmp_path_factory.mktemp("robust"))
  train.train_and_evaluate(config, path)
  return path


def test_robust_config_trains_and_reports(robust_workdir, tmp_path):
  with open(os.path.join(robust_workdir, "config.json"), encoding="utf-8") as f:
    assert json.load(f)["refiners"]["adversarial"]["enabled"] is True
  with open(os.path.join(robust_workdir, "metrics.jsonl"), encoding="utf-8") as f:
    rows = [json.loads(line) for line in f if line.strip()]
  assert rows and rows[-1]["step"] == 2
  assert all(math.isfinite(rows[-1][k]) for k in ("d_loss", "g_loss"))

  tool = _robustness_tool()
  out = str(tmp_path / "robustness.json")
  report = tool.run(robust_workdir, eps_text="0,8/255,1", num=4, steps=2, rel_step=2.5, norm="linf",
                    batch_size=8, seed=0, json_out=out)
  with open(out, encoding="utf-8") as f:
    written = json.load(f)
  assert written == json.loads(json.dumps(report))
  assert written["adversarially_trained"] and written["num_real"] == 4
  assert written["eps"] == pytest.approx([0.0, 16 / 255, 2.0])
  assert written["fgsm"]["all"][0] == written["clean"]["all"]
  assert written["pgd"]["all"][0] == written["clean"]["all"]
  # eps=1 in pixel units can turn any image into any other: D is always fooled.
  assert written["pgd"]["all"][2] == 0.0
  assert len(tool.format_table(report).splitlines()) == 2 + 3

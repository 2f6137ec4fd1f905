"""vid_jax.metrics.breakdown (the maths), vid_jax.evaluators.breakdown (samples read by the classifier)
and tools/attribute_report.py: where conditioned attributes fail."""
import json
import os
import subprocess
import sys
import types

import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import classifier_train
from vid_jax import testing
from vid_jax.errors import UserError
from vid_jax.evaluators import breakdown as report_lib
from vid_jax.metrics import breakdown
from vid_jax.testing import REPO, load_config_file

NAMES = ["Brown_Hair", "Black_Hair", "Smiling"]
FAKE_NAMES = ["Brown_Hair", "Eyeglasses", "Smiling"]  # the fake generator's (one hair colour at a time)


def test_rates_by_combination_splits_by_each_other_attribute():
  # Brown is found unless black was asked for too; Smiling is always found.
  requested = np.array([[1, 0, 1], [1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 0], [0, 0, 1]], bool)
  found = requested.copy()
  found[:, 0] &= ~requested[:, 1]
  out = breakdown.rates_by_combination(requested, found, NAMES, ["Brown_Hair", "Smiling"])
  brown = out["Brown_Hair"]
  assert brown["n"] == 4 and brown["rate"] == 0.5
  assert brown["with"]["Black_Hair"] == {"rate": 0.0, "n": 2}
  assert brown["without"]["Black_Hair"] == {"rate": 1.0, "n": 2}
  assert brown["with"]["Smiling"] == {"rate": 0.5, "n": 2}
  assert "Brown_Hair" not in brown["with"]
  smiling = out["Smiling"]
  assert smiling["rate"] == 1.0 and smiling["n"] == 4
  assert smiling["with"]["Brown_Hair"]["n"] == 2 and smiling["without"]["Brown_Hair"]["n"] == 2
  # A split that no sample falls in has no rate.
  empty = breakdown.rates_by_combination(requested[[4]], found[[4]], NAMES, ["Brown_Hair"])
  assert empty["Brown_Hair"]["with"]["Black_Hair"] == {"rate": None, "n": 0}
  with pytest.raises(ValueError, match="must both be"):
    breakdown.rates_by_combination(requested, found[:, :2], NAMES, ["Smiling"])


def test_latent_consistency_tells_request_failures_from_latent_failures():
  by_request = np.repeat(np.array([[True], [False], [True], [True]]), 8, axis=1)
  out = breakdown.latent_consistency(by_request)
  assert out["rate"] == 0.75 and out["all_found"] == 0.75 and out["none_found"] == 0.25
  assert out["mixed"] == 0.0 and out["independent_none_found"] == pytest.approx(0.25**8)
  by_latent = np.tile(np.array([True, False, True, True] * 2), (4, 1))  # every request mixed
  out = breakdown.latent_consistency(by_latent)
  assert out["rate"] == 0.75 and out["mixed"] == 1.0 and out["all_found"] == out["none_found"] == 0.0
  assert out["independent_all_found"] == pytest.approx(0.75**8)
  with pytest.raises(ValueError, match="latents >= 2"):
    breakdown.latent_consistency(by_request[:, :1])


def _fake_models(z_dependent):
  """A 'generator' whose pixel 0 says brown (unless eyeglasses are asked, or z[0] < 0 when
  z_dependent), pixel 1 eyeglasses, pixel 2 smiling; a 'classifier' that reads those pixels.
  (Not black hair beside brown: the samplers draw one hair colour, so that pair is never asked.)"""

  def generate(z, attrs):
    brown = attrs[:, 0] * (1 - attrs[:, 1])
    if z_dependent:
      brown = attrs[:, 0] * (z[:, 0] > 0)
    flags = jnp.stack([brown, attrs[:, 1], attrs[:, 2]], axis=1)  # [B, 3]
    img = jnp.zeros((z.shape[0], 4, 4, 3)).at[:, 0, 0, :].set(flags * 2 - 1)
    return img

  def logits(images):
    x = jnp.asarray(images, jnp.float32)[:, 0, 0, :] / 255.0 - 0.5  # uint8 -> [-0.5, 0.5]
    return jnp.concatenate([x, -jnp.ones((x.shape[0], 1))], axis=1)  # a 4th, unused output

  classifier = types.SimpleNamespace(attribute_names=("Brown_Hair", "Eyeglasses", "Smiling", "Male"),
                                     logits=logits)
  return generate, classifier


@pytest.mark.parametrize("z_dependent", [False, True])
def test_attribute_report_finds_where_a_fake_generator_fails(z_dependent):
  generate, classifier = _fake_models(z_dependent)
  marginals = np.array([0.5, 0.4, 0.5], np.float32)
  out = report_lib.attribute_report(generate, classifier, FAKE_NAMES, marginals, ["Brown_Hair", "Smiling"],
                                    z_dim=3, num_samples=600, requests=50, latents=8, batch_size=64, seed=1)
  json.dumps(out)
  brown = out["by_combination"]["Brown_Hair"]
  smiling = out["by_combination"]["Smiling"]
  assert smiling["rate"] == 1.0 and out["by_latent"]["Smiling"]["all_found"] == 1.0
  latent = out["by_latent"]["Brown_Hair"]
  assert latent["requests"] == 50 and latent["latents"] == 8
  assert latent["all_found"] + latent["none_found"] + latent["mixed"] == pytest.approx(1.0)
  if not z_dependent:  # fails exactly with eyeglasses: per request, never per latent
    assert brown["with"]["Eyeglasses"]["rate"] == 0.0 and brown["without"]["Eyeglasses"]["rate"] == 1.0
    assert latent["mixed"] == 0.0 and 0.3 < latent["none_found"] < 0.5
  else:  # fails on half the latents whatever the request
    assert 0.35 < brown["with"]["Eyeglasses"]["rate"] < 0.65
    assert 0.35 < brown["without"]["Eyeglasses"]["rate"] < 0.65
    assert latent["mixed"] > 0.9 and 0.35 < latent["rate"] < 0.65
  with pytest.raises(UserError, match="not conditioned"):
    report_lib.attribute_report(generate, classifier, FAKE_NAMES, marginals, ["Wearing_Cape"], z_dim=3,
                                num_samples=8, requests=2, latents=2, batch_size=8)


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  root = tmp_path_factory.mktemp("report")
  gan = testing.make_tiny_workdir(str(root / "cgan"), conditional=True, steps=2)
  config = load_config_file("classifier_avatars", "smoke")
  config.data.num_examples = 320
  config.classifier.steps = 2
  config.classifier.batch_size = 16
  config.classifier.holdout = 64
  config.classifier.eval_batch_size = 64
  classifier_train.train_and_evaluate(config, str(root / "clf"))
  return gan, str(root / "clf")


def _report(*args):
  return subprocess.run(
      [sys.executable, os.path.join(REPO, "tools", "attribute_report.py"), *args], capture_output=True,
      text=True, timeout=300, env=dict(os.environ, JAX_PLATFORMS="cpu"), check=False)


def test_attribute_report_tool_on_a_checkpoint(workdirs):
  gan, clf = workdirs
  proc = _report(f"--workdir={gan}", f"--classifier_workdir={clf}", "--attributes=Smiling,Black_Hair",
                 "--num_samples=40", "--requests=3", "--latents=2", "--batch_size=16")
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout)
  assert out["step"] == 2 and list(out["by_combination"]) == ["Smiling", "Black_Hair"]
  smiling = out["by_combination"]["Smiling"]
  # Every sample that asked for Smiling either did or did not ask for Male.
  assert smiling["with"]["Male"]["n"] + smiling["without"]["Male"]["n"] == smiling["n"]
  assert 0 < smiling["n"] < 40
  assert out["by_latent"]["Black_Hair"]["requests"] == 3


@pytest.mark.parametrize("args,message", [
    (["--attributes=Wearing_Cape"], "not conditioned"),
    (["--latents=1"], "--latents=1: need at least 2"),
    (["--classifier_workdir=/nonexistent"], "no attribute classifier"),
])
def test_attribute_report_tool_errors_in_one_line(workdirs, args, message):
  gan, clf = workdirs
  proc = _report(f"--workdir={gan}", f"--classifier_workdir={clf}", *args)
  lines = proc.stderr.strip().splitlines()
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines


def test_attribute_report_needs_a_conditional_run(workdirs, tmp_path):
  gan, clf = workdirs
  with open(os.path.join(gan, "config.json"), encoding="utf-8") as f:
    config = json.load(f)
  config["model"]["conditional"] = False
  with open(tmp_path / "config.json", "w", encoding="utf-8") as f:
    json.dump(config, f)
  proc = _report(f"--workdir={tmp_path}", f"--classifier_workdir={clf}")
  lines = proc.stderr.strip().splitlines()
  assert proc.returncode == 2 and len(lines) == 1 and "not a conditional run" in lines[0], lines

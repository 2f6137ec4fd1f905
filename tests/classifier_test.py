"""Attribute classifier model: shapes, checkpoint round trip and errors, the blur degradation,
and tools/evaluate.py's one-line error (the trained-classifier tests are in classifier_train_test.py)."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.data.attributes import ATTRIBUTE_NAMES
from vid_jax.errors import UserError
from vid_jax.models import classifier as clf_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("resolution", [32, 64])
def test_output_shapes(resolution):
  module = clf_lib.AttributeClassifier(width=8, feature_dim=24)
  x = jax.ShapeDtypeStruct((3, resolution, resolution, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: module.init(jax.random.key(0), x, train=False), x)
  assert set(variables) == {"params", "batch_stats"}
  logits = jax.eval_shape(lambda v, x: module.apply(v, x, train=False), variables, x)
  assert logits.shape == (3, 40) and logits.dtype == jnp.float32
  logits, feats = jax.eval_shape(lambda v, x: module.apply(v, x, train=False, return_features=True),
                                 variables, x)
  assert logits.shape == (3, 40) and feats.shape == (3, 24)


def test_save_and_load_round_trip(tmp_path):
  module = clf_lib.AttributeClassifier(width=4, feature_dim=8)
  variables = module.init(jax.random.key(1), jnp.zeros((1, 16, 16, 3)), train=False)
  saved = clf_lib.Classifier(module=module, variables=variables, attribute_names=ATTRIBUTE_NAMES,
                             resolution=16, feature_scale=2.5)
  clf_lib.save_classifier(str(tmp_path), saved, step=3, extra={"source": "test"})
  loaded = clf_lib.load_classifier(str(tmp_path))
  assert loaded.module == module and loaded.resolution == 16 and loaded.feature_scale == 2.5
  assert loaded.attribute_names == ATTRIBUTE_NAMES
  jax.tree.map(np.testing.assert_array_equal, loaded.variables, variables)
  images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
  np.testing.assert_array_equal(loaded.logits(images), saved.logits(images))
  np.testing.assert_allclose(loaded.features(images) * 2.5, saved.features(images) * 2.5, rtol=1e-6)


def test_missing_classifier_is_a_user_error(tmp_path):
  with pytest.raises(UserError, match="train one with"):
    clf_lib.load_classifier(str(tmp_path))


def test_gaussian_blur_is_the_separable_normalised_kernel():
  r = clf_lib.BLUR_RADIUS
  x = np.zeros((3, 16, 16, 2), np.float32)
  x[:, 8, 8, :] = 1.0  # an impulse far from the borders
  sigma = np.array([0.0, 0.7, 1.5], np.float32)
  out = np.asarray(clf_lib.gaussian_blur(jnp.asarray(x), jnp.asarray(sigma)))
  np.testing.assert_allclose(out[0], x[0], atol=1e-6)  # sigma 0 copies
  taps = np.arange(-r, r + 1)
  for i in (1, 2):
    w = np.exp(-0.5 * (taps / sigma[i])**2)
    w /= w.sum()
    expected = np.zeros((16, 16))
    expected[8 - r:8 + r + 1, 8 - r:8 + r + 1] = np.outer(w, w)
    np.testing.assert_allclose(out[i, :, :, 1], expected, atol=1e-6)
  # Normalised and reflect-padded: a constant image stays constant up to its edges.
  const = np.asarray(clf_lib.gaussian_blur(jnp.full((2, 8, 8, 3), 0.3), jnp.array([1.0, 2.0])))
  np.testing.assert_allclose(const, 0.3, atol=1e-6)


def test_evaluate_tool_errors_in_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "tools", "evaluate.py"), f"--workdir={tmp_path}"],
      capture_output=True, text=True, timeout=120, env=dict(os.environ, JAX_PLATFORMS="cpu"), check=False)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:") and "config.json" in lines[0], (result.stderr)

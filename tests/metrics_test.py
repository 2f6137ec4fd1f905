"""vid_jax.metrics (the maths apart from FID / KID, which is in fid_test.py): uint8 quantisation,
batched features, pairwise and same-attribute diversity, attribute agreement."""
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import metrics
from vid_jax.metrics import diversity as diversity_lib


def test_attribute_agreement():
  requested = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], bool)
  predicted = np.array([[1, 0], [0, 1], [0, 0], [0, 0]], bool)
  out = metrics.attribute_agreement(predicted, requested, ("Smiling", "Eyeglasses"))
  assert out["attr_acc/Smiling"] == 0.75 and out["attr_acc/Eyeglasses"] == 0.75
  assert out["attr_present/Smiling"] == 0.5 and out["attr_present/Eyeglasses"] == 0.5
  assert out["attr_acc/mean"] == 0.75 and out["attr_present/mean"] == 0.5
  none_asked = metrics.attribute_agreement(predicted[:, :1], np.zeros((4, 1), bool), ("Bald",))
  assert "attr_present/Bald" not in none_asked and none_asked["attr_acc/Bald"] == 0.75


def test_to_uint8_rounds_like_png():
  x = jnp.array([-1.0, -0.999, 0.0, 0.5, 1.0, 1.5])
  np.testing.assert_array_equal(np.asarray(metrics.to_uint8(x)), [0, 0, 128, 191, 255, 255])


def _mean_colour_features(images_uint8):  # [B, H, W, 3] -> [B, 3]
  return jnp.mean(images_uint8.astype(jnp.float32) / 255.0, axis=(1, 2))


def test_compute_features_pads_the_last_batch():
  images = np.random.default_rng(9).integers(0, 256, (7, 4, 4, 3), dtype=np.uint8)
  calls = []

  def fn(x):
    calls.append(x.shape)
    return _mean_colour_features(x)

  got = metrics.compute_features(fn, images, batch_size=3)
  assert got.shape == (7, 3) and got.dtype == np.float64
  assert calls == [(3, 4, 4, 3)] * 3  # one shape, so one compilation
  np.testing.assert_allclose(got, np.asarray(_mean_colour_features(images)), rtol=1e-6)


def test_pairwise_rms_reads_uint8_on_the_minus_one_one_scale():
  a = np.zeros((2, 4, 4, 3), np.float32)
  a[1] += 0.5  # every pixel 0.5 apart
  assert metrics.pairwise_rms(a) == pytest.approx(0.5)
  three = np.stack([np.full((4, 4, 3), v, np.float32) for v in (0.0, 0.3, -0.3)])
  assert metrics.pairwise_rms(three) == pytest.approx((0.3 + 0.3 + 0.6) / 3)
  u = np.stack([np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)])
  assert metrics.pairwise_rms(u) == pytest.approx(2.0)
  assert metrics.pairwise_rms(np.repeat(u[:1], 5, axis=0)) == 0.0
  with pytest.raises(ValueError, match="at least 2"):
    metrics.pairwise_rms(u[:1])


def test_real_same_attribute_diversity_groups_images_by_their_attributes():
  attrs = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [1, 1]], bool)
  images = np.zeros((6, 2, 2, 3), np.uint8)
  images[1] = 255  # group [1, 0]: black and white, RMS 2.0 apart
  images[2:5] = 127  # group [0, 1]: three equal images, 0 apart
  images[5] = 50  # [1, 1] appears once: no pair, left out
  assert metrics.real_same_attribute_diversity(images, attrs) == pytest.approx(1.0)
  # The largest group first: with max_conditions=1 only the three equal images count.
  assert metrics.real_same_attribute_diversity(images, attrs, max_conditions=1) == 0.0
  assert metrics.real_same_attribute_diversity(images[[0, 2, 5]], attrs[[0, 2, 5]]) is None


def test_grouped_pairwise_rms_averages_consecutive_groups():
  a = np.zeros((4, 2, 2, 3), np.float32)
  a[1] = 0.5  # group 0: 0.5 apart
  a[3] = -0.2  # group 1: 0.2 apart
  assert diversity_lib.grouped_pairwise_rms(a, 2) == pytest.approx(0.35)

"""vid_jax.metrics.sharpness: high-frequency energy, edge gradient and flatness on exact patterns,
and on built-in avatars against the same avatars noised, checkered and blurred."""
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from vid_jax import data as data_lib
from vid_jax.metrics import sharpness


def _grey(y):  # [N, H, W] in [0, 1] -> float [N, H, W, 3] in [-1, 1]
  return np.repeat(np.asarray(y, np.float64)[..., None], 3, axis=-1) * 2.0 - 1.0


def _q(x):  # float [0, 255] -> uint8
  return np.clip(np.round(x), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def avatars():
  return data_lib.make_source("avatars", size=64, seed=3, num_examples=16).get_batch(np.arange(16))["image"]


def test_flat_images_score_zero_energy_and_full_flatness():
  flat = np.full((2, 16, 16, 3), 93, np.uint8)
  assert sharpness.high_frequency_energy(flat) == 0.0
  assert sharpness.edge_gradient(flat) == 0.0
  assert sharpness.flatness(flat) == 1.0


def test_high_frequency_energy_of_pure_patterns():
  x = np.arange(32)
  stripes = np.broadcast_to(x % 2, (1, 32, 32)).astype(np.float64)  # period 2 px: at the Nyquist radius
  checker = (x[:, None] + x[None, :])[None] % 2 * 1.0  # in the corners, sqrt(2) x Nyquist
  coarse = np.broadcast_to(0.5 + 0.5 * np.cos(2 * np.pi * x / 16), (1, 32, 32))  # period 16 px
  mid = np.broadcast_to(0.5 + 0.5 * np.cos(2 * np.pi * x / 4), (1, 32, 32))  # period 4 px: half Nyquist
  assert sharpness.high_frequency_energy(_grey(stripes)) == pytest.approx(1.0)
  assert sharpness.high_frequency_energy(_grey(checker)) == pytest.approx(1.0)
  for pattern in (coarse, mid):
    assert sharpness.high_frequency_energy(_grey(pattern)) == pytest.approx(0.0, abs=1e-12)
  assert sharpness.high_frequency_energy(_grey(mid), cutoff=0.5) == pytest.approx(1.0)
  assert sharpness.high_frequency_energy(_grey(mid), cutoff=0.51) == pytest.approx(0.0, abs=1e-12)
  both = np.concatenate([stripes, coarse])  # the mean over images
  assert sharpness.high_frequency_energy(_grey(both)) == pytest.approx(0.5)


def test_edge_gradient_of_a_step_and_its_blur():
  step = np.zeros((1, 10, 10))
  step[:, :, 5:] = 1.0  # a black/white edge: 9 of the 81 gradient pixels are 1, the rest 0
  assert sharpness.edge_gradient(_grey(step)) == pytest.approx(1.0)
  blurred = ndimage.uniform_filter1d(step, 3, axis=2)
  assert sharpness.edge_gradient(_grey(blurred)) < 0.5


def test_degradations_of_avatars_move_each_figure_the_right_way(avatars):
  rng = np.random.default_rng(0)
  f = avatars.astype(np.float64)
  yy, xx = np.mgrid[:64, :64]
  noisy = _q(f + rng.normal(0.0, 20.0, f.shape))
  checker = _q(f + 10.0 * ((yy + xx) % 2 * 2 - 1)[None, :, :, None])
  blurred = _q(ndimage.gaussian_filter(f, sigma=(0, 1, 1, 0)))
  clean = sharpness.sharpness_metrics(avatars)
  assert clean["flatness"] > 0.6  # flat cartoons
  for name, images in (("noise", noisy), ("checkerboard", checker)):
    m = sharpness.sharpness_metrics(images)
    assert m["hf_energy"] > 1.5 * clean["hf_energy"], name
    assert m["flatness"] < 0.05, name
  m = sharpness.sharpness_metrics(blurred)
  assert m["edge_gradient"] < 0.6 * clean["edge_gradient"]
  assert m["hf_energy"] < 0.3 * clean["hf_energy"]
  assert m["flatness"] > 0.8 * clean["flatness"]  # blur keeps flat regions flat


def test_uint8_and_float_inputs_agree(avatars):
  as_float = avatars.astype(np.float64) / 127.5 - 1.0
  want = sharpness.sharpness_metrics(avatars)
  assert sharpness.sharpness_metrics(as_float) == pytest.approx(want, rel=1e-9)
  assert sharpness.sharpness_metrics(jnp.asarray(as_float, jnp.float32)) == pytest.approx(want, rel=1e-5)


def test_shapes_and_bad_inputs():
  images = np.zeros((3, 8, 10, 3), np.uint8)
  assert sharpness.luminance(images).shape == (3, 8, 10)
  assert sharpness.gradient_magnitude(images).shape == (3, 7, 9)
  assert sharpness.local_std(images).shape == (3, 6, 8)
  assert set(sharpness.sharpness_metrics(images)) == {"hf_energy", "edge_gradient", "flatness"}
  assert all(isinstance(v, float) for v in sharpness.sharpness_metrics(images).values())
  with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
    sharpness.high_frequency_energy(np.zeros((8, 8, 3), np.uint8))
  with pytest.raises(ValueError, match="3x3"):
    sharpness.flatness(np.zeros((1, 2, 8, 3), np.uint8))
  with pytest.raises(ValueError, match="fraction"):
    sharpness.edge_gradient(images, fraction=0.0)

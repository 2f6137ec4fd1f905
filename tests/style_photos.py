"""Real photographs from scikit-image for the style_*_test.py files (astronaut as content, chelsea as
style / colour reference), downscaled so every style test file runs in well under a minute."""
import functools

import jax.numpy as jnp
import numpy as np
import pytest

skimage = pytest.importorskip("skimage")  # skips the importing test module without scikit-image
from skimage import data as skdata  # pylint: disable=g-import-not-at-top,wrong-import-position
from skimage import transform as sktransform  # pylint: disable=g-import-not-at-top,wrong-import-position


def _photo(img: np.ndarray, size: int) -> np.ndarray:
  """uint8 [H, W, 3] -> float32 [size, size, 3] in [-1, 1]."""
  small = sktransform.resize(img, (size, size), anti_aliasing=True)
  return (small * 2.0 - 1.0).astype(np.float32)


@functools.lru_cache(maxsize=None)
def astronaut(size: int) -> np.ndarray:
  return _photo(skdata.astronaut(), size)


@functools.lru_cache(maxsize=None)
def chelsea(size: int) -> np.ndarray:
  return _photo(skdata.chelsea()[:, 50:350], size)


def batch(size: int = 32) -> jnp.ndarray:
  """Two different real images [2, size, size, 3]."""
  return jnp.stack([astronaut(size), chelsea(size)])

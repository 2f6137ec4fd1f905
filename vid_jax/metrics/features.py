"""Images to feature arrays: the uint8 quantisation every evaluated image goes through, and
batched feature extraction with one compiled shape."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

FeatureFn = Callable[[jax.Array], jax.Array]  # uint8 [B, H, W, 3] -> [B, D]


@jax.jit
def to_uint8(images):
  """float [-1, 1] -> uint8, rounded as when saving a PNG (jittable)."""
  return jnp.clip(jnp.round((images + 1.0) * 127.5), 0, 255).astype(jnp.uint8)


def compute_features(feature_fn: FeatureFn, images_uint8, *, batch_size: int) -> np.ndarray:
  """Features of an image array, batch by batch (the last batch padded: one compiled shape).

  Args:
    feature_fn: uint8 [B, H, W, 3] -> [B, D].
    images_uint8: uint8 [N, H, W, 3].
    batch_size: images per call.

  Returns:
    float64 [N, D].
  """
  images = np.asarray(images_uint8)
  if images.dtype != np.uint8 or images.ndim != 4:
    raise ValueError(f"compute_features needs uint8 [N, H, W, 3], got {images.dtype} {images.shape}")
  out = []
  for start in range(0, len(images), batch_size):
    chunk = images[start:start + batch_size]
    n = len(chunk)
    if n < batch_size:
      chunk = np.concatenate([chunk, np.zeros((batch_size - n,) + chunk.shape[1:], np.uint8)])
    out.append(np.asarray(feature_fn(chunk), np.float64)[:n])
  return np.concatenate(out)

"""Sharpness and cleanliness of the EMA generator's samples next to the real images' values:
high-frequency energy (grain, checkerboard), edge gradient (blur) and flatness (flat colour
regions), from vid_jax.metrics.sharpness. Needs no feature space."""
from __future__ import annotations

import jax
import numpy as np

from vid_jax.evaluators.context import Context
from vid_jax.evaluators.fid import SampleFn
from vid_jax.metrics import features as features_lib
from vid_jax.metrics import sharpness as sharpness_lib

PREFIX = "sharpness"


def sample_images(sample_fn: SampleFn, variables, *, key, num_samples: int, batch_size: int) -> np.ndarray:
  """uint8 [num_samples, R, R, 3] samples rounded as saved PNGs; batch i is drawn with
  `fold_in(key, i)`, so they are the samples the FID evaluators score."""
  out = []
  for i in range(-(-num_samples // batch_size)):
    images, _ = sample_fn(variables, jax.random.fold_in(key, i), batch_size)
    out.append(np.asarray(features_lib.to_uint8(images)))
  return np.concatenate(out)[:num_samples]


class SharpnessEvaluator:
  """`sharpness/<figure>` of samples, `sharpness/<figure>_real` of the reference images
  (computed once) and `sharpness/<figure>_ratio` (samples / real), for each figure of
  `sharpness_lib.sharpness_metrics`: hf_energy, edge_gradient, flatness.

  Args:
    sample_fn: (variables, key, n) -> (images, attributes or None) (inference.make_sample_fn).
    real_images: uint8 [n, H, W, 3], the reference images.
    num_samples: generated images per evaluation.
    batch_size: images per call.
    key: sampling key.
  """

  name = PREFIX

  def __init__(self, *, sample_fn: SampleFn, real_images, num_samples: int, batch_size: int, key):
    self.sample_fn = sample_fn
    self.num_samples, self.batch_size = int(num_samples), int(batch_size)
    self.key = key
    self.real = sharpness_lib.sharpness_metrics(real_images)

  def __call__(self, variables) -> dict[str, float]:
    images = sample_images(self.sample_fn, variables, key=self.key, num_samples=self.num_samples,
                           batch_size=self.batch_size)
    out = {}
    for name, value in sharpness_lib.sharpness_metrics(images).items():
      real = self.real[name]
      out[f"{PREFIX}/{name}"] = value
      out[f"{PREFIX}/{name}_real"] = real
      if real > 0:  # 0 only for flat real images; no ratio then rather than inf
        out[f"{PREFIX}/{name}_ratio"] = value / real
    return out


def make(ctx: Context) -> SharpnessEvaluator:
  """For every run: it needs only the generator and the real images."""
  return SharpnessEvaluator(sample_fn=ctx.sample_fn, real_images=ctx.real_images.reference,
                            num_samples=ctx.num_samples, batch_size=ctx.batch_size, key=ctx.key)

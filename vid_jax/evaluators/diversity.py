"""Same-attribute diversity: how much a conditional G's samples differ when only z differs,
next to the same measure on real images that share their attributes."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax import inference
from vid_jax.data.attributes import ATTRIBUTE_INDEX, exclusive_columns
from vid_jax.evaluators.context import Context
from vid_jax.metrics import diversity as diversity_lib
from vid_jax.metrics import features as features_lib

_FOLD = 2**31 - 1  # fold_in constant of the diversity latents (apart from sample batch i's keys)


def same_attribute_diversity(generate_fn: Callable[[jax.Array, jax.Array], jax.Array], attrs, key, *,
                             per_condition: int = diversity_lib.PER_CONDITION,
                             batch_size: int = 100) -> float:
  """How much a conditional G's samples differ when only z differs.

  Args:
    generate_fn: (key, attributes float [n, A]) -> images float [n, R, R, 3] in [-1, 1], with
      fresh latents drawn from the key.
    attrs: [C, A] attribute vectors (the conditions).
    key: PRNG key.
    per_condition: samples per attribute vector (>= 2).
    batch_size: images per call (rounded to whole conditions).

  Returns:
    The mean over conditions of `pairwise_rms` of its samples, each quantised to uint8 like
    every evaluated sample. 0 when G ignores z; compare with `real_same_attribute_diversity`.
  """
  attrs = np.asarray(attrs, np.float32)
  rows = np.repeat(attrs, per_condition, axis=0)
  step = max(1, batch_size // per_condition) * per_condition
  padded = np.concatenate([rows, np.zeros((-len(rows) % step, rows.shape[1]), np.float32)])  # one shape
  batches = (generate_fn(jax.random.fold_in(key, s), jnp.asarray(padded[s:s + step]))
             for s in range(0, len(padded), step))
  images = np.concatenate([np.asarray(features_lib.to_uint8(b)) for b in batches])[:len(rows)]
  return diversity_lib.grouped_pairwise_rms(images, len(attrs))


class DiversityEvaluator:
  """`diversity/same_attributes` over the attribute vectors of the first sample batches (the
  requests the other evaluators' samples were made for, up to diversity.CONDITIONS), and
  `diversity/same_attributes_real` when the real images' attributes are given.

  Args:
    generate_fn: (variables, key, attributes [n, A]) -> images (inference.make_generate_fn).
    z_dim, marginals, truncation: the sampler's (inference.sample_inputs).
    num_samples, batch_size, key: the sample batches whose attributes are the conditions.
    real_diversity: `real_same_attribute_diversity` of the reference images, or None.
  """

  name = "diversity"

  def __init__(self, *, generate_fn, z_dim: int, marginals, truncation: float, num_samples: int,
               batch_size: int, key, real_diversity: float | None, exclusive=()):
    self.generate_fn = generate_fn
    self.batch_size = int(batch_size)
    self.key = key
    self.real_diversity = real_diversity
    batches = [
        inference.sample_inputs(jax.random.fold_in(key, i), self.batch_size, z_dim=z_dim, marginals=marginals,
                                exclusive=exclusive, truncation=truncation)[1]
        for i in range(-(-int(num_samples) // self.batch_size))
    ]
    self.conditions = np.concatenate([np.asarray(b) for b in batches])[:diversity_lib.CONDITIONS]

  def __call__(self, variables) -> dict[str, float]:
    out = {
        "diversity/same_attributes":
            same_attribute_diversity(lambda k, a: self.generate_fn(variables, k, a), self.conditions,
                                     jax.random.fold_in(self.key, _FOLD), batch_size=self.batch_size)
    }
    if self.real_diversity is not None:
      out["diversity/same_attributes_real"] = self.real_diversity
    return out


def make(ctx: Context) -> DiversityEvaluator | None:
  """For conditional runs."""
  names = ctx.attribute_names
  if not names:
    return None
  real = ctx.real_images
  real_diversity = diversity_lib.real_same_attribute_diversity(
      real.reference,
      np.asarray(real.attributes, bool)[:, [ATTRIBUTE_INDEX[a] for a in names]])
  return DiversityEvaluator(generate_fn=ctx.generate_fn, z_dim=ctx.z_dim, marginals=ctx.marginals,
                            exclusive=exclusive_columns(names), truncation=ctx.truncation,
                            num_samples=ctx.num_samples, batch_size=ctx.batch_size, key=ctx.key,
                            real_diversity=real_diversity)

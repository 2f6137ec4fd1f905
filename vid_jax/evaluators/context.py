"""What a run's evaluators are built from: its config, its EMA generator's sampler, the real
images samples are compared with, and the feature extractors (each loaded once, when needed).

Real images come from `reference_source`: for `avatars`, fresh avatars of another dataset seed
(held out: the GAN never saw them); for other sources, random images of the training source.
Two disjoint real sets of the same size (`real_image_sets`) give the reference and the
`*_real_vs_real` baseline: the floor of what samples can reach at that N.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import numpy as np

from vid_jax import data as data_lib
from vid_jax import inference
from vid_jax.data.attributes import exclusive_columns
from vid_jax.errors import UserError
from vid_jax.metrics import inception as inception_lib
from vid_jax.models import classifier as classifier_lib

# Avatars of seed `train.seed + HELDOUT_SEED_OFFSET` are the held-out real set.
HELDOUT_SEED_OFFSET = 1_000_003


def reference_source(config, *, size: int, num_samples: int):
  """Real images to compare `num_samples` samples with (see the module docstring)."""
  d = config.data
  if d.source == "avatars":
    return data_lib.make_source("avatars", size=size, seed=config.train.seed + HELDOUT_SEED_OFFSET,
                                num_examples=max(2 * num_samples, 4))
  return data_lib.make_source(d.source, size=size, seed=config.train.seed, on_bad_file=d.on_bad_file,
                              num_examples=d.num_examples or None, cache_dir=d.cache_dir or None)


@dataclasses.dataclass(frozen=True)
class RealImages:
  """Two disjoint random sets of real images of the same size n.

  Attributes:
    reference: uint8 [n, H, W, 3], what samples are compared with.
    baseline: uint8 [n, H, W, 3], compared with `reference` for the real-vs-real floor.
    attributes: bool [n, 40], the CelebA attributes of `reference`.
  """
  reference: np.ndarray
  baseline: np.ndarray
  attributes: np.ndarray


def real_image_sets(source, num_samples: int, *, seed: int = 0) -> RealImages:
  """`num_samples` images each (or half the source when it is smaller), drawn with `seed`."""
  n = min(num_samples, len(source) // 2)
  if n < 2:
    raise UserError(f"{source!r} has {len(source)} images; evaluation needs at least 4")
  idx = np.random.default_rng(seed).permutation(len(source))[:2 * n]
  ref = source.get_batch(np.sort(idx[:n]))
  base = source.get_batch(np.sort(idx[n:]))["image"]
  return RealImages(reference=ref["image"], baseline=base, attributes=ref["attributes"])


@dataclasses.dataclass
class Context:
  """A run's evaluation set-up; the evaluator factories read what they need from it.

  Attributes:
    config: the run config; its `eval` section says what to measure and how many samples.
    generator: the run's Generator module (its EMA variables come with each call).
    attribute_names: the A conditioned attributes (empty: unconditional).
    marginals: np.float32 [A], the data's marginals the sampler draws attributes from, or None.
    seed: of the sampling key, the real-image sets and KID's subsets.
    truncation: latent truncation (0: z ~ N(0, I)).
  """
  config: Any
  generator: Any
  attribute_names: tuple[str, ...]
  marginals: Any
  seed: int
  truncation: float = 0.0

  @property
  def num_samples(self) -> int:
    return int(self.config.eval.num_samples)

  @property
  def batch_size(self) -> int:
    return int(self.config.eval.batch_size)

  @property
  def z_dim(self) -> int:
    return int(self.config.model.z_dim)

  @property
  def key(self):
    """The sampling key: the same samples at every evaluation of a run and in tools/evaluate.py."""
    return jax.random.PRNGKey(self.seed)

  @functools.cached_property
  def classifier(self):
    """The attribute classifier of eval.classifier_workdir, or None."""
    workdir = self.config.eval.classifier_workdir
    return classifier_lib.load_classifier(workdir) if workdir else None

  @functools.cached_property
  def inception(self):
    """pytorch-fid's Inception from eval.inception, or None."""
    path = self.config.eval.inception
    return inception_lib.load_inception(path) if path else None

  @functools.cached_property
  def real_images(self) -> RealImages:
    source = reference_source(self.config, size=self.config.model.resolution, num_samples=self.num_samples)
    return real_image_sets(source, self.num_samples, seed=self.seed)

  @functools.cached_property
  def sample_fn(self):
    """(variables, key, n) -> (images [n, R, R, 3], attributes [n, A] or None)."""
    return inference.make_sample_fn(self.generator, z_dim=self.z_dim, marginals=self.marginals,
                                    exclusive=exclusive_columns(self.attribute_names),
                                    truncation=self.truncation)

  @functools.cached_property
  def generate_fn(self):
    """(variables, key, attributes [n, A]) -> images [n, R, R, 3] on fresh latents."""
    return inference.make_generate_fn(self.generator, z_dim=self.z_dim, truncation=self.truncation)

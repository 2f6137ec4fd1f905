"""FID / KID of the EMA generator's samples against real images, in one feature space.

Feature spaces (the prefix of every metric name):

* `domain`: the attribute classifier's feature vector (vid_jax.models.classifier); numbers
  are only comparable between runs evaluated with the same classifier checkpoint.
* `inception_pytorch_fid`: pool3 of pytorch-fid's FID InceptionV3, only when its converted
  weights are given (`eval.inception`); the only space comparable with published FIDs (at
  equal sample counts: FID is biased upwards at small N).

Generated images are quantised to uint8 exactly like saved PNGs before any feature extractor
sees them, so both sides go through the same preprocessing.
"""
from __future__ import annotations

import os
from typing import Callable

import jax
import numpy as np

from vid_jax import paths
from vid_jax.evaluators.context import Context
from vid_jax.metrics import features as features_lib
from vid_jax.metrics import fid as fid_lib

DOMAIN = "domain"
INCEPTION = "inception_pytorch_fid"

# (variables, key, n) -> (images float [n, R, R, 3] in [-1, 1], attributes [n, A] or None)
SampleFn = Callable[..., tuple[jax.Array, jax.Array | None]]


def sample_features(sample_fn: SampleFn, variables, feature_fn, *, key, num_samples: int,
                    batch_size: int) -> np.ndarray:
  """Features float64 [num_samples, D] of samples; batch i is drawn with `fold_in(key, i)`."""
  out = []
  for i in range(-(-num_samples // batch_size)):
    images, _ = sample_fn(variables, jax.random.fold_in(key, i), batch_size)
    # On the host: feature extractors may live on other devices than the generator.
    images = np.asarray(features_lib.to_uint8(images))
    out.append(np.asarray(feature_fn(images), np.float64))
  return np.concatenate(out)[:num_samples]


class FidEvaluator:
  """FID / KID of samples in one feature space; the real features are computed once.

  Args:
    space: the metric prefix (DOMAIN or INCEPTION).
    feature_fn: uint8 [B, H, W, 3] -> features [B, D].
    sample_fn: (variables, key, n) -> (images, attributes or None), see `SampleFn`.
    real_images: reference and baseline real images (context.RealImages).
    num_samples: generated images per evaluation.
    batch_size: images per call.
    key: sampling key.
    seed: KID subset seed.
    provenance: what tools/evaluate.py reports about the space (weights, comparability).
    kid_num_subsets: KID subsets; the subset size is `default_kid_subset_size`.
  """

  def __init__(self, *, space: str, feature_fn, sample_fn: SampleFn, real_images, num_samples: int,
               batch_size: int, key, seed: int, provenance: dict, kid_num_subsets: int = 100):
    self.name = space
    self.feature_fn = feature_fn
    self.sample_fn = sample_fn
    self.num_samples, self.batch_size = int(num_samples), int(batch_size)
    self.key, self.seed, self.kid_num_subsets = key, seed, kid_num_subsets
    self.provenance = provenance
    self.real = features_lib.compute_features(feature_fn, real_images.reference, batch_size=batch_size)
    base = features_lib.compute_features(feature_fn, real_images.baseline, batch_size=batch_size)
    self.baseline = {f"{space}/{k}_real_vs_real": v for k, v in self._metrics(base).items()}

  def _metrics(self, fake) -> dict[str, float]:
    subset = fid_lib.default_kid_subset_size(min(len(fake), len(self.real)))
    return fid_lib.fid_kid(fake, self.real, kid_subset_size=subset, kid_num_subsets=self.kid_num_subsets,
                           seed=self.seed)

  def __call__(self, variables) -> dict[str, float]:
    """The EMA generator's variables -> {"<space>/fid", "<space>/kid_mean", "<space>/kid_std",
    and the "<space>/*_real_vs_real" baselines}."""
    fake = sample_features(self.sample_fn, variables, self.feature_fn, key=self.key,
                           num_samples=self.num_samples, batch_size=self.batch_size)
    return {**{f"{self.name}/{k}": v for k, v in self._metrics(fake).items()}, **self.baseline}


def _fid(ctx: Context, space: str, feature_fn, provenance: dict) -> FidEvaluator:
  return FidEvaluator(space=space, feature_fn=feature_fn, sample_fn=ctx.sample_fn,
                      real_images=ctx.real_images, num_samples=ctx.num_samples, batch_size=ctx.batch_size,
                      key=ctx.key, seed=ctx.seed, provenance=provenance)


def domain(ctx: Context) -> FidEvaluator | None:
  """FID / KID in the attribute classifier's feature space (with eval.classifier_workdir)."""
  if ctx.classifier is None:
    return None
  return _fid(ctx, DOMAIN, ctx.classifier.features, {
      "classifier_workdir": paths.absolute(ctx.config.eval.classifier_workdir),
      "comparable_to_published": False
  })


def inception(ctx: Context) -> FidEvaluator | None:
  """FID / KID in pytorch-fid's Inception pool3 space (with eval.inception)."""
  inc = ctx.inception
  if inc is None:
    return None
  return _fid(
      ctx,
      INCEPTION,
      inc.features,
      {
          "weights": os.path.abspath(ctx.config.eval.inception),
          "source_sha256": inc.source_sha256,
          # True only for weights converted from pytorch-fid's release file (and then only at
          # equal sample counts); None when the .npz does not say.
          "comparable_to_published": True if inc.is_pytorch_fid_release else None
      })

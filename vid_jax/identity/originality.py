"""Originality: how near is a generated avatar to its nearest training image?

A GAN can reproduce training images (a copyright worry for a product that hands avatars out).
Each avatar's distance to its nearest training image, in the attribute classifier's feature
space (or in downsampled pixels without a classifier), is set next to the typical distance
between a real image and its nearest other real image; an avatar much nearer than that
(`near_copy_mask`, by default under half the typical distance) is a near-copy, and the designer
draws it again. docs/identity.md, "Originality".

  refs = reference_set(config, classifier=classifier, num=4000)  # the run's training images
  report = originality(refs, avatars)  # {"distance", "nearest", "typical", "relative", "near_copy"}
  # or, step by step: nearest_distances(refs.feature_fn(avatars), refs.features) and
  # near_copy_mask(dist, refs.typical)
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax import data as data_lib
from vid_jax import train as train_lib
from vid_jax.errors import UserError
from vid_jax.metrics import features as eval_lib
from vid_jax.models import classifier as classifier_lib

PIXEL_SIZE = 16  # the pixel feature space: images area-downsampled to 16x16x3 (768 numbers)
# Nearer a training image than this fraction of the typical real-to-real nearest distance is a
# near-copy. Measured (docs/identity.md): in pixels, fresh avatars sit at 0.73-1.30 of it and a
# training avatar shifted by one pixel at 0.32.
NEAR_COPY_RATIO = 0.5
CLASSIFIER, PIXELS = "classifier", "pixels"  # the feature spaces
FeatureFn = Callable[[jax.Array], jax.Array]  # images [B, H, W, 3] (uint8 or [-1, 1]) -> [B, F]


@functools.partial(jax.jit, static_argnames=("chunk",))
def _nearest(queries, references, exclude, *, chunk: int):
  n, f = queries.shape
  m = references.shape[0]
  refs = jnp.pad(references, ((0, (-m) % chunk), (0, 0))).reshape(-1, chunk, f)  # [C, chunk, F]
  starts = jnp.arange(refs.shape[0]) * chunk
  q2 = jnp.sum(jnp.square(queries), -1)  # [N]

  def body(carry, inputs):
    best_d2, best_i = carry
    r, start = inputs
    d2 = (q2[:, None] + jnp.sum(jnp.square(r), -1)[None, :] -
          2.0 * jnp.matmul(queries, r.T, precision=jax.lax.Precision.HIGHEST))  # [N, chunk]
    idx = start + jnp.arange(chunk)
    d2 = jnp.where((idx[None, :] >= m) | (idx[None, :] == exclude[:, None]), jnp.inf, d2)
    j = jnp.argmin(d2, axis=1)
    d2j = jnp.take_along_axis(d2, j[:, None], axis=1)[:, 0]
    better = d2j < best_d2  # ties keep the earlier index, as argmin over all would
    return (jnp.where(better, d2j, best_d2), jnp.where(better, idx[j], best_i)), None

  init = (jnp.full((n,), jnp.inf, queries.dtype), jnp.zeros((n,), jnp.int32))
  (_, index), _ = jax.lax.scan(body, init, (refs, starts))
  # The expansion |q|^2 + |r|^2 - 2 q.r loses digits for near-equal vectors (a copy would read
  # ~1e-3, not 0): the reported distance is recomputed directly for the chosen neighbour.
  dist = jnp.sqrt(jnp.sum(jnp.square(queries - references[index]), -1))
  return dist, index


def nearest_distances(queries, references, *, chunk: int = 1024, exclude=None):
  """Euclidean distance from each query to its nearest reference (references in chunks, so
  memory stays [N, chunk] whatever M is).

  Args:
    queries: [N, F] features.
    references: [M, F] features.
    chunk: references compared per step of the lax.scan.
    exclude: optional [N] int: for query i, reference exclude[i] is skipped (-1 = none);
      used for real-to-real distances, where a query's nearest reference is itself.

  Returns:
    (dist [N] float32, index [N] int32 into references).
  """
  queries = jnp.asarray(queries, jnp.float32)
  references = jnp.asarray(references, jnp.float32)
  if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1]:
    raise UserError(f"need queries [N, F] and references [M, F]; got {queries.shape} and "
                    f"{references.shape}")
  if references.shape[0] < 1 or chunk < 1:
    raise UserError("need at least one reference and chunk >= 1")
  exclude = (jnp.full(
      (queries.shape[0],), -1, jnp.int32) if exclude is None else jnp.asarray(exclude, jnp.int32))
  return _nearest(queries, references, exclude, chunk=min(chunk, references.shape[0]))


def typical_real_distance(references, *, num: int = 512, chunk: int = 1024) -> float:
  """Median distance from a real image to its nearest other real image.

  Queries are `num` references spread evenly over the set (deterministic), each compared with
  all the others, so the figure matches what a generated image meets: M references.

  Args:
    references: [M, F] features, M >= 2.
    num: queries (all references when M <= num).
    chunk: see nearest_distances.
  """
  m = np.shape(references)[0]
  if m < 2:
    raise UserError(f"typical_real_distance needs >= 2 references; got {m}")
  idx = np.unique(np.linspace(0, m - 1, min(num, m)).round().astype(np.int32))
  dist, _ = nearest_distances(jnp.asarray(references)[idx], references, chunk=chunk, exclude=idx)
  return float(jnp.median(dist))


def near_copy_mask(dist, typical: float, *, ratio: float = NEAR_COPY_RATIO):
  """bool [N]: dist [N] below ratio x the typical real-to-real nearest distance."""
  if not ratio > 0:
    raise UserError(f"near-copy ratio must be > 0; got {ratio}")
  return jnp.asarray(dist) < ratio * typical


# ----------------------------------------------------------------------------
# Feature spaces and the reference set.


@functools.partial(jax.jit, static_argnames=("size",))
def pixel_features(images, *, size: int = PIXEL_SIZE):
  """images [B, H, W, 3] (uint8, or float in [-1, 1]) -> [B, size * size * 3]: area-downsampled
  pixels in [-1, 1] (small shifts of a copy stay near, noise averages out)."""
  x = classifier_lib.images_to_float(images, size)
  return x.reshape(x.shape[0], -1)


def feature_fn(classifier=None, *, pixel_size: int = PIXEL_SIZE) -> tuple[str, FeatureFn]:
  """(space name, images -> features): the classifier's penultimate features ("classifier": the
  domain FID space, unit RMS over real images) when a classifier
  (vid_jax.models.classifier.Classifier) is given, else downsampled pixels ("pixels")."""
  if classifier is not None:
    return CLASSIFIER, classifier.features
  if pixel_size == PIXEL_SIZE:
    return PIXELS, pixel_features
  return PIXELS, functools.partial(pixel_features, size=pixel_size)


@dataclasses.dataclass(frozen=True)
class ReferenceSet:
  """Training images' features and their typical nearest-neighbour distance.

  Attributes:
    features: float32 [M, F].
    typical: median real-to-real nearest distance (typical_real_distance).
    space: "classifier" (the classifier's features) or "pixels".
    feature_fn: images [B, H, W, 3] (uint8 or [-1, 1]) -> [B, F], the same map.
  """
  features: np.ndarray
  typical: float
  space: str
  feature_fn: FeatureFn


def training_images(config, *, num: int | None = None) -> np.ndarray:
  """uint8 [M, R, R, 3]: the first `num` (default all) images the run of `config` trained on.

  For built-in avatars whose prepared cache is missing here, the same images are rendered
  (they are a pure function of the data seed and index).
  """
  try:
    source = train_lib.make_source(config)
  except UserError:
    if config.data.source != "avatars" or not config.data.cache_dir:
      raise
    source = data_lib.make_source("avatars", size=config.model.resolution, seed=config.data.seed,
                                  num_examples=config.data.num_examples or None)
  m = len(source) if num is None else min(num, len(source))
  return source.get_batch(np.arange(m))["image"]


def reference_set(config, *, classifier=None, num: int | None = None, pixel_size: int = PIXEL_SIZE,
                  num_typical: int = 512, batch_size: int = 256) -> ReferenceSet:
  """The ReferenceSet of the first `num` (default all) images the run of `config` trained on
  (training_images), in the classifier's feature space if one is given, else in pixels."""
  return reference_set_from_images(training_images(config, num=num), classifier=classifier,
                                   pixel_size=pixel_size, num_typical=num_typical, batch_size=batch_size)


def reference_set_from_images(images, *, classifier=None, pixel_size: int = PIXEL_SIZE,
                              num_typical: int = 512, batch_size: int = 256) -> ReferenceSet:
  """Features of training images uint8 [M, H, W, 3] and their typical nearest distance."""
  images = np.asarray(images)
  if images.dtype != np.uint8 or images.ndim != 4 or len(images) < 2:
    raise UserError(f"reference images must be uint8 [M >= 2, H, W, 3]; got {images.dtype} "
                    f"{images.shape}")
  space, fn = feature_fn(classifier, pixel_size=pixel_size)
  feats = eval_lib.compute_features(fn, images, batch_size=batch_size).astype(np.float32)
  return ReferenceSet(features=feats, typical=typical_real_distance(feats, num=num_typical), space=space,
                      feature_fn=fn)


def originality(refs: ReferenceSet, images, *, ratio: float = NEAR_COPY_RATIO) -> dict:
  """Each image's nearest training image, next to the typical real-to-real distance.

  Args:
    refs: the training images' ReferenceSet.
    images: [N, H, W, 3] avatars, float in [-1, 1] (quantised to uint8 first, as saved) or uint8.
    ratio: near-copy threshold as a fraction of refs.typical.

  Returns:
    {"distance": [N], "nearest": [N] index into the training images, "typical": float,
    "relative": [N] distance / typical, "near_copy": bool [N]} (numpy).
  """
  images = jnp.asarray(images)
  if images.dtype != jnp.uint8:
    images = eval_lib.to_uint8(images)
  dist, index = nearest_distances(refs.feature_fn(images), refs.features)
  return {
      "distance": np.asarray(dist),
      "nearest": np.asarray(index),
      "typical": refs.typical,
      "relative": np.asarray(dist) / max(refs.typical, 1e-12),
      "near_copy": np.asarray(near_copy_mask(dist, refs.typical, ratio=ratio))
  }

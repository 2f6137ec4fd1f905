"""Generator evaluation: FID / KID in feature spaces, attribute accuracy of conditioned samples.

Used every `train.eval_every` steps during training (`evaluate_in_training`)
and by `tools/evaluate.py` for a finished run (`evaluate_workdir`).

Feature spaces (the prefix of every metric name):

* `domain`: the attribute classifier's feature vector (vid_jax.models.classifier),
  always available once a classifier is trained; numbers are only comparable
  between runs evaluated with the same classifier checkpoint.
* `inception_pytorch_fid`: pool3 of pytorch-fid's FID InceptionV3, only when
  its converted weights are given (`eval.inception` / `--inception`); the only
  space comparable with published FIDs (at equal sample counts: FID is biased
  upwards at small N).

Generated images are quantised to uint8 exactly like saved PNGs before any
feature extractor sees them, so both sides go through the same preprocessing.
Real images come from `reference_source`: for `avatars`, fresh avatars of
another dataset seed (held out: the GAN never saw them); for other sources,
random images of the training source. The `*_real_vs_real` metrics compare two
disjoint real sets of the same size: the floor of what samples can reach at
that N.
"""
from __future__ import annotations

import functools
import os
import weakref
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax import data as data_lib
from vid_jax import inference
from vid_jax.data import attributes as attributes_lib
from vid_jax.data.attributes import ATTRIBUTE_INDEX
from vid_jax.errors import UserError
from vid_jax.metrics import fid as fid_lib
from vid_jax.metrics import inception as inception_lib
from vid_jax.models import classifier as classifier_lib

DOMAIN = "domain"
INCEPTION = "inception_pytorch_fid"
# Avatars of seed `train.seed + HELDOUT_SEED_OFFSET` are the held-out real set.
HELDOUT_SEED_OFFSET = 1_000_003

FeatureFn = Callable[[jax.Array], jax.Array]  # uint8 [B, H, W, 3] -> [B, D]
GenerateFn = Callable[[jax.Array, int], jax.Array]  # (key, n) -> float [n, R, R, 3] in [-1, 1]
# (key, n) -> (images float [n, R, R, 3] in [-1, 1], requested attributes [n, A] in {0, 1} or None)
SampleFn = Callable[[jax.Array, int], tuple[jax.Array, jax.Array | None]]


@jax.jit
def to_uint8(images):
  """float [-1, 1] -> uint8, rounded as when saving a PNG (jittable)."""
  return jnp.clip(jnp.round((images + 1.0) * 127.5), 0, 255).astype(jnp.uint8)


def domain_feature_fn(classifier) -> FeatureFn:
  """Classifier features of uint8 images: [B, H, W, 3] -> [B, feature_dim] (compiled once)."""
  return classifier.features


def inception_feature_fn(inception) -> FeatureFn:
  """pytorch-fid pool3 features of uint8 images: [B, H, W, 3] -> [B, 2048] (compiled once)."""
  return inception.features


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


def fid_kid(features_a, features_b, *, kid_subset_size: int = 1000,
            kid_num_subsets: int = 100, seed: int = 0) -> dict[str, float]:
  """{"fid", "kid_mean", "kid_std"} between two feature sets (float64)."""
  mean, std = fid_lib.kid(features_a, features_b, num_subsets=kid_num_subsets,
                          subset_size=kid_subset_size, seed=seed)
  return {"fid": fid_lib.fid_from_features(features_a, features_b), "kid_mean": mean,
          "kid_std": std}


def default_kid_subset_size(n: int) -> int:
  # Half the smaller set (at most 1000): subsets of the whole set would all be
  # the same and report std 0. KID is unbiased, so this changes only its variance.
  return max(2, min(1000, n // 2))


def evaluate_generator(generate_fn: GenerateFn, real_images_uint8, feature_fn: FeatureFn, *,
                       num_samples: int, batch_size: int, key,
                       kid_subset_size: int | None = None,
                       kid_num_subsets: int = 100) -> dict[str, float]:
  """FID and KID of `num_samples` generated images against real images in one feature space.

  Args:
    generate_fn: (key, n) -> images float [n, R, R, 3] in [-1, 1]; called with
      n = batch_size and keys `fold_in(key, i)`.
    real_images_uint8: uint8 [N, H, W, 3] real images.
    feature_fn: uint8 [B, H, W, 3] -> features [B, D] (e.g. `domain_feature_fn`).
    num_samples: generated images (rounded up to whole batches, then cut).
    batch_size: images per generate / feature call.
    key: PRNG key.
    kid_subset_size: KID subset size (default: half the smaller set, <= 1000).
    kid_num_subsets: KID subsets.

  Returns:
    {"fid": float, "kid_mean": float, "kid_std": float}.
  """
  real = compute_features(feature_fn, real_images_uint8, batch_size=batch_size)
  fake = []
  for i in range(-(-num_samples // batch_size)):
    images = np.asarray(to_uint8(generate_fn(jax.random.fold_in(key, i), batch_size)))
    fake.append(np.asarray(feature_fn(images), np.float64))
  fake = np.concatenate(fake)[:num_samples]
  subset = kid_subset_size or default_kid_subset_size(min(len(real), len(fake)))
  return fid_kid(fake, real, kid_subset_size=subset, kid_num_subsets=kid_num_subsets)


def attribute_agreement(predicted, requested, attribute_names: Sequence[str]) -> dict[str, float]:
  """How often predicted attributes match the requested ones.

  Args:
    predicted: bool [N, A] classifier decisions.
    requested: bool [N, A] requested attributes.
    attribute_names: the A names.

  Returns:
    "attr_acc/<name>": fraction of samples where prediction == request;
    "attr_present/<name>": among samples requesting <name>, the fraction where
      the classifier finds it (omitted when none requested it);
    "attr_acc/mean" and "attr_present/mean": means over attributes.
  """
  predicted = np.asarray(predicted, bool)
  requested = np.asarray(requested, bool)
  if predicted.shape != requested.shape or predicted.shape[1] != len(attribute_names):
    raise ValueError(f"predicted {predicted.shape} and requested {requested.shape} must both be "
                     f"[N, {len(attribute_names)}]")
  out = {}
  acc = (predicted == requested).mean(axis=0)
  present = []
  for j, name in enumerate(attribute_names):
    out[f"attr_acc/{name}"] = float(acc[j])
    asked = requested[:, j]
    if asked.any():
      out[f"attr_present/{name}"] = float(predicted[asked, j].mean())
      present.append(out[f"attr_present/{name}"])
  out["attr_acc/mean"] = float(acc.mean())
  if present:
    out["attr_present/mean"] = float(np.mean(present))
  return out


def _classifier_columns(classifier, attribute_names: Sequence[str]) -> list[int]:
  missing = [a for a in attribute_names if a not in classifier.attribute_names]
  if missing:
    raise UserError(f"the attribute classifier has no output for {missing}; it knows "
                    f"{', '.join(classifier.attribute_names)}")
  return [classifier.attribute_names.index(a) for a in attribute_names]


def attribute_accuracy(classifier, images, requested_attrs, attribute_names: Sequence[str]
                       ) -> dict[str, float]:
  """Agreement of the classifier with requested attributes of conditioned samples.

  Args:
    classifier: a `vid_jax.models.classifier.Classifier`.
    images: [B, H, W, 3], uint8 or float in [-1, 1].
    requested_attrs: bool (or {0, 1}) [B, A], the attributes the samples were generated with.
    attribute_names: the A names of the columns of `requested_attrs`.

  Returns:
    See `attribute_agreement`.
  """
  cols = _classifier_columns(classifier, attribute_names)
  predicted = np.asarray(classifier.logits(images))[:, cols] > 0
  return attribute_agreement(predicted, np.asarray(requested_attrs) > 0.5, attribute_names)


# Diversity among samples that share their attributes: DIVERSITY_PER_CONDITION latents for each
# of the first DIVERSITY_CONDITIONS requested attribute vectors.
DIVERSITY_CONDITIONS = 64
DIVERSITY_PER_CONDITION = 8
_DIVERSITY_FOLD = 2**31 - 1  # fold_in constant of the diversity latents (apart from batch i's keys)


def pairwise_rms(images) -> float:
  """Mean over all pairs of images of their RMS difference on the [-1, 1] scale.

  Args:
    images: uint8 [k, H, W, 3] (read as x / 127.5 - 1) or float [k, H, W, 3] in [-1, 1]; k >= 2.
  """
  x = np.asarray(images)
  x = (x.astype(np.float64) / 127.5 - 1.0) if x.dtype == np.uint8 else x.astype(np.float64)
  if len(x) < 2:
    raise ValueError(f"pairwise_rms needs at least 2 images, got {len(x)}")
  x = x.reshape(len(x), -1)
  i, j = np.triu_indices(len(x), 1)
  return float(np.mean(np.sqrt(np.mean((x[i] - x[j]) ** 2, axis=1))))


def same_attribute_diversity(generate_fn: Callable[[jax.Array, jax.Array], jax.Array], attrs, key, *,
                             per_condition: int = DIVERSITY_PER_CONDITION,
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
  images = np.concatenate([np.asarray(to_uint8(generate_fn(jax.random.fold_in(key, s), jnp.asarray(padded[s:s + step]))))
                           for s in range(0, len(padded), step)])[:len(rows)]
  groups = images.reshape((len(attrs), per_condition) + images.shape[1:])
  return float(np.mean([pairwise_rms(g) for g in groups]))


def real_same_attribute_diversity(images_uint8, attrs, *, per_condition: int = DIVERSITY_PER_CONDITION,
                                  max_conditions: int = DIVERSITY_CONDITIONS) -> float | None:
  """`same_attribute_diversity`'s reference: real images that share every attribute value.

  Groups the images by their attribute vector ([N, A], the run's attributes) and averages
  `pairwise_rms` over up to `max_conditions` groups with >= 2 images (the largest first; at most
  `per_condition` images each). None when no two images share their attributes.
  """
  attrs = np.asarray(attrs) > 0.5
  _, inverse, counts = np.unique(attrs, axis=0, return_inverse=True, return_counts=True)
  inverse = inverse.reshape(-1)
  groups = [g for g in np.argsort(-counts, kind="stable")[:max_conditions] if counts[g] >= 2]
  if not groups:
    return None
  images = np.asarray(images_uint8)
  return float(np.mean([pairwise_rms(images[np.flatnonzero(inverse == g)[:per_condition]])
                        for g in groups]))


DEGRADATIONS = (("clean", 0.0, 0.0), ("blur_0.7", 0.7, 0.0), ("blur_1.0", 1.0, 0.0),
                ("blur_1.5", 1.5, 0.0), ("noise_0.1", 0.0, 0.1), ("noise_0.2", 0.0, 0.2))


def attribute_robustness(classifier, images_uint8, attrs, attribute_names: Sequence[str], *,
                         degradations=DEGRADATIONS, seed: int = 0, batch_size: int = 250
                         ) -> dict[str, dict[str, float]]:
  """How the classifier's reading of real images' attributes survives blur and noise.

  A classifier that judges GAN samples should read their attributes, not their softness: this
  measures its `attribute_agreement` on labelled real images, degraded by each of
  `degradations` ((name, Gaussian blur sigma in px at the images' size, noise std on the
  [-1, 1] scale), the blur of the classifier's training augmentation).

  Returns:
    {degradation name: attribute_agreement(...)} ("attr_present/<name>" is the recall).
  """
  cols = _classifier_columns(classifier, attribute_names)
  labels = np.asarray(attrs) > 0.5
  x_all = np.asarray(images_uint8, np.float32) / 127.5 - 1.0
  rng = np.random.default_rng(seed)
  out = {}
  for name, sigma, noise in degradations:
    predicted = []
    for start in range(0, len(x_all), batch_size):
      x = jnp.asarray(x_all[start:start + batch_size])
      if sigma > 0:
        x = classifier_lib.gaussian_blur(x, jnp.full((x.shape[0],), sigma, jnp.float32))
      if noise > 0:
        x = jnp.clip(x + noise * rng.standard_normal(x.shape, np.float32), -1.0, 1.0)
      predicted.append(np.asarray(classifier.logits(x))[:, cols] > 0)
    out[name] = attribute_agreement(np.concatenate(predicted), labels, attribute_names)
  return out


class Evaluator:
  """Metrics of samples against fixed real images; real features are computed once.

  Args:
    real_images_uint8: uint8 [N, H, W, 3] reference images.
    feature_fns: {space name: uint8 images -> features}.
    classifier: optional attribute classifier for `attr_*` metrics.
    inception: optional `Inception` behind an `inception_pytorch_fid` space (provenance only).
    baseline_images_uint8: optional uint8 [N', H, W, 3] real images disjoint from
      `real_images_uint8`; adds `<space>/*_real_vs_real` metrics.
    real_attributes: optional bool [N, 40] CelebA attributes of `real_images_uint8`; with
      them the images are kept as the reference of the `diversity/*` metrics of conditional
      samples (without them only their features are).
    num_samples: generated images per evaluation.
    batch_size: images per call.
    kid_num_subsets: KID subsets; the subset size is `default_kid_subset_size`.
    seed: KID subset seed.
  """

  def __init__(self, *, real_images_uint8, feature_fns: Mapping[str, FeatureFn], classifier=None,
               inception=None, baseline_images_uint8=None, real_attributes=None,
               num_samples: int, batch_size: int, kid_num_subsets: int = 100, seed: int = 0):
    if not feature_fns:
      raise UserError("evaluation needs a feature space: an attribute classifier "
                      "(eval.classifier_workdir / --classifier_workdir) or Inception weights "
                      "(eval.inception / --inception)")
    if num_samples < 2:
      raise UserError(f"eval num_samples={num_samples}: need at least 2 samples")
    self.feature_fns = dict(feature_fns)
    self.classifier = classifier
    self.inception = inception
    self.num_samples = int(num_samples)
    self.batch_size = int(batch_size)
    self.kid_num_subsets = kid_num_subsets
    self.seed = seed
    self.real = {name: compute_features(fn, real_images_uint8, batch_size=batch_size)
                 for name, fn in self.feature_fns.items()}
    # The images are kept only as the diversity reference (conditional runs give the attributes).
    self.real_attributes = None if real_attributes is None else np.asarray(real_attributes, bool)
    self.real_images_uint8 = None if real_attributes is None else np.asarray(real_images_uint8)
    self._real_diversity = {}  # attribute names -> real_same_attribute_diversity
    self.baseline = {}
    if baseline_images_uint8 is not None:
      for name, fn in self.feature_fns.items():
        base = compute_features(fn, baseline_images_uint8, batch_size=batch_size)
        m = self._metrics(base, self.real[name])
        self.baseline.update({f"{name}/{k}_real_vs_real": v for k, v in m.items()})

  def _metrics(self, fake, real) -> dict[str, float]:
    subset = default_kid_subset_size(min(len(fake), len(real)))
    return fid_kid(fake, real, kid_subset_size=subset, kid_num_subsets=self.kid_num_subsets,
                   seed=self.seed)

  def __call__(self, sample_fn: SampleFn, key, *, attribute_names: Sequence[str] = (),
               generate_fn=None) -> dict[str, float]:
    """Evaluates `num_samples` samples.

    Args:
      sample_fn: (key, n) -> (images float [n, R, R, 3] in [-1, 1], requested
        attributes [n, A] or None); called with n = batch_size.
      key: PRNG key (batch i uses fold_in(key, i)).
      attribute_names: names of the A requested attributes (conditional runs).
      generate_fn: optional (key, attributes [n, A]) -> images, the same generator; with
        attribute names it adds "diversity/same_attributes" (`same_attribute_diversity` over
        the first DIVERSITY_CONDITIONS requested attribute vectors) and, when the evaluator
        has the real images' attributes, "diversity/same_attributes_real".

    Returns:
      Flat {name: float}: "<space>/fid", "<space>/kid_mean", "<space>/kid_std"
      per feature space, the real-vs-real baselines, and, for conditional
      samples with a classifier, the `attribute_agreement` metrics.
    """
    feats = {name: [] for name in self.feature_fns}
    predicted, requested = [], []
    cols = None
    if attribute_names and self.classifier is not None:
      cols = _classifier_columns(self.classifier, attribute_names)
    for i in range(-(-self.num_samples // self.batch_size)):
      images, attrs = sample_fn(jax.random.fold_in(key, i), self.batch_size)
      # On the host: feature extractors may live on other devices than the generator.
      images = np.asarray(to_uint8(images))
      for name, fn in self.feature_fns.items():
        feats[name].append(np.asarray(fn(images), np.float64))
      if attrs is not None:
        requested.append(np.asarray(attrs) > 0.5)
        if cols is not None:
          predicted.append(np.asarray(self.classifier.logits(images))[:, cols] > 0)
    n = self.num_samples
    out = {}
    for name in self.feature_fns:
      m = self._metrics(np.concatenate(feats[name])[:n], self.real[name])
      out.update({f"{name}/{k}": v for k, v in m.items()})
    out.update(self.baseline)
    if generate_fn is not None and attribute_names and requested:
      conditions = np.concatenate(requested)[:DIVERSITY_CONDITIONS]
      out["diversity/same_attributes"] = same_attribute_diversity(
          generate_fn, conditions, jax.random.fold_in(key, _DIVERSITY_FOLD), batch_size=self.batch_size)
      real = self.real_diversity(attribute_names)
      if real is not None:
        out["diversity/same_attributes_real"] = real
    if predicted:
      out.update(attribute_agreement(np.concatenate(predicted)[:n],
                                     np.concatenate(requested)[:n], attribute_names))
    return out

  def real_diversity(self, attribute_names: Sequence[str]) -> float | None:
    """`real_same_attribute_diversity` of the reference images (None without their attributes)."""
    names = tuple(attribute_names)
    if self.real_attributes is None or not names:
      return None
    if names not in self._real_diversity:
      cols = [ATTRIBUTE_INDEX[a] for a in names]
      self._real_diversity[names] = real_same_attribute_diversity(
          self.real_images_uint8, self.real_attributes[:, cols])
    return self._real_diversity[names]


# ----------------------------------------------------------------------------
# Wiring for training runs and finished workdirs.


def reference_source(config, *, size: int, num_samples: int):
  """Real images to compare `num_samples` samples with (see the module docstring)."""
  d = config.data
  if d.source == "avatars":
    return data_lib.make_source("avatars", size=size,
                                seed=config.train.seed + HELDOUT_SEED_OFFSET,
                                num_examples=max(2 * num_samples, 4))
  return data_lib.make_source(d.source, size=size, seed=config.train.seed,
                              on_bad_file=d.on_bad_file, num_examples=d.num_examples or None,
                              cache_dir=d.cache_dir or None)


def real_image_sets(source, num_samples: int, *, seed: int = 0):
  """Two disjoint random sets of real images (reference, baseline), uint8 [n, H, W, 3], and the
  reference images' attributes (bool [n, 40]).

  Each set has `num_samples` images, or half the source when it is smaller.
  """
  n = min(num_samples, len(source) // 2)
  if n < 2:
    raise UserError(f"{source!r} has {len(source)} images; evaluation needs at least 4")
  idx = np.random.default_rng(seed).permutation(len(source))[:2 * n]
  ref = source.get_batch(np.sort(idx[:n]))
  base = source.get_batch(np.sort(idx[n:]))["image"]
  return ref["image"], base, ref["attributes"]


def check_eval_config(config) -> None:
  """Cheap checks of the `eval` section before training starts (UserError per bad field)."""
  e = config.eval
  if e.num_samples < 2:
    raise UserError(f"config.eval.num_samples={e.num_samples!r}: must be >= 2")
  if e.batch_size < 1:
    raise UserError(f"config.eval.batch_size={e.batch_size!r}: must be >= 1")
  if config.train.eval_every and not (e.classifier_workdir or e.inception):
    raise UserError(
        f"config.train.eval_every={config.train.eval_every} needs a feature space: set "
        "config.eval.classifier_workdir (train one with tools/train_classifier.py) and/or "
        "config.eval.inception (a .npz from tools/convert_inception.py), or set eval_every=0")
  if e.classifier_workdir and not os.path.isdir(os.path.join(e.classifier_workdir, "checkpoints")):
    raise UserError(f"config.eval.classifier_workdir={e.classifier_workdir!r} holds no classifier "
                    "checkpoint; train one with python tools/train_classifier.py "
                    f"--config=configs/classifier_avatars.py --workdir={e.classifier_workdir}")
  if e.inception and not os.path.isfile(e.inception):
    raise UserError(f"config.eval.inception={e.inception!r} does not exist; convert pytorch-fid's "
                    "weights with tools/convert_inception.py --pth=FILE --out=FILE.npz")


def make_evaluator(config, *, classifier_workdir: str = "", inception: str = "",
                   num_samples: int, batch_size: int, resolution: int,
                   seed: int = 0) -> Evaluator:
  """An Evaluator with the run's reference images and the requested feature spaces."""
  feature_fns, classifier = {}, None
  inception_model = None
  if classifier_workdir:
    classifier = classifier_lib.load_classifier(classifier_workdir)
    feature_fns[DOMAIN] = domain_feature_fn(classifier)
  if inception:
    inception_model = inception_lib.load_inception(inception)
    feature_fns[INCEPTION] = inception_feature_fn(inception_model)
  if not feature_fns:  # before rendering any reference image
    raise UserError("evaluation needs --classifier_workdir (eval.classifier_workdir) and/or "
                    "--inception (eval.inception)")
  source = reference_source(config, size=resolution, num_samples=num_samples)
  ref, base, ref_attrs = real_image_sets(source, num_samples, seed=seed)
  if not attributes_lib.attribute_names(config):  # unconditional: no diversity reference to keep
    ref_attrs = None
  return Evaluator(real_images_uint8=ref, baseline_images_uint8=base, real_attributes=ref_attrs,
                   feature_fns=feature_fns,
                   classifier=classifier, inception=inception_model, num_samples=num_samples,
                   batch_size=batch_size, seed=seed)


def make_sample_fn(generator, *, z_dim: int, marginals=None, truncation: float = 0.0):
  """(variables, key, n) -> (images, attrs or None): z ~ N(0, I), attributes ~ Bernoulli(marginals).

  With truncation t > 0, z's coordinates are drawn from N(0, 1) restricted to [-t, t]
  (`inference.sample_latents`). Compiled once per n; the variables are arguments, so new
  weights do not recompile.
  """
  p = None if marginals is None else jnp.asarray(marginals, jnp.float32)

  @functools.partial(jax.jit, static_argnums=2)
  def sample(variables, key, n):
    k_z, k_a = jax.random.split(key)
    z = inference.sample_latents(k_z, n, z_dim, truncation)
    attrs = None if p is None else jax.random.bernoulli(k_a, p, (n, p.shape[0])).astype(jnp.float32)
    return generator.apply(variables, z, attrs, train=False), attrs

  return sample


def make_generate_fn(generator, *, z_dim: int, truncation: float = 0.0):
  """(variables, key, attributes [n, A]) -> images: G on fresh z ~ N(0, I), truncated to
  [-t, t] when truncation t > 0 (compiled per n)."""

  @jax.jit
  def generate(variables, key, attrs):
    z = inference.sample_latents(key, attrs.shape[0], z_dim, truncation)
    return generator.apply(variables, z, attrs, train=False)

  return generate


_TRAINING = weakref.WeakKeyDictionary()  # Trainer -> (Evaluator, sampler, generate or None)


def evaluate_in_training(trainer, state) -> dict[str, float]:
  """Metrics of the EMA generator of a running `vid_jax.train.Trainer` (cached set-up)."""
  config = trainer.config
  cached = _TRAINING.get(trainer)
  if cached is None:
    evaluator = make_evaluator(
        config, classifier_workdir=config.eval.classifier_workdir,
        inception=config.eval.inception, num_samples=config.eval.num_samples,
        batch_size=config.eval.batch_size, resolution=config.model.resolution,
        seed=config.train.seed)
    marginals = None
    if trainer.names:
      all_marginals = np.asarray(trainer.source.attribute_marginals(), np.float32)
      marginals = all_marginals[[ATTRIBUTE_INDEX[a] for a in trainer.names]]
    sampler = make_sample_fn(trainer.generator, z_dim=config.model.z_dim, marginals=marginals)
    generate = make_generate_fn(trainer.generator, z_dim=config.model.z_dim) if trainer.names else None
    cached = _TRAINING[trainer] = (evaluator, sampler, generate)
  evaluator, sampler, generate = cached
  variables = trainer.ema_variables(state)
  step = int(jax.device_get(state.step))
  key = jax.random.fold_in(jax.random.PRNGKey(config.train.seed + 2), step)
  generate_fn = None if generate is None else (lambda k, a: generate(variables, k, a))
  return evaluator(lambda k, n: sampler(variables, k, n), key, attribute_names=trainer.names,
                   generate_fn=generate_fn)


def evaluate_workdir(workdir: str, *, num_samples: int | None = None,
                     classifier_workdir: str | None = None, inception: str = "",
                     batch_size: int | None = None, seed: int = 0,
                     step: int | None = None, truncation: float = 0.0) -> dict:
  """Evaluates the EMA generator of a training workdir (tools/evaluate.py).

  Args:
    workdir: a launch.py workdir.
    num_samples: generated (and real) images; default the run's eval.num_samples.
    classifier_workdir: attribute classifier; default the run's eval.classifier_workdir.
    inception: pytorch-fid Inception .npz; default the run's eval.inception.
    batch_size: default the run's eval.batch_size.
    seed: sampling and KID seed.
    step: checkpoint step (default the latest).
    truncation: 0 (z ~ N(0, I), the default) or t > 0: z's coordinates restricted to [-t, t].

  Returns:
    A JSON-serialisable dict: workdir, step, num_samples, truncation, feature_spaces, metrics.
  """
  truncation = inference.check_truncation(truncation)
  models = inference.load_models(workdir, step=step)
  e = models.config.eval
  num_samples = num_samples or e.num_samples
  classifier_workdir = e.classifier_workdir if classifier_workdir is None else classifier_workdir
  inception = inception or e.get("inception", "")  # runs configured before eval.inception existed
  batch_size = batch_size or e.get("batch_size", 100)
  if num_samples < 2 or batch_size < 1:
    raise UserError(f"--num_samples={num_samples} / --batch_size={batch_size}: need >= 2 and >= 1")
  evaluator = make_evaluator(models.config, classifier_workdir=classifier_workdir,
                             inception=inception, num_samples=num_samples, batch_size=batch_size,
                             resolution=models.resolution, seed=seed)
  sampler = make_sample_fn(models.generator, z_dim=models.z_dim,
                           marginals=models.sampling_marginals, truncation=truncation)
  generate_fn = None
  if models.attribute_names:
    generate = make_generate_fn(models.generator, z_dim=models.z_dim, truncation=truncation)
    generate_fn = lambda k, a: generate(models.g_variables, k, a)
  metrics = evaluator(lambda k, n: sampler(models.g_variables, k, n), jax.random.PRNGKey(seed),
                      attribute_names=models.attribute_names, generate_fn=generate_fn)
  spaces = {}
  if DOMAIN in evaluator.feature_fns:
    spaces[DOMAIN] = {"classifier_workdir": os.path.abspath(classifier_workdir),
                      "comparable_to_published": False}
  if INCEPTION in evaluator.feature_fns:
    inc = evaluator.inception
    spaces[INCEPTION] = {
        "weights": os.path.abspath(inception), "source_sha256": inc.source_sha256,
        # True only for weights converted from pytorch-fid's release file (and then
        # only at equal sample counts); None when the .npz does not say.
        "comparable_to_published": True if inc.is_pytorch_fid_release else None}
  return {"workdir": os.path.abspath(workdir), "step": models.step, "num_samples": num_samples,
          "truncation": truncation,
          "real_images": "held-out avatars (another seed)" if models.config.data.source == "avatars"
          else f"random images of {models.config.data.source}",
          "feature_spaces": spaces, "metrics": metrics}

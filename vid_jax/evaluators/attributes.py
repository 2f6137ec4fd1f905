"""Attribute accuracy of a conditional generator's samples, read by the attribute classifier;
and how that reading survives blur and noise on real images (tools/check_classifier.py)."""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.errors import UserError
from vid_jax.evaluators.context import Context
from vid_jax.metrics import features as features_lib
from vid_jax.metrics.attributes import attribute_agreement
from vid_jax.models import classifier as classifier_lib

# (name, Gaussian blur sigma in px at the images' size, noise std on the [-1, 1] scale)
DEGRADATIONS = (("clean", 0.0, 0.0), ("blur_0.7", 0.7, 0.0), ("blur_1.0", 1.0, 0.0), ("blur_1.5", 1.5, 0.0),
                ("noise_0.1", 0.0, 0.1), ("noise_0.2", 0.0, 0.2))


def classifier_columns(classifier, attribute_names: Sequence[str]) -> list[int]:
  """The classifier's output column of each name; UserError naming those it has no output for."""
  missing = [a for a in attribute_names if a not in classifier.attribute_names]
  if missing:
    raise UserError(f"the attribute classifier has no output for {missing}; it knows "
                    f"{', '.join(classifier.attribute_names)}")
  return [classifier.attribute_names.index(a) for a in attribute_names]


def attribute_accuracy(classifier, images, requested_attrs,
                       attribute_names: Sequence[str]) -> dict[str, float]:
  """Agreement of the classifier with requested attributes of conditioned samples.

  Args:
    classifier: a `vid_jax.models.classifier.Classifier`.
    images: [B, H, W, 3], uint8 or float in [-1, 1].
    requested_attrs: bool (or {0, 1}) [B, A], the attributes the samples were generated with.
    attribute_names: the A names of the columns of `requested_attrs`.

  Returns:
    See `vid_jax.metrics.attribute_agreement`.
  """
  cols = classifier_columns(classifier, attribute_names)
  predicted = np.asarray(classifier.logits(images))[:, cols] > 0
  return attribute_agreement(predicted, np.asarray(requested_attrs) > 0.5, attribute_names)


def attribute_robustness(classifier, images_uint8, attrs, attribute_names: Sequence[str], *,
                         degradations=DEGRADATIONS, seed: int = 0,
                         batch_size: int = 250) -> dict[str, dict[str, float]]:
  """How the classifier's reading of real images' attributes survives blur and noise.

  A classifier that judges GAN samples should read their attributes, not their softness: this
  measures its `attribute_agreement` on labelled real images uint8 [N, H, W, 3] (attrs [N, A]),
  degraded by each of `degradations` ((name, Gaussian blur sigma in px at the images' size,
  noise std on the [-1, 1] scale), the blur of the classifier's training augmentation).

  Returns:
    {degradation name: attribute_agreement(...)} ("attr_present/<name>" is the recall).
  """
  cols = classifier_columns(classifier, attribute_names)
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


class AttributeEvaluator:
  """How often the classifier finds the attributes samples were generated with.

  Args:
    classifier: a `vid_jax.models.classifier.Classifier` with an output for every name.
    attribute_names: the generator's A conditioned attributes.
    sample_fn: (variables, key, n) -> (images, attributes [n, A]) (inference.make_sample_fn).
    num_samples: samples per evaluation.
    batch_size: images per call.
    key: sampling key (batch i uses fold_in(key, i), as the FID evaluators: the same samples).
  """

  name = "attributes"

  def __init__(self, *, classifier, attribute_names: Sequence[str], sample_fn, num_samples: int,
               batch_size: int, key):
    self.classifier = classifier
    self.attribute_names = tuple(attribute_names)
    self.cols = classifier_columns(classifier, self.attribute_names)
    self.sample_fn = sample_fn
    self.num_samples, self.batch_size, self.key = int(num_samples), int(batch_size), key

  def __call__(self, variables) -> dict[str, float]:
    """The EMA generator's variables -> the `attribute_agreement` metrics ("attr_acc/*", ...)."""
    predicted, requested = [], []
    for i in range(-(-self.num_samples // self.batch_size)):
      images, attrs = self.sample_fn(variables, jax.random.fold_in(self.key, i), self.batch_size)
      images = np.asarray(features_lib.to_uint8(images))
      requested.append(np.asarray(attrs) > 0.5)
      predicted.append(np.asarray(self.classifier.logits(images))[:, self.cols] > 0)
    n = self.num_samples
    return attribute_agreement(
        np.concatenate(predicted)[:n],
        np.concatenate(requested)[:n], self.attribute_names)


def make(ctx: Context) -> AttributeEvaluator | None:
  """With a classifier (eval.classifier_workdir), for conditional runs."""
  if not ctx.attribute_names or ctx.classifier is None:
    return None
  return AttributeEvaluator(classifier=ctx.classifier, attribute_names=ctx.attribute_names,
                            sample_fn=ctx.sample_fn, num_samples=ctx.num_samples, batch_size=ctx.batch_size,
                            key=ctx.key)

"""Where a conditional run's attributes fail (tools/attribute_report.py): samples of its EMA
generator read by the attribute classifier, split by combination and by latent
(the maths: vid_jax.metrics.breakdown)."""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax import inference
from vid_jax.data import attributes as attributes_lib
from vid_jax.errors import UserError
from vid_jax.evaluators.attributes import classifier_columns
from vid_jax.metrics.breakdown import latent_consistency, rates_by_combination
from vid_jax.metrics.features import to_uint8
from vid_jax.models import classifier as clf_lib


def _check_targets(targets: Sequence[str], names: Sequence[str]) -> None:
  unknown = [t for t in targets if t not in names]
  if unknown:
    raise UserError(f"--attributes: {unknown} not conditioned in this run; it conditions on "
                    f"{', '.join(names)}")


def attribute_report(generate, classifier, attribute_names: Sequence[str], marginals, targets: Sequence[str],
                     *, z_dim: int, num_samples: int, requests: int, latents: int, batch_size: int,
                     seed: int = 0) -> dict:
  """Both breakdowns for a conditional generator.

  Args:
    generate: (z [B, z_dim], attrs [B, A] in {0, 1}) -> images [B, R, R, 3] in [-1, 1] (jittable).
    classifier: a `vid_jax.models.classifier.Classifier` with an output for every attribute.
    attribute_names: the generator's A conditioned attributes.
    marginals: [A], the probability of each attribute in the training data.
    targets: the attributes to report (among `attribute_names`).
    z_dim: the latent size; z ~ N(0, I).
    num_samples: samples for the by-combination rates (attributes ~ Bernoulli(marginals)).
    requests, latents: for the by-latent split: requests drawn from the marginals with the
      target set, `latents` latents each.
    batch_size: images per generator call.
    seed: sampling seed.

  Returns:
    {"by_combination": rates_by_combination(...), "by_latent": {target: latent_consistency(...)}}
  """
  names = list(attribute_names)
  _check_targets(targets, names)
  cols = classifier_columns(classifier, names)
  p = jnp.asarray(marginals, jnp.float32)
  gen = jax.jit(generate)

  def classify(key, attrs):  # attrs [n, A] -> found [n, A]
    found = []
    for start in range(0, attrs.shape[0], batch_size):
      chunk = attrs[start:start + batch_size]
      n = chunk.shape[0]
      if n < batch_size:  # one compiled shape
        chunk = jnp.concatenate([chunk, jnp.zeros((batch_size - n, chunk.shape[1]), chunk.dtype)])
      z = jax.random.normal(jax.random.fold_in(key, start), (batch_size, z_dim))
      found.append(np.asarray(classifier.logits(to_uint8(gen(z, chunk))))[:n][:, cols] > 0)
    return np.concatenate(found)

  key = jax.random.PRNGKey(seed)
  k_attr, k_z, k_lat = jax.random.split(key, 3)
  excl = attributes_lib.exclusive_columns(names)
  attrs = inference.draw_attributes(k_attr, p, num_samples, exclusive=excl)
  by_combination = rates_by_combination(np.asarray(attrs), classify(k_z, attrs), names, targets)
  by_latent = {}
  for t, target in enumerate(targets):
    j = names.index(target)
    k_req, k_gen = jax.random.split(jax.random.fold_in(k_lat, t))
    req = inference.draw_attributes(k_req, p, requests, exclusive=excl).at[:, j].set(1.0)
    if j in excl:  # one hair colour: the target's
      req = req.at[:, [c for c in excl if c != j]].set(0.0)
    found = classify(k_gen, jnp.repeat(req, latents, axis=0))[:, j]
    by_latent[target] = latent_consistency(found.reshape(requests, latents))
  return {"by_combination": by_combination, "by_latent": by_latent}


def report_workdir(workdir: str, *, classifier_workdir: str | None = None, attributes: Sequence[str] = (),
                   num_samples: int = 4000, requests: int = 200, latents: int = 8, batch_size: int = 200,
                   seed: int = 0, step: int | None = None) -> dict:
  """`attribute_report` for the EMA generator of a conditional training workdir.

  Args:
    workdir: a launch.py workdir of a conditional run.
    classifier_workdir: default the run's eval.classifier_workdir.
    attributes: targets (default: every conditioned attribute).
    num_samples, requests, latents, batch_size, seed: as in `attribute_report`.
    step: checkpoint step (default the latest).

  Returns:
    A JSON-serialisable dict: workdir, step, classifier_workdir, the counts, and the report.
  """
  for flag, value, least in (("num_samples", num_samples, 1), ("requests", requests, 1),
                             ("latents", latents, 2), ("batch_size", batch_size, 1)):
    if value < least:
      raise UserError(f"--{flag}={value}: need at least {least}")
  # Everything that can be checked from config.json is, before any checkpoint is read.
  config = inference.load_config(workdir)
  names = list(attributes_lib.attribute_names(config))
  if not names:
    raise UserError(f"{workdir} is not a conditional run (model.conditional is False); "
                    f"train one with configs/cdcgan_avatars.py")
  targets = list(attributes) or names
  _check_targets(targets, names)
  classifier_workdir = (config.eval.classifier_workdir if classifier_workdir is None else classifier_workdir)
  classifier = clf_lib.load_classifier(classifier_workdir)
  models = inference.load_models(workdir, step=step)
  report = attribute_report(models.generate, classifier, models.attribute_names, models.sampling_marginals,
                            targets, z_dim=models.z_dim, num_samples=num_samples, requests=requests,
                            latents=latents, batch_size=batch_size, seed=seed)
  return {
      "workdir": workdir,
      "step": models.step,
      "classifier_workdir": classifier_workdir,
      "num_samples": num_samples,
      "requests": requests,
      "latents": latents,
      "seed": seed,
      **report
  }

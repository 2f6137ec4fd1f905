"""Where a conditioned attribute fails: by the other requested attributes, and by latent.

`tools/attribute_report.py` prints this as JSON for a conditional run. `attr_present/<name>`
(vid_jax.metrics.evaluate) says how often the classifier finds an attribute that was asked
for; this module says where it does not:

* **by combination** (`rates_by_combination`): among samples whose attributes are drawn from
  the data's marginals, the rate for each target attribute when each other attribute was also
  requested, and when it was not. A G that reads the attributes linearly fails on
  combinations (brown hair next to black hair, which the avatars draw as stripes); this is
  where that shows (docs/metrics.md, "Attributes combine").
* **by latent** (`latent_consistency`): R requests that ask for the target, L latents each.
  If a failure belonged to the request (y), every latent of a failing request fails; if it
  belonged to the latent (z), requests would be mixed about as often as independent draws of
  the overall rate p make them (all found with probability p**L, none with (1 - p)**L).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax import inference
from vid_jax.data import attributes as attributes_lib
from vid_jax.errors import UserError
from vid_jax.metrics.evaluate import _classifier_columns, to_uint8
from vid_jax.models import classifier as clf_lib


def rates_by_combination(requested, found, attribute_names: Sequence[str],
                         targets: Sequence[str]) -> dict:
  """Rate at which each target is found, overall and split by each other requested attribute.

  Args:
    requested: bool (or {0, 1}) [N, A], the attributes the samples were generated with.
    found: bool [N, A], whether the classifier finds each attribute in each sample.
    attribute_names: the A column names.
    targets: names among `attribute_names` to report.

  Returns:
    {target: {"rate", "n", "with": {other: {"rate", "n"}}, "without": {other: {"rate", "n"}}}}
    where n counts the samples that asked for the target (and, under with / without, did or
    did not ask for `other`); rate is None where n = 0.
  """
  requested = np.asarray(requested) > 0.5
  found = np.asarray(found, bool)
  if requested.shape != found.shape or requested.ndim != 2 or requested.shape[1] != len(attribute_names):
    raise ValueError(f"requested {requested.shape} and found {found.shape} must both be "
                     f"[N, {len(attribute_names)}]")
  names = list(attribute_names)

  def rate(mask, j):
    n = int(mask.sum())
    return {"rate": float(found[mask, j].mean()) if n else None, "n": n}

  out = {}
  for target in targets:
    j = names.index(target)
    asked = requested[:, j]
    entry = rate(asked, j)
    entry["with"] = {o: rate(asked & requested[:, k], j) for k, o in enumerate(names) if o != target}
    entry["without"] = {o: rate(asked & ~requested[:, k], j) for k, o in enumerate(names) if o != target}
    out[target] = entry
  return out


def latent_consistency(found) -> dict[str, float]:
  """Whether failures belong to requests or to latents.

  Args:
    found: bool [R, L], whether the attribute is found in latent l of request r (all R
      requests asked for it).

  Returns:
    rate (overall), all_found / none_found / mixed (fractions of requests), and
    independent_all_found / independent_none_found: the fractions if each of the R * L
    samples were found independently at the overall rate.
  """
  found = np.asarray(found, bool)
  if found.ndim != 2 or found.shape[1] < 2:
    raise ValueError(f"found must be [requests, latents >= 2], got {found.shape}")
  per_request = found.mean(axis=1)
  p = float(found.mean())
  latents = found.shape[1]
  return {"rate": p, "requests": int(found.shape[0]), "latents": int(latents),
          "all_found": float((per_request == 1).mean()),
          "none_found": float((per_request == 0).mean()),
          "mixed": float(((per_request > 0) & (per_request < 1)).mean()),
          "independent_all_found": p ** latents,
          "independent_none_found": (1 - p) ** latents}


def _check_targets(targets: Sequence[str], names: Sequence[str]) -> None:
  unknown = [t for t in targets if t not in names]
  if unknown:
    raise UserError(f"--attributes: {unknown} not conditioned in this run; it conditions on "
                    f"{', '.join(names)}")


def attribute_report(generate, classifier, attribute_names: Sequence[str], marginals,
                     targets: Sequence[str], *, z_dim: int, num_samples: int, requests: int,
                     latents: int, batch_size: int, seed: int = 0) -> dict:
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
  cols = _classifier_columns(classifier, names)
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
  attrs = jax.random.bernoulli(k_attr, p, (num_samples, p.shape[0])).astype(jnp.float32)
  by_combination = rates_by_combination(np.asarray(attrs), classify(k_z, attrs), names, targets)
  by_latent = {}
  for t, target in enumerate(targets):
    j = names.index(target)
    k_req, k_gen = jax.random.split(jax.random.fold_in(k_lat, t))
    req = jax.random.bernoulli(k_req, p, (requests, p.shape[0])).astype(jnp.float32).at[:, j].set(1.0)
    found = classify(k_gen, jnp.repeat(req, latents, axis=0))[:, j]
    by_latent[target] = latent_consistency(found.reshape(requests, latents))
  return {"by_combination": by_combination, "by_latent": by_latent}


def report_workdir(workdir: str, *, classifier_workdir: str | None = None,
                   attributes: Sequence[str] = (), num_samples: int = 4000, requests: int = 200,
                   latents: int = 8, batch_size: int = 200, seed: int = 0,
                   step: int | None = None) -> dict:
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
  classifier_workdir = (config.eval.classifier_workdir if classifier_workdir is None
                        else classifier_workdir)
  classifier = clf_lib.load_classifier(classifier_workdir)
  models = inference.load_models(workdir, step=step)
  report = attribute_report(models.generate, classifier, models.attribute_names,
                            models.sampling_marginals, targets,
                            z_dim=models.z_dim, num_samples=num_samples, requests=requests,
                            latents=latents, batch_size=batch_size, seed=seed)
  return {"workdir": workdir, "step": models.step, "classifier_workdir": classifier_workdir,
          "num_samples": num_samples, "requests": requests, "latents": latents, "seed": seed,
          **report}

"""Where a conditioned attribute fails: by the other requested attributes, and by latent (the maths).

`tools/attribute_report.py` prints this as JSON for a conditional run (sampling and the
classifier: vid_jax.evaluators.breakdown). `attr_present/<name>` (vid_jax.evaluators.attributes)
says how often the classifier finds an attribute that was asked for; this module says where it
does not:

* **by combination** (`rates_by_combination`): among samples whose attributes are drawn from
  the data's marginals, the rate for each target attribute when each other attribute was also
  requested, and when it was not. A G that reads the attributes linearly fails on
  combinations (brown hair next to black hair, which the avatars draw as stripes); this is
  where that shows (docs/experiments/cdcgan_options.md, "Attributes combine").
* **by latent** (`latent_consistency`): R requests that ask for the target, L latents each.
  If a failure belonged to the request (y), every latent of a failing request fails; if it
  belonged to the latent (z), requests would be mixed about as often as independent draws of
  the overall rate p make them (all found with probability p**L, none with (1 - p)**L).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def rates_by_combination(requested, found, attribute_names: Sequence[str], targets: Sequence[str]) -> dict:
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
  return {
      "rate": p,
      "requests": int(found.shape[0]),
      "latents": int(latents),
      "all_found": float((per_request == 1).mean()),
      "none_found": float((per_request == 0).mean()),
      "mixed": float(((per_request > 0) & (per_request < 1)).mean()),
      "independent_all_found": p**latents,
      "independent_none_found": (1 - p)**latents
  }

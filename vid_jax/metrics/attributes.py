"""Agreement of predicted attributes with requested (or labelled) ones."""
from __future__ import annotations

from typing import Sequence

import numpy as np


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

"""Editing an inverted avatar: flip G's attribute bits, or move z along a linear direction for the
attributes G is not conditioned on (InterFaceGAN, Shen et al. 2020: a linear boundary in z fitted to
the classifier's labels of G's samples; an edit moves z across it).

  directions, report = fit_directions(frozen=frozen, key=key, samples=4096, steps=300, min_positive=0.05)
  edits = parse_edits("+Eyeglasses,-Smiling,+Wearing_Lipstick")
  z, y = apply_edits(z, y, edits, g_names=frozen.g_names, directions=directions)
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vid_jax.data.attributes import HAIR_COLOURS
from vid_jax.errors import UserError

# An edit along a direction moves z to this signed distance past the boundary (z ~ N(0, I): a
# sample's distance along a unit normal is ~N(offset, 1), so 3 is past almost every sample).
MARGIN = 3.0
FIT_BATCH = 256  # G's samples per call while labelling


class Directions(NamedTuple):
  """Unit normals of the fitted boundaries: score(z) = normals @ z + offsets (> 0: attribute present)."""
  names: tuple[str, ...]
  normals: np.ndarray  # [K, Z]
  offsets: np.ndarray  # [K]

  def to_json(self) -> dict:
    return {
        n: {
            "normal": [float(v) for v in w],
            "offset": float(b)
        } for n, w, b in zip(self.names, self.normals, self.offsets)
    }

  @staticmethod
  def from_json(d: dict) -> "Directions":
    names = tuple(d)
    z_dim = len(next(iter(d.values()))["normal"]) if d else 0
    normals = np.asarray([d[n]["normal"] for n in names], np.float32).reshape(len(names), z_dim)
    return Directions(names=names, normals=normals, offsets=np.asarray([d[n]["offset"] for n in names],
                                                                       np.float32))


def label_samples(*, frozen, key, samples: int):
  """(z [N, Z], classifier logits [N, 40]) of N of G's samples (attributes from the data's marginals)."""
  fvars = frozen.variables()

  @jax.jit
  def one(k):
    k_z, k_y = jax.random.split(k)
    z = jax.random.normal(k_z, (FIT_BATCH, frozen.z_dim))
    y = frozen.gan.sample_attributes(k_y, FIT_BATCH)
    return z, frozen.classify(fvars, frozen.generate(fvars, z, y))[0]

  out = [one(k) for k in jax.random.split(key, -(-samples // FIT_BATCH))]
  return (np.concatenate([np.asarray(o[0]) for o in out])[:samples],
          np.concatenate([np.asarray(o[1]) for o in out])[:samples])


def fit_directions(*, frozen, key, samples: int, steps: int, min_positive: float):
  """Logistic-regression boundaries in z for the classifier's attributes G is not conditioned on.

  Attributes whose positive rate among G's samples is below `min_positive` (or above 1 - it) get no
  direction: there is nothing to fit.

  Returns:
    (Directions, report {name: {"positive_rate", "accuracy"} on a held-out fifth of the samples}).
  """
  k_label, k_init = jax.random.split(key)
  z, logits = label_samples(frozen=frozen, key=k_label, samples=samples)
  labels = logits > 0
  rate = labels.mean(0)
  names = [
      n for i, n in enumerate(frozen.c_names)
      if n not in frozen.g_names and min_positive <= rate[i] <= 1 - min_positive
  ]
  report = {}
  if not names:
    return Directions((), np.zeros((0, frozen.z_dim), np.float32), np.zeros((0,), np.float32)), report
  cols = [frozen.c_names.index(n) for n in names]
  t = jnp.asarray(labels[:, cols], jnp.float32)  # [N, K]
  n_fit = len(z) - len(z) // 5
  zj = jnp.asarray(z)
  tx = optax.adam(0.05)
  params = {"w": 0.01 * jax.random.normal(k_init, (frozen.z_dim, len(names))), "b": jnp.zeros(len(names))}

  def loss(p):
    lg = zj[:n_fit] @ p["w"] + p["b"]
    return jnp.mean(optax.sigmoid_binary_cross_entropy(lg, t[:n_fit]))

  @jax.jit
  def step(p, s):
    g = jax.grad(loss)(p)
    u, s = tx.update(g, s, p)
    return optax.apply_updates(p, u), s

  opt = tx.init(params)
  for _ in range(steps):
    params, opt = step(params, opt)
  w, b = np.asarray(params["w"]).T, np.asarray(params["b"])  # [K, Z], [K]
  norm = np.linalg.norm(w, axis=1)
  held = (np.asarray(z[n_fit:]) @ w.T + b) > 0
  acc = (held == (np.asarray(t[n_fit:]) > 0.5)).mean(0)
  for i, n in enumerate(names):
    report[n] = {"positive_rate": round(float(rate[cols[i]]), 4), "accuracy": round(float(acc[i]), 4)}
  return Directions(tuple(names), (w / norm[:, None]).astype(np.float32),
                    (b / norm).astype(np.float32)), report


def parse_edits(text: str) -> tuple[tuple[str, int], ...]:
  """'+Eyeglasses,-Smiling' -> (('Eyeglasses', 1), ('Smiling', -1)); a bare name adds it."""
  out = []
  for part in filter(None, (p.strip() for p in (text or "").split(","))):
    sign = -1 if part[0] == "-" else 1
    name = part.lstrip("+-").strip()
    if not name:
      raise UserError(f"--edit: {part!r} names no attribute; write e.g. --edit=+Eyeglasses,-Smiling")
    out.append((name, sign))
  names = [n for n, _ in out]
  dup = sorted({n for n in names if names.count(n) > 1})
  if dup:
    raise UserError(f"--edit names {dup} more than once; give each attribute once")
  return tuple(out)


def check_edits(edits, *, g_names, directions: Directions) -> None:
  """One UserError for an attribute neither G nor a direction can edit."""
  known = list(g_names) + list(directions.names)
  for name, _ in edits:
    if name not in known:
      raise UserError(f"--edit: {name!r} cannot be edited by this encoder; editable: {', '.join(known)}")


def apply_edits(z, y, edits, *, g_names, directions: Directions):
  """(z [B, Z], y [B, A]) with the edits: G's attributes set / cleared in y (a hair colour clears the
  others), the others moved along their direction to MARGIN past the boundary (those already past
  it stay where they are)."""
  check_edits(edits, g_names=g_names, directions=directions)
  z, y = jnp.asarray(z), jnp.asarray(y)
  for name, sign in edits:
    if name in g_names:
      i = g_names.index(name)
      if sign > 0 and name in HAIR_COLOURS:
        for j, other in enumerate(g_names):
          if other in HAIR_COLOURS:
            y = y.at[:, j].set(0.0)
      y = y.at[:, i].set(1.0 if sign > 0 else 0.0)
    else:
      k = directions.names.index(name)
      n, b = jnp.asarray(directions.normals[k]), float(directions.offsets[k])
      score = z @ n + b  # [B]
      move = jnp.maximum(0.0, MARGIN - score) if sign > 0 else -jnp.maximum(0.0, score + MARGIN)
      z = z + move[:, None] * n[None, :]
  return z, y

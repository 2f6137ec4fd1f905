"""How robust D is: its accuracy on clean, FGSM and PGD inputs over a grid of eps (tools/robustness.py)."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.refiners.adversarial.attacks import Array, check_norm, fgsm, pgd
from vid_jax.refiners.adversarial.objectives import d_misclassification_loss


def d_accuracy(logits: Array, is_real: Array) -> Array:
  """Per-example correctness of D (logit > 0 means 'real'): `[B]` float32."""
  return ((logits > 0) == jnp.asarray(is_real)).astype(jnp.float32)


def robustness_curve(d_logits_fn, x, is_real, key, eps_grid, *, num_steps: int = 10,
                     rel_step_size: float = 2.5, norm: str = "linf", clip_min: float = -1.0,
                     clip_max: float = 1.0) -> dict[str, Array]:
  """D's accuracy on clean, FGSM and PGD inputs for every eps of a grid.

  Jittable (`eps_grid` traced; `lax.map` runs one eps at a time so memory
  stays at one batch).

  Args:
    d_logits_fn: images `[B, ...]` -> logits `[B]` (inference mode).
    x: `[B, ...]` real and fake images in [-1, 1].
    is_real: `[B]` bool labels.
    key: PRNG key for PGD's random starts.
    eps_grid: `[E]` radii in the [-1, 1] scale.
    num_steps: PGD steps.
    rel_step_size: PGD step = rel_step_size * eps / num_steps.
    norm: "linf" or "l2".
    clip_min: lower bound of the valid input range.
    clip_max: upper bound of the valid input range.

  Returns:
    dict of float32 arrays: "clean" `[B]` per-example correctness, and
    "fgsm", "pgd" `[E, B]` per-example correctness under each attack.
  """
  check_norm(norm)
  loss_fn = d_misclassification_loss(d_logits_fn, is_real)
  eps_grid = jnp.asarray(eps_grid, x.dtype)  # [E]
  keys = jax.random.split(key, eps_grid.shape[0])

  def one(args):
    eps, k = args
    x_f = fgsm(loss_fn, x, eps=eps, norm=norm, clip_min=clip_min, clip_max=clip_max)
    x_p = pgd(loss_fn, x, k, eps=eps, step_size=rel_step_size * eps / max(num_steps, 1), num_steps=num_steps,
              norm=norm, random_start=True, clip_min=clip_min, clip_max=clip_max)
    return d_accuracy(d_logits_fn(x_f), is_real), d_accuracy(d_logits_fn(x_p), is_real)

  acc_fgsm, acc_pgd = jax.lax.map(one, (eps_grid, keys))  # [E, B] each
  return {"clean": d_accuracy(d_logits_fn(x), is_real), "fgsm": acc_fgsm, "pgd": acc_pgd}


def d_robustness_report(d_logits_fn, real, fake, key, eps_grid, *, real_attrs=None, fake_attrs=None,
                        num_steps: int = 10, rel_step_size: float = 2.5, norm: str = "linf",
                        batch_size: int = 64) -> dict[str, Any]:
  """D's real-vs-fake accuracy under FGSM and PGD over an eps grid (host-level).

  Runs `robustness_curve` (one compilation) over fixed-size chunks of the
  labelled union of `real` and `fake`; the last chunk is padded and the pads
  are not counted.

  Args:
    d_logits_fn: (images `[n, ...]`, attrs `[n, A]` or None) -> logits `[n]`,
      D in inference mode; jittable.
    real: `[N_r, H, W, C]` real images in [-1, 1].
    fake: `[N_f, H, W, C]` generated images in [-1, 1].
    key: PRNG key for PGD's random starts.
    eps_grid: radii in the [-1, 1] image scale.
    real_attrs: `[N_r, A]` attributes of the reals (conditional D), or None.
    fake_attrs: `[N_f, A]` attributes the fakes were generated with, or None.
    num_steps: PGD steps.
    rel_step_size: PGD step = rel_step_size * eps / num_steps.
    norm: "linf" or "l2".
    batch_size: images per chunk.

  Returns:
    {"eps": [E] floats, "clean": {"all", "real", "fake"} floats, "fgsm" and
    "pgd": {"all", "real", "fake"} -> [E] floats}: accuracies in [0, 1].
  """
  check_norm(norm)
  if (real_attrs is None) != (fake_attrs is None):
    raise ValueError("give attributes for both reals and fakes, or for neither")
  x = np.concatenate([np.asarray(real), np.asarray(fake)], axis=0)  # [N, H, W, C]
  is_real = np.arange(x.shape[0]) < real.shape[0]  # [N]
  y = None if real_attrs is None else np.concatenate(
      [np.asarray(real_attrs), np.asarray(fake_attrs)], axis=0).astype(np.float32)  # [N, A]
  n = x.shape[0]
  chunk = max(1, min(batch_size, n))
  pad = -n % chunk
  if pad:  # repeat the first rows; they are dropped below
    x = np.concatenate([x, x[:pad]], axis=0)
    is_real = np.concatenate([is_real, is_real[:pad]], axis=0)
    y = None if y is None else np.concatenate([y, y[:pad]], axis=0)
  eps_arr = jnp.asarray(eps_grid, jnp.float32)  # [E]

  @jax.jit
  def run_chunk(xc, rc, yc, k):
    return robustness_curve(lambda v: d_logits_fn(v, yc), xc, rc, k, eps_arr, num_steps=num_steps,
                            rel_step_size=rel_step_size, norm=norm)

  parts = []
  for i, start in enumerate(range(0, x.shape[0], chunk)):
    sl = slice(start, start + chunk)
    parts.append(
        jax.device_get(run_chunk(x[sl], is_real[sl], None if y is None else y[sl], jax.random.fold_in(key,
                                                                                                      i))))
  clean = np.concatenate([p["clean"] for p in parts])[:n]  # [N]
  fgsm_ok = np.concatenate([p["fgsm"] for p in parts], axis=1)[:, :n]  # [E, N]
  pgd_ok = np.concatenate([p["pgd"] for p in parts], axis=1)[:, :n]  # [E, N]
  is_real = is_real[:n]

  def split(ok):  # [..., N] -> mean accuracy over all / reals / fakes
    return {
        "all": ok.mean(-1).tolist(),
        "real": ok[..., is_real].mean(-1).tolist(),
        "fake": ok[..., ~is_real].mean(-1).tolist()
    }

  return {
      "eps": [float(e) for e in np.asarray(eps_grid)],
      "clean": split(clean),
      "fgsm": split(fgsm_ok),
      "pgd": split(pgd_ok)
  }

"""Adversarial training of D: PGD on part of D's real and fake inputs inside the train step.

The `config.refiners.adversarial` section (a training option, vid_jax.config) sets it.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from vid_jax import config as config_lib
from vid_jax.errors import UserError
from vid_jax.refiners.adversarial.attacks import NORMS, check_norm, pgd
from vid_jax.refiners.adversarial.objectives import d_misclassification_loss

# The `config.refiners.adversarial` section's defaults (adversarial training of D); they live with
# the run config, which imports no refiner.
default_config = config_lib.adversarial_defaults


def validate_config(cfg: ml_collections.ConfigDict, where: str = "refiners.adversarial") -> None:
  """Checks the section once, before anything compiles; raises UserError."""
  for field in ("enabled", "norm", "eps", "step_size", "num_steps", "fraction"):
    if field not in cfg:
      raise UserError(f"{where}.{field} is missing; start from "
                      f"vid_jax.refiners.adversarial.default_config()")
  if not isinstance(cfg.enabled, bool):
    raise UserError(f"{where}.enabled={cfg.enabled!r} must be True or False")
  if cfg.norm not in NORMS:
    raise UserError(f"{where}.norm={cfg.norm!r} is unknown; use one of {', '.join(NORMS)}")
  if not (isinstance(cfg.eps, (int, float)) and 0 <= cfg.eps <= 2):
    raise UserError(f"{where}.eps={cfg.eps!r} must be a number in [0, 2] (images are in "
                    f"[-1, 1]: 2/255 pixel budget is eps=4/255)")
  if not (isinstance(cfg.step_size, (int, float)) and cfg.step_size >= 0):
    raise UserError(f"{where}.step_size={cfg.step_size!r} must be a number >= 0")
  if isinstance(cfg.num_steps, bool) or not isinstance(cfg.num_steps, int) or cfg.num_steps < 0:
    raise UserError(f"{where}.num_steps={cfg.num_steps!r} must be an int >= 0")
  if not (isinstance(cfg.fraction, (int, float)) and 0 <= cfg.fraction <= 1):
    raise UserError(f"{where}.fraction={cfg.fraction!r} must be a number in [0, 1]")


def hparams_from_config(cfg: ml_collections.ConfigDict) -> dict[str, Any]:
  """Plain keyword arguments of `perturb_d_inputs` from the config section."""
  validate_config(cfg)
  return dict(norm=str(cfg.norm), eps=float(cfg.eps), step_size=float(cfg.step_size),
              num_steps=int(cfg.num_steps), fraction=float(cfg.fraction))


def num_perturbed(batch_size: int, fraction: float) -> int:
  """round(fraction * batch_size), halves rounded up; a static int."""
  return min(batch_size, max(0, int(math.floor(fraction * batch_size + 0.5))))


def d_input_attributes(real_attrs, fake_attrs, fraction: float):
  """Attributes of the rows `perturb_d_inputs` feeds to D: `[k_r + k_f, A]`.

  Args:
    real_attrs: `[B, A]` attributes of the real batch.
    fake_attrs: `[B', A]` attributes the fakes were generated with.
    fraction: the same static fraction given to `perturb_d_inputs`.
  """
  k_real = num_perturbed(real_attrs.shape[0], fraction)
  k_fake = num_perturbed(fake_attrs.shape[0], fraction)
  return jnp.concatenate([real_attrs[:k_real], fake_attrs[:k_fake].astype(real_attrs.dtype)], axis=0)


def perturb_d_inputs(d_logits_fn, real, fake, key, *, norm, eps, step_size, num_steps, fraction):
  """PGD on D's inputs for adversarial training of the discriminator.

  d_logits_fn(x) -> logits [B] (D in inference mode, params closed over, no
  grads to params: close over `lax.stop_gradient(params)` so that JAX does not
  trace tangents through the attack loop). Returns (real_adv, fake_adv): the
  first round(fraction*B) examples of each perturbed by PGD (random start) so
  that D misclassifies them (reals pushed toward 'fake', fakes toward 'real');
  the rest unchanged. Static shapes.

  The selected reals and fakes are attacked together as one batch,
  `[real[:k_r]; fake[:k_f]]` in that order (k = `num_perturbed(B, fraction)`),
  so each step costs one D forward+backward on k_r + k_f images. A
  conditional D closes over the attributes of exactly those rows:
  `d_input_attributes(y_real, y_fake, fraction)`. The perturbation is a
  constant for differentiation: gradients reach `real` and `fake` as through
  the identity, never through the attack.

  Args:
    d_logits_fn: images `[N, H, W, C]` -> logits `[N]`.
    real: `[B, H, W, C]` real images in [-1, 1].
    fake: `[B', H, W, C]` generated images in [-1, 1].
    key: PRNG key for the random starts.
    norm: "linf" or "l2".
    eps: ball radius in the [-1, 1] scale.
    step_size: absolute PGD step.
    num_steps: PGD steps (static int).
    fraction: Python float in [0, 1], static.

  Returns:
    (real_adv, fake_adv), shapes and dtypes of (real, fake).
  """
  check_norm(norm)
  if not 0.0 <= fraction <= 1.0:
    raise ValueError(f"fraction={fraction!r} must be in [0, 1]")
  k_real = num_perturbed(real.shape[0], fraction)
  k_fake = num_perturbed(fake.shape[0], fraction)
  if (k_real == 0 and k_fake == 0) or num_steps == 0:
    return real, fake
  x = jnp.concatenate([real[:k_real], fake[:k_fake].astype(real.dtype)], axis=0)  # [k_r+k_f, ...]
  is_real = jnp.arange(k_real + k_fake) < k_real  # [k_r+k_f]
  loss_fn = d_misclassification_loss(d_logits_fn, is_real)
  x_adv = pgd(loss_fn, jax.lax.stop_gradient(x), key, eps=eps, step_size=step_size, num_steps=num_steps,
              norm=norm, random_start=True)
  x_adv = jax.lax.stop_gradient(x_adv)

  def splice(orig, adv):
    # Value: adv exactly (orig - stop_gradient(orig) == 0); gradient: identity.
    head = adv.astype(orig.dtype) + (orig[:adv.shape[0]] - jax.lax.stop_gradient(orig[:adv.shape[0]]))
    return jnp.concatenate([head, orig[adv.shape[0]:]], axis=0)

  return splice(real, x_adv[:k_real]), splice(fake, x_adv[k_real:])

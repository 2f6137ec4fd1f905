"""FGSM and PGD as pure JAX transforms: inputs that (locally) maximise a per-example loss.

The attacks take a `loss_fn` mapping a batch `[B, ...]` to per-example losses
`[B]` and return inputs that (locally) *maximize* it inside an eps-ball around
the originals. Examples must be independent inside `loss_fn` (models in
inference mode), so the attacks are per-example although they differentiate
the batch sum once per step.

Everything here is elementwise or a per-example reduction, so it jits (with
static or traced `eps`/`step_size`), vmaps (over keys, eps or stacked batches)
and runs on batches sharded along the batch axis without cross-example
communication. The step loop is a `lax.fori_loop`.

Scale of eps. Images inside vid_jax are in [-1, 1], so every eps and step size
here is in that scale: an L-inf budget of 2/255 in pixel units of [0, 1] is
`eps = 2 * 2/255 = 4/255` here (and L2 budgets scale by the same factor 2).

Order of operations per PGD step (also what foolbox 3 does, so deterministic
runs agree with it): step, project the perturbation onto the eps-ball around
the original, clip to [clip_min, clip_max]. Because the original lies inside
the clip range, clipping only shrinks each coordinate of the perturbation, so
the result stays inside the ball.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

Array = jax.Array
LossFn = Callable[[Array], Array]  # [B, ...] -> [B]

NORMS = ("linf", "l2")
# Guards the L2 normalisations against division by zero; a zero gradient or a
# zero perturbation stays zero (same constant as foolbox).
_TINY = 1e-12

# ----------------------------------------------------------------- validation


def check_norm(norm: str) -> None:
  if norm not in NORMS:
    raise ValueError(f"norm={norm!r} is unknown; use one of {', '.join(NORMS)}")


def _check_nonneg(name: str, value: Any) -> None:
  """Checks concrete numbers only; traced values are the caller's business."""
  if isinstance(value, (int, float)) and not value >= 0:
    raise ValueError(f"{name}={value!r} must be a number >= 0")


# ------------------------------------------------------------------ internals


def _per_example(v: Any, x: Array) -> Array:
  """Scalar or [B] hyperparameter -> broadcastable against x ([B, 1, ..., 1])."""
  v = jnp.asarray(v, dtype=x.dtype)
  if v.ndim == 1:
    v = v.reshape((-1,) + (1,) * (x.ndim - 1))
  elif v.ndim > 1:
    raise ValueError(f"eps/step_size must be a scalar or a [B] vector, got shape {v.shape}")
  return v


def _l2_norms(v: Array) -> Array:
  """Per-example L2 norm, keepdims: [B, ...] -> [B, 1, ..., 1] (float32)."""
  axes = tuple(range(1, v.ndim))
  return jnp.sqrt(jnp.sum(jnp.square(v.astype(jnp.float32)), axis=axes, keepdims=True))


def _direction(grad: Array, norm: str) -> Array:
  """Steepest-ascent unit direction of the given norm."""
  if norm == "linf":
    return jnp.sign(grad)
  return (grad.astype(jnp.float32) / jnp.maximum(_l2_norms(grad), _TINY)).astype(grad.dtype)


def _project(delta: Array, eps: Array, norm: str) -> Array:
  """Projects a perturbation onto the eps-ball (L-inf clip or L2 rescale)."""
  if norm == "linf":
    return jnp.clip(delta, -eps, eps)
  factor = jnp.minimum(1.0, eps.astype(jnp.float32) / jnp.maximum(_l2_norms(delta), _TINY))
  return (delta * factor).astype(delta.dtype)


def _random_start(key: Array, x: Array, eps: Array, norm: str) -> Array:
  """A perturbation drawn uniformly from the eps-ball; same shape as x."""
  if norm == "linf":
    return jax.random.uniform(key, x.shape, x.dtype, -1.0, 1.0) * eps
  # Uniform in the L2 ball: uniform direction, radius eps * U^(1/n).
  k_dir, k_rad = jax.random.split(key)
  direction = jax.random.normal(k_dir, x.shape, jnp.float32)
  direction = direction / jnp.maximum(_l2_norms(direction), _TINY)
  n = math.prod(x.shape[1:])
  u = jax.random.uniform(k_rad, (x.shape[0],) + (1,) * (x.ndim - 1), jnp.float32)
  return (direction * u**(1.0 / n)).astype(x.dtype) * eps


def _input_grad(loss_fn: LossFn, x: Array) -> Array:
  # Examples are independent, so d(sum_b loss_b)/dx_b = d loss_b / dx_b.
  return jax.grad(lambda v: jnp.sum(loss_fn(v)))(x)


# -------------------------------------------------------------------- attacks


def pgd(loss_fn: LossFn, x: Array, key: Array | None, *, eps, step_size, num_steps: int, norm: str = "linf",
        random_start: bool = True, clip_min: float = -1.0, clip_max: float = 1.0,
        unroll: int | bool = 1) -> Array:
  """Projected gradient ascent of `loss_fn` inside an eps-ball around `x`.

  Each step: `x += step_size * sign(g)` (L-inf) or `step_size * g / ||g||_2`
  per example (L2; a zero gradient stays zero), then project `x - x0` onto the
  eps-ball, then clip to `[clip_min, clip_max]`.

  Args:
    loss_fn: batch `[B, ...]` -> per-example losses `[B]` to maximize (pass the
      negated loss toward a target for a targeted attack). Must treat examples
      independently (inference-mode models).
    x: the originals, `[B, ...]`, inside `[clip_min, clip_max]`.
    key: PRNG key for the random start (unused, may be None, when
      `random_start=False`).
    eps: radius of the ball, in the units of `x` (images in [-1, 1]: twice the
      [0, 1] pixel budget). Python number, traced scalar, or `[B]` vector.
    step_size: absolute step length (same forms as `eps`).
    num_steps: number of steps, a Python int (static) or a traced int.
    norm: "linf" or "l2".
    random_start: start from a uniform draw in the ball (then clipped) instead
      of from `x`.
    clip_min: lower bound of the valid input range.
    clip_max: upper bound of the valid input range.
    unroll: `lax.fori_loop` unrolling (static `num_steps` only; True = fully).
      Straight-line code lets XLA:CPU run flax's native convolutions 2-3x
      faster than inside a loop (docs/adversarial.md), at the price of
      `num_steps` copies of the model in the compiled program.

  Returns:
    x_adv, same shape and dtype as `x`. With `eps=0` it equals `x`.
  """
  check_norm(norm)
  _check_nonneg("eps", eps)
  _check_nonneg("step_size", step_size)
  if isinstance(num_steps, int) and num_steps < 0:
    raise ValueError(f"num_steps={num_steps} must be >= 0")
  x0 = jax.lax.stop_gradient(x)  # [B, ...]
  eps_b = _per_example(eps, x0)
  step_b = _per_example(step_size, x0)

  if random_start:
    if key is None:
      raise ValueError("pgd(random_start=True) needs a PRNG key")
    start = jnp.clip(x0 + _random_start(key, x0, eps_b, norm), clip_min, clip_max)
  else:
    start = x0

  def body(_, xk):
    g = _input_grad(loss_fn, xk)
    xk = xk + step_b * _direction(g, norm)
    xk = x0 + _project(xk - x0, eps_b, norm)
    return jnp.clip(xk, clip_min, clip_max).astype(x0.dtype)

  return jax.lax.fori_loop(0, num_steps, body, start, unroll=unroll)


def fgsm(loss_fn: LossFn, x: Array, *, eps, norm: str = "linf", clip_min: float = -1.0,
         clip_max: float = 1.0) -> Array:
  """Fast gradient (sign) method: one PGD step of size `eps`, no random start.

  With `norm="linf"` this is FGSM (`x + eps * sign(g)`), with `norm="l2"` the
  fast gradient method (`x + eps * g / ||g||_2`). Arguments as in `pgd`.

  Returns:
    x_adv, same shape and dtype as `x`.
  """
  return pgd(loss_fn, x, None, eps=eps, step_size=eps, num_steps=1, norm=norm, random_start=False,
             clip_min=clip_min, clip_max=clip_max)

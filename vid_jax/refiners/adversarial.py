"""Adversarial refiner: FGSM and PGD as pure JAX transforms, and their uses.

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
import ml_collections
import numpy as np

from vid_jax import config as config_lib
from vid_jax.data.attributes import ATTRIBUTE_INDEX
from vid_jax.errors import UserError

Array = jax.Array
LossFn = Callable[[Array], Array]  # [B, ...] -> [B]

NORMS = ("linf", "l2")
# Guards the L2 normalisations against division by zero; a zero gradient or a
# zero perturbation stays zero (same constant as foolbox).
_TINY = 1e-12


# ----------------------------------------------------------------- validation


def _check_norm(norm: str) -> None:
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
  return (direction * u ** (1.0 / n)).astype(x.dtype) * eps


def _input_grad(loss_fn: LossFn, x: Array) -> Array:
  # Examples are independent, so d(sum_b loss_b)/dx_b = d loss_b / dx_b.
  return jax.grad(lambda v: jnp.sum(loss_fn(v)))(x)


# -------------------------------------------------------------------- attacks


def pgd(loss_fn: LossFn, x: Array, key: Array | None, *, eps, step_size, num_steps: int,
        norm: str = "linf", random_start: bool = True, clip_min: float = -1.0,
        clip_max: float = 1.0, unroll: int | bool = 1) -> Array:
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
  _check_norm(norm)
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
  return pgd(loss_fn, x, None, eps=eps, step_size=eps, num_steps=1, norm=norm,
             random_start=False, clip_min=clip_min, clip_max=clip_max)


# --------------------------------------------------------------- loss helpers
# All return a `loss_fn` for the attacks: per-example losses [B] to maximize.
# Discriminator logits follow the GAN convention sigmoid(logit) = P(real).


def d_misclassification_loss(d_logits_fn: Callable[[Array], Array], is_real: Array) -> LossFn:
  """Pushes D to misclassify: reals toward 'fake', fakes toward 'real'.

  Args:
    d_logits_fn: images `[B, ...]` -> logits `[B]` (D in inference mode).
    is_real: `[B]` bool, the true label of each input.

  Returns:
    loss_fn(x) = log sigmoid(-logit) for reals, log sigmoid(logit) for fakes
    (minus the cross-entropy toward the wrong label).
  """
  sign = jnp.where(jnp.asarray(is_real), -1.0, 1.0)  # [B]

  def loss_fn(x):
    return jax.nn.log_sigmoid(sign * d_logits_fn(x).astype(jnp.float32))

  return loss_fn


def fakes_called_real_loss(d_logits_fn: Callable[[Array], Array]) -> LossFn:
  """loss_fn making D call its inputs real: log sigmoid(logit), `[B]`."""
  return lambda x: jax.nn.log_sigmoid(d_logits_fn(x).astype(jnp.float32))


def reals_called_fake_loss(d_logits_fn: Callable[[Array], Array]) -> LossFn:
  """loss_fn making D call its inputs fake: log sigmoid(-logit), `[B]`."""
  return lambda x: jax.nn.log_sigmoid(-d_logits_fn(x).astype(jnp.float32))


def _attribute_index(index: int | str) -> int:
  if isinstance(index, str):
    if index not in ATTRIBUTE_INDEX:
      raise UserError(f"attribute {index!r} is unknown; use a CelebA attribute name such as "
                      f"'Smiling' (see vid_jax.data.attributes.ATTRIBUTE_NAMES)")
    return ATTRIBUTE_INDEX[index]
  return index


def toward_attribute_loss(logits_fn: Callable[[Array], Array], index: int | str) -> LossFn:
  """loss_fn pushing an attribute classifier toward attribute `index`.

  Args:
    logits_fn: images `[B, ...]` -> per-attribute logits `[B, A]`
      (sigmoid(logit) = P(attribute present)).
    index: attribute column (int, possibly traced) or CelebA attribute name.

  Returns:
    loss_fn(x) = log sigmoid(logits[:, index]), `[B]`.
  """
  index = _attribute_index(index)
  return lambda x: jax.nn.log_sigmoid(logits_fn(x)[:, index].astype(jnp.float32))


def away_from_attribute_loss(logits_fn: Callable[[Array], Array], index: int | str) -> LossFn:
  """loss_fn pushing an attribute classifier away from attribute `index`.

  Returns:
    loss_fn(x) = log sigmoid(-logits[:, index]), `[B]`. Arguments as in
    `toward_attribute_loss`.
  """
  index = _attribute_index(index)
  return lambda x: jax.nn.log_sigmoid(-logits_fn(x)[:, index].astype(jnp.float32))


def cross_entropy_loss(logits_fn: Callable[[Array], Array], labels: Array) -> LossFn:
  """Untargeted classifier attack: per-example softmax cross-entropy `[B]`.

  This is the loss foolbox's gradient attacks maximize, so `pgd`/`fgsm` with
  it reproduce `foolbox.attacks.LinfPGD` / `L2PGD` / `FGSM` / `L2FGM` runs.

  Args:
    logits_fn: inputs `[B, ...]` -> class logits `[B, K]`.
    labels: `[B]` int true classes.
  """
  def loss_fn(x):
    logp = jax.nn.log_softmax(logits_fn(x).astype(jnp.float32), axis=-1)  # [B, K]
    return -jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0]

  return loss_fn


# ------------------------------------------------------ adversarial training


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
  return jnp.concatenate([real_attrs[:k_real], fake_attrs[:k_fake].astype(real_attrs.dtype)],
                         axis=0)


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
  _check_norm(norm)
  if not 0.0 <= fraction <= 1.0:
    raise ValueError(f"fraction={fraction!r} must be in [0, 1]")
  k_real = num_perturbed(real.shape[0], fraction)
  k_fake = num_perturbed(fake.shape[0], fraction)
  if (k_real == 0 and k_fake == 0) or num_steps == 0:
    return real, fake
  x = jnp.concatenate([real[:k_real], fake[:k_fake].astype(real.dtype)], axis=0)  # [k_r+k_f, ...]
  is_real = jnp.arange(k_real + k_fake) < k_real  # [k_r+k_f]
  loss_fn = d_misclassification_loss(d_logits_fn, is_real)
  x_adv = pgd(loss_fn, jax.lax.stop_gradient(x), key, eps=eps, step_size=step_size,
              num_steps=num_steps, norm=norm, random_start=True)
  x_adv = jax.lax.stop_gradient(x_adv)

  def splice(orig, adv):
    # Value: adv exactly (orig - stop_gradient(orig) == 0); gradient: identity.
    head = adv.astype(orig.dtype) + (orig[:adv.shape[0]] - jax.lax.stop_gradient(orig[:adv.shape[0]]))
    return jnp.concatenate([head, orig[adv.shape[0]:]], axis=0)

  return splice(real, x_adv[:k_real]), splice(fake, x_adv[k_real:])


# -------------------------------------------------------------- robustness


def d_accuracy(logits: Array, is_real: Array) -> Array:
  """Per-example correctness of D (logit > 0 means 'real'): `[B]` float32."""
  return ((logits > 0) == jnp.asarray(is_real)).astype(jnp.float32)


def robustness_curve(d_logits_fn, x, is_real, key, eps_grid, *, num_steps: int = 10,
                     rel_step_size: float = 2.5, norm: str = "linf",
                     clip_min: float = -1.0, clip_max: float = 1.0) -> dict[str, Array]:
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
  _check_norm(norm)
  loss_fn = d_misclassification_loss(d_logits_fn, is_real)
  eps_grid = jnp.asarray(eps_grid, x.dtype)  # [E]
  keys = jax.random.split(key, eps_grid.shape[0])

  def one(args):
    eps, k = args
    x_f = fgsm(loss_fn, x, eps=eps, norm=norm, clip_min=clip_min, clip_max=clip_max)
    x_p = pgd(loss_fn, x, k, eps=eps, step_size=rel_step_size * eps / max(num_steps, 1),
              num_steps=num_steps, norm=norm, random_start=True, clip_min=clip_min,
              clip_max=clip_max)
    return d_accuracy(d_logits_fn(x_f), is_real), d_accuracy(d_logits_fn(x_p), is_real)

  acc_fgsm, acc_pgd = jax.lax.map(one, (eps_grid, keys))  # [E, B] each
  return {"clean": d_accuracy(d_logits_fn(x), is_real), "fgsm": acc_fgsm, "pgd": acc_pgd}


def d_robustness_report(d_logits_fn, real, fake, key, eps_grid, *, real_attrs=None,
                        fake_attrs=None, num_steps: int = 10, rel_step_size: float = 2.5,
                        norm: str = "linf", batch_size: int = 64) -> dict[str, Any]:
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
  _check_norm(norm)
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
    return robustness_curve(lambda v: d_logits_fn(v, yc), xc, rc, k, eps_arr,
                            num_steps=num_steps, rel_step_size=rel_step_size, norm=norm)

  parts = []
  for i, start in enumerate(range(0, x.shape[0], chunk)):
    sl = slice(start, start + chunk)
    parts.append(jax.device_get(run_chunk(
        x[sl], is_real[sl], None if y is None else y[sl], jax.random.fold_in(key, i))))
  clean = np.concatenate([p["clean"] for p in parts])[:n]  # [N]
  fgsm_ok = np.concatenate([p["fgsm"] for p in parts], axis=1)[:, :n]  # [E, N]
  pgd_ok = np.concatenate([p["pgd"] for p in parts], axis=1)[:, :n]  # [E, N]
  is_real = is_real[:n]

  def split(ok):  # [..., N] -> mean accuracy over all / reals / fakes
    return {"all": ok.mean(-1).tolist(), "real": ok[..., is_real].mean(-1).tolist(),
            "fake": ok[..., ~is_real].mean(-1).tolist()}

  return {"eps": [float(e) for e in np.asarray(eps_grid)], "clean": split(clean),
          "fgsm": split(fgsm_ok), "pgd": split(pgd_ok)}

"""Neural style transfer (Gatys et al. 2016; AdaIN statistics, Huang & Belongie 2017) as pure JAX.

The pixels of a batch of content images are optimised so that their deep features match the
content image's (content loss) and their feature statistics match the style image's (Gram
matrices and/or per-channel mean and std), plus a total-variation term (losses.py). The loop is a
`lax.scan` of optax steps inside one `jax.jit`; several styles run at once under `jax.vmap`.

The factory `neural_style_transform(...)` follows the optax mould (NamedTuple of pure
`init`/`update` functions, state in its own NamedTuple); `neural_style` / `neural_style_multi` wrap
it in a jitted scan. Feature extractors are in extractors.py.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax

from vid_jax.errors import UserError
from vid_jax.refiners.style.extractors import Extractor, FeatureFn, get_extractor
from vid_jax.refiners.style.losses import (STYLE_KINDS, as_style_batch, content_loss, pick_content_layers,
                                           pick_style_layers, style_targets, style_term, total_variation)


class NeuralStyleState(NamedTuple):
  """State of one neural style optimisation (a pytree)."""
  images: jax.Array  # [B, H, W, 3] float32, the pixels optimised
  opt_state: optax.OptState
  targets: dict  # content features and style statistics
  feature_params: Any  # extractor params (an argument, never a constant)
  step: jax.Array  # int32 []


class NeuralStyle(NamedTuple):
  """Pure functions of a neural style transfer (optax-style factory result).

  init(content [B,H,W,3], style [H',W',3], key, feature_params=None) -> state
  update(state) -> (state, metrics dict of scalars)
  loss(images, targets, feature_params) -> (total scalar, dict of [B] terms)
  """
  init: Callable[..., NeuralStyleState]
  update: Callable[[NeuralStyleState], tuple[NeuralStyleState, dict]]
  loss: Callable[..., tuple[jax.Array, dict]]
  extractor: Extractor


def neural_style_transform(extractor: str | Extractor | FeatureFn = "random", *, style_loss: str = "gram",
                           content_weight: float = 1.0, style_weight: float = 10.0, tv_weight: float = 1.0,
                           optimizer: str = "adam", learning_rate: float = 0.03,
                           style_layers: Sequence[int] | None = None,
                           content_layers: Sequence[int] | None = None, init: str = "content",
                           init_noise: float = 0.0) -> NeuralStyle:
  """Builds the pure init/update functions of a neural style transfer.

  Args:
    extractor: see `get_extractor`.
    style_loss: "gram" (Gatys), "adain" (per-channel mean/std) or "both".
    content_weight: weight of the relative content error.
    style_weight: weight of the relative style error (mean over layers).
    tv_weight: weight of the total variation (pixels in [-1, 1]).
    optimizer: "adam" (pixels clipped to [-1, 1] after every step) or
      "lbfgs" (optax.lbfgs with zoom line search; clipped at the end; the
      line search is shared by the whole batch).
    learning_rate: Adam step size (ignored by L-BFGS, which searches it).
    style_layers: feature indices for style (None: extractor default, all).
    content_layers: feature indices for content (None: extractor default).
    init: "content" (start from the content image) or "noise" (uniform noise).
    init_noise: std of Gaussian noise added to a "content" start.

  Returns:
    NeuralStyle(init, update, loss, extractor).
  """
  ex = get_extractor(extractor)
  if style_loss not in STYLE_KINDS:
    raise UserError(f"style_loss must be one of {STYLE_KINDS}; got "
                    f"{style_loss!r}")
  if init not in ("content", "noise"):
    raise UserError(f"init must be 'content' or 'noise'; got {init!r}")
  if optimizer == "adam":
    tx = optax.adam(learning_rate)
  elif optimizer == "lbfgs":
    tx = optax.lbfgs()
  else:
    raise UserError(f"optimizer must be 'adam' or 'lbfgs'; got {optimizer!r}")
  style_layers = None if style_layers is None else tuple(style_layers)
  content_layers = None if content_layers is None else tuple(content_layers)

  def loss(images, targets, feature_params):
    feats = list(ex.apply(feature_params, images))
    n = len(feats)
    s_idx = pick_style_layers(ex, n, style_layers)
    c_idx = pick_content_layers(ex, n, content_layers)
    c = sum(content_loss(feats[i], t) for i, t in zip(c_idx, targets["content"])) / len(c_idx)
    s = style_term(feats, targets["style"], s_idx, style_loss)
    tv = total_variation(images)
    per_image = content_weight * c + style_weight * s + tv_weight * tv
    terms = {"content": c, "style": s, "tv": tv, "loss": per_image}
    # Sum over the batch: with Adam every image is optimised independently.
    return jnp.sum(per_image), terms

  def init_fn(content, style, key, feature_params=None):
    if feature_params is None:
      feature_params = ex.params
    content = jnp.asarray(content)
    if content.ndim != 4 or content.shape[-1] != 3:
      raise UserError(f"content must be [B, H, W, 3] in [-1, 1]; got shape "
                      f"{tuple(content.shape)}")
    content = content.astype(jnp.float32)
    style = as_style_batch(style)
    cf = list(ex.apply(feature_params, content))
    sf = list(ex.apply(feature_params, style))
    n = len(cf)
    s_idx = pick_style_layers(ex, n, style_layers)
    c_idx = pick_content_layers(ex, n, content_layers)
    targets = {
        "content": [jax.lax.stop_gradient(cf[i]) for i in c_idx],
        "style": jax.lax.stop_gradient(style_targets(sf, s_idx, style_loss)),
    }
    if init == "content":
      x0 = content
      if init_noise > 0:
        x0 = x0 + init_noise * jax.random.normal(key, content.shape)
    else:
      x0 = jax.random.uniform(key, content.shape, minval=-1.0, maxval=1.0)
    x0 = jnp.clip(x0, -1.0, 1.0)
    return NeuralStyleState(images=x0, opt_state=tx.init(x0), targets=targets, feature_params=feature_params,
                            step=jnp.zeros([], jnp.int32))

  def update(state):

    def value_fn(x):
      return loss(x, state.targets, state.feature_params)[0]

    if optimizer == "adam":
      (_, terms), grad = jax.value_and_grad(loss, has_aux=True)(state.images, state.targets,
                                                                state.feature_params)
      updates, opt_state = tx.update(grad, state.opt_state, state.images)
      images = jnp.clip(optax.apply_updates(state.images, updates), -1.0, 1.0)
    else:
      value, grad = optax.value_and_grad_from_state(value_fn)(state.images, state=state.opt_state)
      updates, opt_state = tx.update(grad, state.opt_state, state.images, value=value, grad=grad,
                                     value_fn=value_fn)
      images = optax.apply_updates(state.images, updates)
      terms = loss(state.images, state.targets, state.feature_params)[1]
    metrics = {k: jnp.mean(v) for k, v in terms.items()}
    return state._replace(images=images, opt_state=opt_state, step=state.step + 1), metrics

  return NeuralStyle(init=init_fn, update=update, loss=loss, extractor=ex)


@functools.lru_cache(maxsize=32)
def _runner(ex: Extractor, steps: int, multi: bool, hparams: tuple):
  """Jitted `(feature_params, content, style(s), key) -> (images, metrics)`."""
  t = neural_style_transform(ex, **dict(hparams))

  def run(feature_params, content, style, key):
    state = t.init(content, style, key, feature_params)
    state, metrics = jax.lax.scan(lambda s, _: t.update(s), state, None, length=steps)
    return jnp.clip(state.images, -1.0, 1.0), metrics  # metrics: [steps]

  if multi:
    run = jax.vmap(run, in_axes=(None, None, 0, None))
  return jax.jit(run)


def neural_style_runner(extractor: str | Extractor | FeatureFn = "random", *, steps: int = 200,
                        multi: bool = False, **hparams) -> tuple[Callable, Extractor]:
  """The jitted loop behind `neural_style`, for AOT compile or benchmarks.

  Args:
    extractor: see `get_extractor`.
    steps: optimisation steps.
    multi: vmap over a leading style axis (as `neural_style_multi`).
    **hparams: as `neural_style_transform`.

  Returns:
    (fn, extractor): `fn(extractor.params, content, style, key) -> (images,
    metrics)`, a `jax.jit` function (so `fn.lower(...).compile()` works).
  """
  if steps < 1:
    raise UserError(f"steps must be >= 1; got {steps}")
  ex = get_extractor(extractor)
  return _runner(ex, int(steps), bool(multi), tuple(sorted(_freeze(hparams).items()))), ex


def _run(content, style, key, extractor, steps, multi, hparams, return_metrics):
  if steps < 1:
    raise UserError(f"steps must be >= 1; got {steps}")
  content = jnp.asarray(content)
  if not jnp.issubdtype(content.dtype, jnp.floating):
    raise UserError(f"content must be float in [-1, 1]; got dtype "
                    f"{content.dtype} (convert uint8 with x / 127.5 - 1)")
  ex = get_extractor(extractor)
  images, metrics = _runner(ex, int(steps), multi, tuple(sorted(hparams.items())))(ex.params, content, style,
                                                                                   key)
  images = images.astype(content.dtype)
  return (images, metrics) if return_metrics else images


def _freeze(hparams: dict) -> dict:
  for k in ("style_layers", "content_layers"):
    if hparams.get(k) is not None:
      hparams[k] = tuple(hparams[k])
  return hparams


def neural_style(content: jax.Array, style: jax.Array, key: jax.Array, *,
                 extractor: str | Extractor | FeatureFn = "random", steps: int = 200,
                 return_metrics: bool = False, **hparams) -> jax.Array | tuple[jax.Array, dict]:
  """Stylizes a batch of content images with one style image.

  Args:
    content: [B, H, W, 3] in [-1, 1].
    style: [H', W', 3] in [-1, 1] (any size).
    key: PRNG key for the start image ("noise" init or `init_noise`).
    extractor: "random", "random:SEED", "discriminator:WORKDIR",
      "vgg19:PATH", an Extractor or a feature function.
    steps: optimisation steps (one lax.scan inside one jit; compiled once per
      extractor, shapes and hparams).
    return_metrics: also return the per-step metrics (dict of [steps]).
    **hparams: keyword hparams of `neural_style_transform` (style_loss,
      content_weight, style_weight, tv_weight, optimizer, learning_rate,
      style_layers, content_layers, init, init_noise).

  Returns:
    [B, H, W, 3] in [-1, 1] (the content dtype), or (images, metrics).
  """
  return _run(content, style, key, extractor, steps, False, _freeze(hparams), return_metrics)


def neural_style_multi(content: jax.Array, styles: jax.Array, key: jax.Array, *,
                       extractor: str | Extractor | FeatureFn = "random", steps: int = 200,
                       return_metrics: bool = False, **hparams) -> jax.Array | tuple[jax.Array, dict]:
  """Stylizes a batch of contents with each of several styles (vmap).

  Args:
    content: [B, H, W, 3] in [-1, 1].
    styles: [S, H', W', 3] in [-1, 1].
    key: PRNG key (shared by the styles).
    extractor, steps, return_metrics, **hparams: as in `neural_style`.

  Returns:
    [S, B, H, W, 3] in [-1, 1], or (images, metrics dict of [S, steps]).
  """
  styles = jnp.asarray(styles)
  if styles.ndim != 4 or styles.shape[-1] != 3:
    raise UserError(f"styles must be [S, H, W, 3] in [-1, 1]; got shape "
                    f"{tuple(styles.shape)}")
  return _run(content, styles, key, extractor, steps, True, _freeze(hparams), return_metrics)

"""Losses of neural style transfer, per image ([B]): content, Gram / AdaIN style, total variation.

All losses are normalised per layer by the size of their target (relative squared error), so
layers of different scale weigh alike and the weights mean the same for every extractor.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp

from vid_jax.errors import UserError
from vid_jax.refiners.style.extractors import Extractor, FeatureFn, get_extractor

_EPS = 1e-8
_HI = jax.lax.Precision.HIGHEST


def gram_matrix(features: jax.Array) -> jax.Array:
  """Gram matrix per image, normalised by the pixel count.

  Args:
    features: [B, H, W, C].

  Returns:
    float32 [B, C, C].
  """
  b, h, w, c = features.shape
  f = features.astype(jnp.float32).reshape(b, h * w, c)
  return jnp.einsum("bnc,bnd->bcd", f, f, precision=_HI) / (h * w)


def _moments(features: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Per-channel mean and std: [B, H, W, C] -> 2 x [B, C]."""
  f = features.astype(jnp.float32)
  mean = jnp.mean(f, axis=(1, 2))
  var = jnp.mean((f - mean[:, None, None, :])**2, axis=(1, 2))
  return mean, jnp.sqrt(var + _EPS)


def gram_loss(features: jax.Array, target_gram: jax.Array) -> jax.Array:
  """Relative squared Gram error ||G - T||^2 / ||T||^2.

  Args:
    features: [B, H, W, C].
    target_gram: [C, C] or [B, C, C].

  Returns:
    [B].
  """
  g = gram_matrix(features)
  t = jnp.broadcast_to(target_gram, g.shape)
  return jnp.sum((g - t)**2, axis=(1, 2)) / (jnp.sum(t * t, axis=(1, 2)) + _EPS)


def adain_loss(features: jax.Array, target_mean: jax.Array, target_std: jax.Array) -> jax.Array:
  """Relative squared error of per-channel mean and std (AdaIN statistics).

  Args:
    features: [B, H, W, C].
    target_mean: [C] or [B, C].
    target_std: [C] or [B, C].

  Returns:
    [B].
  """
  mean, std = _moments(features)
  tm = jnp.broadcast_to(target_mean, mean.shape)
  ts = jnp.broadcast_to(target_std, std.shape)
  err = jnp.sum((mean - tm)**2 + (std - ts)**2, axis=-1)
  return err / (jnp.sum(tm * tm + ts * ts, axis=-1) + _EPS)


def content_loss(features: jax.Array, target: jax.Array) -> jax.Array:
  """Relative squared feature error ||F - T||^2 / ||T||^2: [B,h,w,c] -> [B]."""
  f = features.astype(jnp.float32)
  t = target.astype(jnp.float32)
  axes = (1, 2, 3)
  return jnp.sum((f - t)**2, axis=axes) / (jnp.sum(t * t, axis=axes) + _EPS)


def total_variation(images: jax.Array) -> jax.Array:
  """Mean squared difference of neighbouring pixels: [B, H, W, C] -> [B]."""
  x = images.astype(jnp.float32)
  dy = jnp.mean((x[:, 1:] - x[:, :-1])**2, axis=(1, 2, 3))
  dx = jnp.mean((x[:, :, 1:] - x[:, :, :-1])**2, axis=(1, 2, 3))
  return dy + dx


def _layers(n: int, chosen: Sequence[int] | None, default: Sequence[int], what: str) -> tuple[int, ...]:
  idx = tuple(default if chosen is None else chosen)
  for i in idx:
    if not -n <= i < n:
      raise UserError(f"{what} layer index {i} out of range: the extractor "
                      f"returns {n} feature maps")
  if not idx:
    raise UserError(f"{what} layers are empty")
  return tuple(i % n for i in idx)


def pick_style_layers(ex: Extractor, n: int, chosen) -> tuple[int, ...]:
  return _layers(n, chosen if chosen is not None else ex.style_layers, range(n), "style")


def pick_content_layers(ex: Extractor, n: int, chosen) -> tuple[int, ...]:
  return _layers(n, chosen if chosen is not None else ex.content_layers, (n // 2,), "content")


STYLE_KINDS = ("gram", "adain", "both")


def style_targets(feats, layers, kind):
  """Targets of one style image's features (batch 1) -> dict of lists."""
  out = {}
  if kind in ("gram", "both"):
    out["gram"] = [gram_matrix(feats[i])[0] for i in layers]  # [C, C]
  if kind in ("adain", "both"):
    moments = [_moments(feats[i]) for i in layers]
    out["mean"] = [m[0] for m, _ in moments]  # [C]
    out["std"] = [s[0] for _, s in moments]  # [C]
  return out


def style_term(feats, targets, layers, kind) -> jax.Array:
  """Mean over style layers of the chosen statistics' loss -> [B]."""
  terms = []
  for j, i in enumerate(layers):
    if kind in ("gram", "both"):
      terms.append(gram_loss(feats[i], targets["gram"][j]))
    if kind in ("adain", "both"):
      terms.append(adain_loss(feats[i], targets["mean"][j], targets["std"][j]))
  return sum(terms) / len(terms)


def as_style_batch(style: jax.Array) -> jax.Array:
  style = jnp.asarray(style)
  if style.ndim == 3:
    style = style[None]
  if style.ndim != 4 or style.shape[0] != 1 or style.shape[-1] != 3:
    raise UserError(f"style must be one image [H, W, 3] in [-1, 1]; got shape "
                    f"{tuple(style.shape)} (use neural_style_multi for "
                    "several styles)")
  return style.astype(jnp.float32)


@functools.lru_cache(maxsize=32)
def _style_loss_fn(ex: Extractor, kind: str, layers: tuple[int, ...] | None):

  def fn(params, images, style):
    feats = list(ex.apply(params, images))
    sf = list(ex.apply(params, style))
    idx = pick_style_layers(ex, len(feats), layers)
    return style_term(feats, style_targets(sf, idx, kind), idx, kind)

  return jax.jit(fn)


@functools.lru_cache(maxsize=32)
def _content_loss_fn(ex: Extractor, layers: tuple[int, ...] | None):

  def fn(params, images, content):
    feats = list(ex.apply(params, images))
    cf = list(ex.apply(params, content))
    idx = pick_content_layers(ex, len(feats), layers)
    return sum(content_loss(feats[i], cf[i]) for i in idx) / len(idx)

  return jax.jit(fn)


def style_loss_value(images: jax.Array, style: jax.Array, *,
                     extractor: str | Extractor | FeatureFn = "random", kind: str = "gram",
                     layers: Sequence[int] | None = None) -> jax.Array:
  """Style loss of `images` against one style image under an extractor.

  The same (per-layer normalised) loss the optimisation uses; handy to score
  a result with a network other than the one optimised. Jitted and cached.

  Args:
    images: [B, H, W, 3] in [-1, 1].
    style: [H', W', 3] in [-1, 1].
    extractor: see `get_extractor`.
    kind: "gram", "adain" or "both".
    layers: style layer indices (None = the extractor's default).

  Returns:
    [B] relative style error (0 when the statistics match exactly).
  """
  if kind not in STYLE_KINDS:
    raise UserError(f"style loss must be one of {STYLE_KINDS}; got {kind!r}")
  ex = get_extractor(extractor)
  layers = None if layers is None else tuple(layers)
  return _style_loss_fn(ex, kind, layers)(ex.params, jnp.asarray(images), as_style_batch(style))


def content_loss_value(images: jax.Array, content: jax.Array, *,
                       extractor: str | Extractor | FeatureFn = "random",
                       layers: Sequence[int] | None = None) -> jax.Array:
  """Relative content error of `images` against `content` ([B,H,W,3]) -> [B]."""
  ex = get_extractor(extractor)
  layers = None if layers is None else tuple(layers)
  return _content_loss_fn(ex, layers)(ex.params, jnp.asarray(images), jnp.asarray(content))

"""`stylize(images, spec, ...)`: one entry point naming a look by string (tools/stylize.py --style=...)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from vid_jax.errors import UserError
from vid_jax.refiners.style.filters import CLASSIC_STYLES, reinhard
from vid_jax.refiners.style.neural import neural_style

STYLE_NAMES = tuple(CLASSIC_STYLES) + ("reinhard", "neural")


def _build(style: str, kwargs: tuple):
  fn = reinhard if style == "reinhard" else CLASSIC_STYLES[style]
  return jax.jit(functools.partial(fn, **dict(kwargs)))


_cached_build = functools.lru_cache(maxsize=64)(_build)


def _jitted(style: str, kwargs: tuple):
  """One jitted function per (look, hparams), so repeated calls reuse it."""
  try:
    return _cached_build(style, kwargs)
  except TypeError:  # unhashable hparams (e.g. a palette array): no cache
    return _build(style, kwargs)


def stylize(images: jax.Array, style: str, *, reference: jax.Array | None = None,
            key: jax.Array | None = None, **kwargs) -> jax.Array:
  """Applies a look named by string.

  Args:
    images: float [B, H, W, 3] in [-1, 1].
    style: one of STYLE_NAMES ("sketch", "cartoon", "pixel_art", "posterize",
      "duotone", "reinhard", "neural").
    reference: [H', W', 3] in [-1, 1]; required by "reinhard" (colour
      reference) and "neural" (style image).
    key: PRNG key for "neural" (default PRNGKey(0)).
    **kwargs: hparams of the chosen function (e.g. `levels=`, `extractor=`,
      `steps=`).

  Returns:
    [B, H, W, 3] in [-1, 1].
  """
  if style in CLASSIC_STYLES:
    return _jitted(style, tuple(sorted(kwargs.items())))(images)
  if style in ("reinhard", "neural"):
    if reference is None:
      raise UserError(f"style {style!r} needs a reference image "
                      f"(--style={style}:IMAGE.png)")
    reference = jnp.asarray(reference)
    if style == "reinhard":
      return _jitted(style, tuple(sorted(kwargs.items())))(images, reference)
    if key is None:
      key = jax.random.PRNGKey(0)
    return neural_style(images, reference, key, **kwargs)
  raise UserError(f"unknown style {style!r}; choose one of "
                  f"{', '.join(STYLE_NAMES)}")

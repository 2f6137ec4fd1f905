"""Style-transfer refiner: classic looks and neural style transfer.

Public API (re-exported from `vid_jax.refiners`):

* Classic looks, pure jittable batched functions on float [B, H, W, 3] in
  [-1, 1] (`style_filters`): `sketch`, `cartoon`, `pixel_art`, `reinhard`,
  `posterize`, `duotone`, plus `rgb_to_lab` / `lab_to_rgb`.
* Neural style transfer (`style_neural`): `neural_style`, `neural_style_multi`,
  the optax-style factory `neural_style_transform`, feature extractors
  (`get_extractor`, `random_extractor`, `vgg19_extractor`,
  `discriminator_extractor`) and the losses.
* `stylize(images, spec, ...)`: one entry point naming a look by string, as
  `tools/stylize.py --style=...` does.

See docs/style.md for the looks, the extractors and measured speed.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from vid_jax.errors import UserError
from vid_jax.refiners.style_filters import (CLASSIC_STYLES, cartoon, duotone,
                                            gaussian_blur, lab_to_rgb,
                                            luminance, pixel_art, posterize,
                                            reinhard, rgb_to_lab, sketch,
                                            sobel_magnitude)
from vid_jax.refiners.style_neural import (Extractor, NeuralStyle,
                                           NeuralStyleState, adain_loss,
                                           content_loss, content_loss_value,
                                           discriminator_extractor,
                                           feature_extractor, get_extractor,
                                           gram_loss, gram_matrix,
                                           neural_style, neural_style_multi,
                                           neural_style_runner,
                                           neural_style_transform,
                                           random_extractor, style_loss_value,
                                           total_variation, vgg19_extractor)

__all__ = [
    "CLASSIC_STYLES", "sketch", "cartoon", "pixel_art", "reinhard",
    "posterize", "duotone", "rgb_to_lab", "lab_to_rgb", "luminance",
    "gaussian_blur", "sobel_magnitude", "Extractor", "NeuralStyle",
    "NeuralStyleState", "get_extractor", "random_extractor",
    "vgg19_extractor", "discriminator_extractor", "feature_extractor",
    "gram_matrix", "gram_loss", "adain_loss", "content_loss",
    "total_variation", "style_loss_value", "content_loss_value",
    "neural_style_transform", "neural_style", "neural_style_multi",
    "neural_style_runner",
    "stylize", "STYLE_NAMES",
]

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

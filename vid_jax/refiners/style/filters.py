"""Classic looks as pure, jittable, batched image transforms.

Every public filter takes float images `[B, H, W, 3]` in [-1, 1] and returns
the same shape and dtype, in [-1, 1]. Hyperparameters are keyword-only Python
values (static under `jax.jit`: use `functools.partial` or `static_argnames`
to change them in jitted code); colours and reference images are arrays.
Filters act on each image independently, so a batch gives the same result as
its images one by one. The colour spaces and blurs they use are in image_ops.py.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.errors import UserError
from vid_jax.refiners.style.image_ops import (auto_sigma, check_images, from_unit, gaussian_blur, lab_to_rgb,
                                              luminance, rgb_to_lab, smoothstep, sobel_magnitude, to_unit)


def sketch(images: jax.Array, *, sigma: float | None = None, edge_strength: float = 0.3,
           pencil_gamma: float = 1.3) -> jax.Array:
  """Pencil sketch: grey, colour-dodge with the blurred inverse, darkened edges.

  Args:
    images: float [B, H, W, 3] in [-1, 1].
    sigma: blur of the inverse in pixels; None = 1/16 of the shorter side.
    edge_strength: how much Sobel edges darken the strokes, in [0, 1].
    pencil_gamma: > 1 darkens the graphite.

  Returns:
    [B, H, W, 3] grey images in [-1, 1], input dtype.
  """
  check_images(images)
  sigma = auto_sigma(images, sigma, 1 / 16)
  grey = luminance(to_unit(images))  # [B, H, W, 1]
  blurred_inv = gaussian_blur(1.0 - grey, sigma)
  # Colour dodge: bright where the neighbourhood is as bright as the pixel.
  dodge = jnp.minimum(grey / jnp.maximum(1.0 - blurred_inv, 1e-3), 1.0)
  edges = sobel_magnitude(gaussian_blur(grey, max(0.5, sigma / 8)))
  edges = smoothstep(0.1, 0.6, edges)
  out = dodge * (1.0 - edge_strength * edges)
  out = jnp.power(jnp.clip(out, 0.0, 1.0), pencil_gamma)
  return from_unit(jnp.broadcast_to(out, grey.shape[:3] + (3,)), images.dtype)


def _bilateral(x: jax.Array, *, radius: int, sigma_space: float, sigma_color: float) -> jax.Array:
  """One bilateral pass on [B, H, W, 3] in [0, 1] (colour distance in RGB)."""
  h, w = x.shape[1], x.shape[2]
  mode = "reflect" if min(h, w) > radius else "edge"
  p = jnp.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode=mode)
  num = jnp.zeros_like(x)
  den = jnp.zeros(x.shape[:3] + (1,), x.dtype)
  # Static loop over the window taps: XLA fuses it into one elementwise pass
  # (2x faster on CPU than extracting patches with a conv).
  for dy in range(-radius, radius + 1):
    for dx in range(-radius, radius + 1):
      q = p[:, radius + dy:radius + dy + h, radius + dx:radius + dx + w, :]
      d2 = jnp.sum((q - x)**2, axis=-1, keepdims=True)
      wgt = math.exp(-(dy * dy + dx * dx) / (2 * sigma_space**2)) * jnp.exp(-d2 / (2 * sigma_color**2))
      num = num + wgt * q
      den = den + wgt
  return num / den


def cartoon(images: jax.Array, *, levels: int = 6, smooth_iters: int = 4, radius: int = 2,
            sigma_color: float = 0.15, edge_threshold: float = 0.4, saturation: float = 1.2) -> jax.Array:
  """Cartoon: bilateral smoothing, banded lightness, dark outlines.

  Args:
    images: float [B, H, W, 3] in [-1, 1].
    levels: number of lightness bands (L* quantisation), >= 2.
    smooth_iters: bilateral passes (edge-preserving smoothing).
    radius: bilateral window radius in pixels.
    sigma_color: bilateral range sigma (RGB distance in [0, 1] units).
    edge_threshold: Sobel magnitude (on [0, 1] luma) where outlines start.
    saturation: chroma gain applied to a*, b*.

  Returns:
    [B, H, W, 3] in [-1, 1], input dtype.
  """
  check_images(images)
  if levels < 2:
    raise UserError(f"cartoon levels must be >= 2; got {levels}")
  u = to_unit(images)
  smooth = jax.lax.fori_loop(
      0, smooth_iters,
      lambda _, x: _bilateral(x, radius=radius, sigma_space=max(radius, 1) / 1.5, sigma_color=sigma_color), u)
  lab = rgb_to_lab(smooth * 2.0 - 1.0)
  # Cel shading: quantise lightness only, keep (boosted) smooth chroma.
  step = 100.0 / levels
  l_q = (jnp.floor(lab[..., 0:1] / step) + 0.5) * step
  lab_q = jnp.concatenate([jnp.clip(l_q, 0.0, 100.0), lab[..., 1:] * saturation], axis=-1)
  colour = to_unit(lab_to_rgb(lab_q))
  edges = sobel_magnitude(gaussian_blur(luminance(smooth), 0.7))
  ink = smoothstep(edge_threshold, 2.0 * edge_threshold, edges)
  return from_unit(colour * (1.0 - ink), images.dtype)


def _kmeans_palette(pixels: jax.Array, num_colors: int, iters: int) -> jax.Array:
  """Deterministic Lloyd k-means of one image's pixels [N, 3] -> [K, 3]."""
  n = pixels.shape[0]
  # Initialise at luma quantiles: deterministic and spread over the tones.
  order = jnp.argsort(luminance(pixels)[:, 0])
  picks = ((np.arange(num_colors) + 0.5) / num_colors * n).astype(np.int32)
  centres = pixels[order[picks]]

  def step(_, c):
    d = jnp.sum((pixels[:, None, :] - c[None, :, :])**2, axis=-1)  # [N, K]
    onehot = jax.nn.one_hot(jnp.argmin(d, axis=-1), num_colors, dtype=pixels.dtype)
    counts = jnp.sum(onehot, axis=0)[:, None]  # [K, 1]
    sums = jnp.sum(onehot[:, :, None] * pixels[:, None, :], axis=0)  # [K, 3]
    return jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), c)

  return jax.lax.fori_loop(0, iters, step, centres)


def pixel_art(images: jax.Array, *, pixel_size: int | None = None, num_colors: int = 8,
              palette: jax.Array | Sequence | None = None, kmeans_iters: int = 8) -> jax.Array:
  """Pixel art: area downsample, palette quantisation, nearest upsample.

  Args:
    images: float [B, H, W, 3] in [-1, 1].
    pixel_size: side of one art pixel in image pixels; None = 1/32 of the
      shorter side (a 32-pixel sprite), at least 1.
    num_colors: palette size when `palette` is None (per-image k-means).
    palette: optional fixed palette [K, 3] in [-1, 1] shared by all images.
    kmeans_iters: Lloyd iterations of the per-image palette.

  Returns:
    [B, H, W, 3] in [-1, 1], input dtype.
  """
  check_images(images)
  if pixel_size is None:
    pixel_size = max(1, min(images.shape[1], images.shape[2]) // 32)
  if pixel_size < 1:
    raise UserError(f"pixel_size must be >= 1; got {pixel_size}")
  b, h, w, _ = images.shape
  sh, sw = -(-h // pixel_size), -(-w // pixel_size)
  x = images.astype(jnp.float32)
  small = jax.image.resize(x, (b, sh, sw, 3), method="linear", antialias=True)
  pixels = small.reshape(b, sh * sw, 3)  # [B, N, 3]
  if palette is None:
    if num_colors < 2:
      raise UserError(f"num_colors must be >= 2; got {num_colors}")
    pal = jax.vmap(lambda p: _kmeans_palette(p, num_colors, kmeans_iters))(pixels)  # [B, K, 3]
  else:
    pal = jnp.asarray(palette, jnp.float32)
    if pal.ndim != 2 or pal.shape[-1] != 3:
      raise UserError(f"palette must be [K, 3] in [-1, 1]; got {pal.shape}")
    pal = jnp.broadcast_to(pal, (b,) + pal.shape)
  d = jnp.sum((pixels[:, :, None, :] - pal[:, None, :, :])**2, axis=-1)
  idx = jnp.argmin(d, axis=-1)  # [B, N]
  quant = jnp.take_along_axis(pal, idx[:, :, None], axis=1)  # [B, N, 3]
  quant = quant.reshape(b, sh, sw, 3)
  big = jnp.repeat(jnp.repeat(quant, pixel_size, axis=1), pixel_size, axis=2)
  return jnp.clip(big[:, :h, :w, :], -1.0, 1.0).astype(images.dtype)


def _lab_stats(lab: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Per-image, per-channel mean and std over pixels: [B,H,W,3] -> 2x[B,1,1,3]."""
  mean = jnp.mean(lab, axis=(1, 2), keepdims=True)
  std = jnp.sqrt(jnp.mean((lab - mean)**2, axis=(1, 2), keepdims=True))
  return mean, std


def reinhard(images: jax.Array, reference: jax.Array, *, strength: float = 1.0,
             eps: float = 1e-6) -> jax.Array:
  """Reinhard et al. (2001) colour transfer with statistics in CIE L*a*b*.

  Each image's per-channel Lab mean and std are mapped to the reference's.
  Colours that land outside the sRGB gamut are clipped, which is the only
  way the output statistics can differ from the reference's.

  Args:
    images: float [B, H, W, 3] in [-1, 1].
    reference: float [H', W', 3] in [-1, 1] shared by the batch, or
      [B, H', W', 3], one reference per image.
    strength: 1 = full transfer, 0 = identity (linear in Lab).
    eps: guards the division for flat channels.

  Returns:
    [B, H, W, 3] in [-1, 1], input dtype.
  """
  check_images(images)
  reference = jnp.asarray(reference)
  if reference.ndim == 3:
    reference = reference[None]
  check_images(reference, "reference")
  if reference.shape[0] not in (1, images.shape[0]):
    raise UserError(f"reference batch {reference.shape[0]} does not match images batch "
                    f"{images.shape[0]}; give one [H, W, 3] reference or one per image")
  lab = rgb_to_lab(images)
  mu, sd = _lab_stats(lab)
  mu_r, sd_r = _lab_stats(rgb_to_lab(reference))
  out = (lab - mu) * (sd_r / (sd + eps)) + mu_r
  out = lab + strength * (out - lab)
  return lab_to_rgb(out, images.dtype)


def posterize(images: jax.Array, *, levels: int = 4) -> jax.Array:
  """Posterize: `levels` evenly spaced values per RGB channel (incl. -1, 1).

  Args:
    images: float [B, H, W, 3] in [-1, 1].
    levels: values per channel, >= 2.

  Returns:
    [B, H, W, 3] in [-1, 1], input dtype.
  """
  check_images(images)
  if levels < 2:
    raise UserError(f"posterize levels must be >= 2; got {levels}")
  u = to_unit(images)
  q = jnp.clip(jnp.floor(u * levels), 0, levels - 1) / (levels - 1)
  return from_unit(q, images.dtype)


def duotone(images: jax.Array, *, dark: Sequence[float] | jax.Array = (-0.75, -0.85, -0.35),
            light: Sequence[float] | jax.Array = (1.0, 0.8, 0.45), contrast: float = 1.2) -> jax.Array:
  """Duotone: luma mapped onto the line between two colours.

  Args:
    images: float [B, H, W, 3] in [-1, 1].
    dark: RGB in [-1, 1] for black (default deep indigo).
    light: RGB in [-1, 1] for white (default warm peach).
    contrast: slope of the luma curve around mid-grey.

  Returns:
    [B, H, W, 3] in [-1, 1], input dtype.
  """
  check_images(images)
  dark = jnp.asarray(dark, jnp.float32).reshape(3)
  light = jnp.asarray(light, jnp.float32).reshape(3)
  t = luminance(to_unit(images))  # [B, H, W, 1]
  t = jnp.clip((t - 0.5) * contrast + 0.5, 0.0, 1.0)
  out = dark + (light - dark) * t  # [B, H, W, 3]
  return jnp.clip(out, -1.0, 1.0).astype(images.dtype)


# Filters that need nothing but images (what `tools/stylize.py` can name).
CLASSIC_STYLES = {
    "sketch": sketch,
    "cartoon": cartoon,
    "pixel_art": pixel_art,
    "posterize": posterize,
    "duotone": duotone,
}

"""How clean and sharp images are: the grain, checkerboard and blur a GAN adds to flat cartoons.

Three figures of an image set, each the mean over images of a per-image value computed on the
luminance (Rec. 601 weights, [0, 1] scale):

  high_frequency_energy  the share of the (mean-removed) spectral energy at and beyond the
                         Nyquist radius (period-2 stripes, pixel checkerboard): grain and
                         checkerboard raise it, blur lowers it
  edge_gradient          the mean gradient magnitude over each image's steepest 10% of pixels:
                         how crisp its edges are; blur lowers it
  flatness               the fraction of pixels whose 3x3 neighbourhood is flat (luminance std
                         under 4/255): the flat colour regions of clean cartoons; noise lowers it

Read each next to its value on real images (vid_jax.evaluators.sharpness reports both); the
figures measured on avatars and on degraded avatars are in docs/metrics.md ("Sharpness").
Images are uint8 [N, H, W, 3] (read as x / 255) or float [N, H, W, 3] in [-1, 1] (read as
(x + 1) / 2): the same picture gives the same numbers either way.
"""
from __future__ import annotations

import numpy as np

# Rec. 601 luma weights of R, G, B.
LUMA = np.array([0.299, 0.587, 0.114])
# high_frequency_energy's default cutoff, in units of the Nyquist radius. Anti-aliased cartoons have
# almost no energy out there (0.3% at 64x64) while grain keeps its share under blur; at lower
# cutoffs the edges' energy dominates, and a blurred, grainy image scores below the clean one
# (avatars blurred by 1 px plus noise of 8/255: 0.48x at 0.5, 2.1x at 1; docs/metrics.md, "Sharpness").
HF_CUTOFF = 1.0
EDGE_FRACTION = 0.1  # edge_gradient: the steepest fraction of each image's pixels
FLAT_STD = 4.0 / 255.0  # flatness: the 3x3 luminance std under which a pixel counts as flat


def luminance(images) -> np.ndarray:
  """float64 [N, H, W] in [0, 1] of uint8 or [-1, 1] float images [N, H, W, 3]."""
  x = np.asarray(images)
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"expected images [N, H, W, 3], got shape {x.shape}")
  x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else (x.astype(np.float64) + 1.0) / 2.0
  return x @ LUMA


def high_frequency_energy(images, *, cutoff: float = HF_CUTOFF) -> float:
  """The share of spectral energy at radius >= `cutoff` x Nyquist, averaged over images.

  The luminance of each image, its mean removed, goes through a 2-D FFT (periodic: no window);
  a frequency (fy, fx) in cycles per pixel lies at radius sqrt(fy² + fx²) / 0.5: 1 at the
  Nyquist frequency of one axis (stripes of period 2 px), sqrt(2) in the corners (a pixel
  checkerboard), 0.5 for a period of 4 px. A flat image has no energy and scores 0.

  Args:
    images: uint8 or [-1, 1] float [N, H, W, 3].
    cutoff: the radius, in units of the Nyquist frequency, from which energy counts as high
      (the default 1 leaves out period-4 patterns; 0.5 counts them, and the edges' energy too).

  Returns:
    A float in [0, 1].
  """
  y = luminance(images)
  y = y - y.mean(axis=(1, 2), keepdims=True)
  power = np.abs(np.fft.fft2(y))**2  # [N, H, W]
  fy = np.fft.fftfreq(y.shape[1])[:, None]
  fx = np.fft.fftfreq(y.shape[2])[None, :]
  high = np.sqrt(fy**2 + fx**2) / 0.5 >= cutoff - 1e-9  # [H, W]; the tolerance: 1/n is inexact
  total = power.sum(axis=(1, 2))
  share = np.where(total > 0, (power * high).sum(axis=(1, 2)) / np.maximum(total, 1e-300), 0.0)
  return float(np.mean(share))


def gradient_magnitude(images) -> np.ndarray:
  """float64 [N, H - 1, W - 1]: |(dy, dx)| of the luminance by forward differences."""
  y = luminance(images)
  dy = y[:, 1:, :-1] - y[:, :-1, :-1]
  dx = y[:, :-1, 1:] - y[:, :-1, :-1]
  return np.sqrt(dy**2 + dx**2)


def edge_gradient(images, *, fraction: float = EDGE_FRACTION) -> float:
  """The mean gradient magnitude over each image's edge pixels, averaged over images.

  Edge pixels are the ceil(fraction x pixels) with the largest gradient magnitude
  (`gradient_magnitude`, luminance in [0, 1] per pixel step) of that image: a crisp edge is a
  step of a pixel, a blurred one spreads the same step over several smaller ones.

  Args:
    images: uint8 or [-1, 1] float [N, H, W, 3], H and W >= 2.
    fraction: in (0, 1], the share of pixels that count as edges.

  Returns:
    A float >= 0 (0 for flat images; at most sqrt(2)).
  """
  if not 0.0 < fraction <= 1.0:
    raise ValueError(f"fraction={fraction}: must be in (0, 1]")
  g = gradient_magnitude(images).reshape(len(images), -1)
  k = int(np.ceil(fraction * g.shape[1]))
  top = np.partition(g, g.shape[1] - k, axis=1)[:, g.shape[1] - k:]
  return float(np.mean(top))


def local_std(images) -> np.ndarray:
  """float64 [N, H - 2, W - 2]: the luminance std of each pixel's 3x3 neighbourhood (interior)."""
  y = luminance(images)
  h, w = y.shape[1] - 2, y.shape[2] - 2
  if h < 1 or w < 1:
    raise ValueError(f"images {y.shape[1]}x{y.shape[2]}: need at least 3x3")
  s1 = np.zeros((len(y), h, w))
  s2 = np.zeros((len(y), h, w))
  for i in range(3):
    for j in range(3):
      window = y[:, i:i + h, j:j + w]
      s1 += window
      s2 += window**2
  return np.sqrt(np.maximum(s2 / 9 - (s1 / 9)**2, 0.0))


def flatness(images, *, threshold: float = FLAT_STD) -> float:
  """The fraction of pixels whose 3x3 luminance std is under `threshold`, averaged over images.

  Args:
    images: uint8 or [-1, 1] float [N, H, W, 3], H and W >= 3.
    threshold: luminance std on the [0, 1] scale.

  Returns:
    A float in [0, 1]: 1 for a flat image; ~0.75 for clean 64x64 avatars, ~0 under visible noise.
  """
  return float(np.mean(local_std(images) < threshold))


def sharpness_metrics(images) -> dict[str, float]:
  """{"hf_energy", "edge_gradient", "flatness"} of images at the default settings."""
  return {
      "hf_energy": high_frequency_energy(images),
      "edge_gradient": edge_gradient(images),
      "flatness": flatness(images),
  }

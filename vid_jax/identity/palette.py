"""Colour palettes, colour histograms and patterns drawn in a palette, as pure JAX functions.

The cover (vid_jax.identity.cover) draws in its avatar's palette (`palette_stats`, `recolour`,
`pattern`) and is judged by colour histograms: `palette_match` asks whether each cover's
nearest avatar, by histogram distance, is its own. Images are float [N, H, W, 3] in [-1, 1];
palettes are in [0, 1].
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from vid_jax.errors import UserError

MAX_PALETTE_PIXELS = 1024  # k-means sees at most about this many pixels per image (a strided grid)
HISTOGRAM_PIXELS = 16384  # histograms count about this many pixels per image (a strided grid)
_LUMA = jnp.array([0.299, 0.587, 0.114], jnp.float32)  # Rec. 601, on gamma-encoded RGB


def check_images(images, name: str = "images") -> None:
  """UserError unless `images` is [N, H, W, 3]."""
  if images.ndim != 4 or images.shape[-1] != 3:
    raise UserError(f"{name} must be RGB images [N, H, W, 3]; got shape {tuple(images.shape)}")


def _grid_pixels(images, max_pixels: int):
  """[N, H, W, 3] in [-1, 1] -> [N, P, 3] in [0, 1]: a strided grid of about max_pixels pixels."""
  n, h, w, _ = images.shape
  stride = max(1, int((h * w / max_pixels)**0.5))
  unit = (images[:, ::stride, ::stride, :].astype(jnp.float32) + 1.0) * 0.5
  return jnp.clip(unit, 0.0, 1.0).reshape(n, -1, 3)


def _kmeans(pixels, k: int, iters: int):
  """Lloyd's k-means of one image's pixels [P, 3] -> (centres [k, 3], counts [k], per-channel
  std of each cluster [k, 3]).

  Deterministic farthest-point initialisation (the first centre is the pixel nearest the mean
  colour, each next one the pixel farthest from those chosen): unlike luma quantiles it finds
  small regions of a distinct hue (an earring, a hat) that share the luma of a large region.
  """
  first = pixels[jnp.argmin(jnp.sum(jnp.square(pixels - pixels.mean(0)), -1))]
  centres = [first]
  dmin = jnp.sum(jnp.square(pixels - first), -1)  # [P]
  for _ in range(k - 1):
    c = pixels[jnp.argmax(dmin)]
    centres.append(c)
    dmin = jnp.minimum(dmin, jnp.sum(jnp.square(pixels - c), -1))
  centres = jnp.stack(centres)  # [k, 3]

  def assign(c):
    d = jnp.sum(jnp.square(pixels[:, None, :] - c[None, :, :]), -1)  # [P, k]
    return jax.nn.one_hot(jnp.argmin(d, -1), k, dtype=pixels.dtype)  # [P, k]

  def step(_, c):
    onehot = assign(c)
    counts = onehot.sum(0)[:, None]  # [k, 1]
    sums = onehot.T @ pixels  # [k, 3]
    return jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), c)  # empty clusters stay

  centres = jax.lax.fori_loop(0, iters, step, centres)
  onehot = assign(centres)
  counts = onehot.sum(0)  # [k]
  var = (onehot.T @ jnp.square(pixels - centres[jnp.argmax(onehot, -1)])) / jnp.maximum(counts, 1.0)[:, None]
  return centres, counts, jnp.sqrt(var)


@functools.partial(jax.jit, static_argnames=("k", "iters"))
def palette_stats(images, *, k: int = 5, iters: int = 10):
  """Each image's k dominant colours, the fraction of pixels nearest each and their spread.

  Args:
    images: float [N, H, W, 3] in [-1, 1].
    k: colours per palette.
    iters: Lloyd iterations (in a lax.fori_loop).

  Returns:
    (palette [N, k, 3] in [0, 1], weights [N, k] summing to 1, std [N, k, 3] of each colour's
    pixels per channel), colours sorted by weight, largest first (for avatars, usually the
    background).
  """
  pixels = _grid_pixels(images, MAX_PALETTE_PIXELS)  # [N, P, 3]
  centres, counts, std = jax.vmap(lambda p: _kmeans(p, k, iters))(pixels)
  order = jnp.argsort(-counts, axis=-1, stable=True)  # [N, k]
  take = lambda a: jnp.take_along_axis(a, order[..., None], axis=1)
  weights = jnp.take_along_axis(counts, order, axis=1) / pixels.shape[1]
  return take(centres), weights, take(std)


def palette_and_weights(images, *, k: int = 5, iters: int = 10):
  """(palette [N, k, 3] in [0, 1], weights [N, k]) of images [N, H, W, 3]: see palette_stats."""
  return palette_stats(images, k=k, iters=iters)[:2]


def extract_palette(images, *, k: int = 5, iters: int = 10):
  """images [N, H, W, 3] in [-1, 1] -> palette [N, k, 3] in [0, 1], most frequent colour first."""
  check_images(images)
  if k < 1 or iters < 0:
    raise UserError(f"palette size k={k} must be >= 1 and iters={iters} >= 0")
  return palette_and_weights(jnp.asarray(images), k=k, iters=iters)[0]


def recolour(images, palette, *, strength: float = 0.5, temperature: float = 0.01):
  """Pulls every pixel toward a soft choice of its nearest palette colours (continuous, so
  smooth images stay smooth).

  Args:
    images: float [..., H, W, 3] in [-1, 1].
    palette: [..., k, 3] in [0, 1], leading axes as images'.
    strength: 0 keeps the image, 1 replaces each pixel by the soft nearest colour.
    temperature: softmax temperature on squared RGB distance ([0, 1] units).

  Returns:
    [..., H, W, 3] in [-1, 1].
  """
  unit = (images + 1.0) * 0.5
  d = jnp.sum(jnp.square(unit[..., None, :] - palette[..., None, None, :, :]), -1)  # [..., H, W, k]
  soft = jnp.einsum("...hwk,...kc->...hwc", jax.nn.softmax(-d / temperature, -1), palette)
  return jnp.clip(unit + strength * (soft - unit), 0.0, 1.0) * 2.0 - 1.0


@functools.partial(jax.jit, static_argnames=("bins",))
def colour_histograms(images, *, bins: int = 8):
  """Normalised joint RGB histograms: [N, H, W, 3] in [-1, 1] -> [N, bins ** 3] summing to 1.

  Large images are counted on a strided grid of about HISTOGRAM_PIXELS pixels.
  """
  pixels = _grid_pixels(images, HISTOGRAM_PIXELS)  # [N, P, 3]
  q = jnp.clip((pixels * bins).astype(jnp.int32), 0, bins - 1)
  flat = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]  # [N, P]
  counts = jax.vmap(lambda f: jnp.bincount(f, length=bins**3))(flat)
  return counts.astype(jnp.float32) / pixels.shape[1]


@functools.partial(jax.jit, static_argnames=("bins",))
def _match(avatars, covers, *, bins: int):
  ha = colour_histograms(avatars, bins=bins)  # [N, D]
  hc = colour_histograms(covers, bins=bins)  # [N, D]
  dist = jnp.sum(jnp.abs(hc[:, None, :] - ha[None, :, :]), -1)  # [N covers, N avatars], L1
  nearest = jnp.argmin(dist, axis=1)
  return jnp.mean(nearest == jnp.arange(avatars.shape[0])), nearest


def palette_match(avatars, covers, *, bins: int = 8) -> float:
  """The fraction of identities i whose cover's nearest avatar, by the L1 distance between
  joint RGB histograms (bins per channel), is avatar i.

  Args:
    avatars: float [N, R, R, 3] in [-1, 1].
    covers: float [N, H, W, 3] in [-1, 1], cover i made for avatar i.
    bins: histogram bins per channel.
  """
  check_images(avatars, "avatars")
  check_images(covers, "covers")
  if avatars.shape[0] != covers.shape[0] or avatars.shape[0] < 2:
    raise UserError(f"palette_match needs as many covers as avatars (>= 2); got "
                    f"{covers.shape[0]} covers for {avatars.shape[0]} avatars")
  return float(_match(jnp.asarray(avatars), jnp.asarray(covers), bins=bins)[0])


def luma(unit):
  """Rec. 601 luma of RGB in [0, 1]: [..., 3] -> [...]."""
  return unit @ _LUMA


# ----------------------------------------------------------------------------
# Pattern.


def _pattern_field(seed, height: int, width: int):
  """A smooth scalar field [H, W] chosen and laid out by `seed`: wavy stripes, interfering
  waves or Gaussian blobs (seed % 3). Coordinates are in units of the banner height."""
  k = jax.random.split(jax.random.PRNGKey(seed), 8)
  y = (jnp.arange(height) + 0.5)[:, None] / height  # [H, 1]
  x = (jnp.arange(width) + 0.5)[None, :] / height  # [1, W]
  u = lambda key, shape, lo, hi: jax.random.uniform(key, shape, minval=lo, maxval=hi)
  # Wavy stripes: one direction, a slow sinusoidal warp.
  th = u(k[0], (), -1.2, 1.2)
  warp = u(k[1], (3,), 0.0, 1.0) * jnp.array([1.5, 2.0, 2 * jnp.pi])  # amplitude, freq, phase
  stripes = jnp.sin(2 * jnp.pi * u(k[2], (), 1.5, 4.0) * (x * jnp.cos(th) + y * jnp.sin(th)) +
                    warp[0] * jnp.sin(2 * jnp.pi * warp[1] * x + warp[2]))
  # Interfering waves: four plane waves of random direction, frequency and phase.
  ang, freq, ph = u(k[3], (3, 4, 1, 1), 0.0, 1.0)
  waves = jnp.sum(
      jnp.sin(2 * jnp.pi * (0.5 + 2 * freq) *
              (x * jnp.cos(2 * jnp.pi * ang) + y * jnp.sin(2 * jnp.pi * ang)) + 2 * jnp.pi * ph), 0)
  # Blobs: a dozen Gaussians of either sign over the banner.
  cx = u(k[4], (12, 1, 1), 0.0, width / height)
  cy = u(k[5], (12, 1, 1), 0.0, 1.0)
  r = u(k[6], (12, 1, 1), 0.08, 0.3)
  sign = jnp.where(jax.random.bernoulli(k[7], 0.6, (12, 1, 1)), 1.0, -1.0)
  blobs = jnp.sum(sign * jnp.exp(-(jnp.square(x - cx) + jnp.square(y - cy)) / (2 * r * r)), 0)
  return jnp.stack([stripes, waves, blobs])[seed % 3]


def _texture(seed, height: int, width: int):
  """Smooth noise [H, W, 1] of unit variance: 16 plane waves of 4 to 10 cycles per banner
  height, directions and phases seeded. One field for all channels: shading along each
  colour's spread, not confetti."""
  k = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1), 3)
  y = (jnp.arange(height) + 0.5)[:, None, None, None] / height
  x = (jnp.arange(width) + 0.5)[None, :, None, None] / height
  ang = jax.random.uniform(k[0], (1, 16), maxval=2 * jnp.pi)
  freq = jax.random.uniform(k[1], (1, 16), minval=4.0, maxval=10.0)
  phase = jax.random.uniform(k[2], (1, 16), maxval=2 * jnp.pi)
  waves = jnp.sin(2 * jnp.pi * freq * (x * jnp.cos(ang) + y * jnp.sin(ang)) + phase)  # [H, W, 1, 16]
  return jnp.sum(waves, -1) / jnp.sqrt(8.0)


def pattern(seed, pal, weights, std, *, height: int, width: int, softness: float = 1.0, texture: float = 1.0):
  """A pattern seeded by `seed`, drawn in a palette in the palette's proportions.

  Palette colours, ordered by luma, fill the quantile bands of a seeded field (_pattern_field),
  each colour covering its weight's share of the pixels; each region gets smooth noise of the
  spread of that colour's pixels in the source image. vmap it over identities.

  Args:
    seed: int (may be traced), e.g. cover.handle_seed(handle).
    pal: [k, 3] in [0, 1]; weights: [k] summing to 1; std: [k, 3] (palette_stats).
    height, width: pixels.
    softness: width of the anti-aliased edges between regions, in pixels.
    texture: noise amplitude in units of std (0 = flat colours).

  Returns:
    [height, width, 3] in [-1, 1].
  """
  f = _pattern_field(seed, height, width)
  order = jnp.argsort(luma(pal))
  pal, weights, std = pal[order], weights[order], std[order]
  thresholds = jnp.quantile(f.reshape(-1), jnp.cumsum(weights)[:-1])  # [k - 1]
  # (f - t) / |grad f| ~ the distance in pixels to the edge: edges `softness` pixels wide
  # everywhere, however steep the field is there.
  gy, gx = jnp.gradient(f)
  grad = jnp.sqrt(gy * gy + gx * gx)
  grad = jnp.maximum(grad, 0.05 * jnp.mean(grad) + 1e-6)[..., None]
  steps = jax.nn.sigmoid((f[..., None] - thresholds) / (softness * grad))  # [H, W, k - 1]
  blend = lambda v: v[0] + jnp.einsum("hwk,kc->hwc", steps, v[1:] - v[:-1])  # per region
  unit = blend(pal) + texture * blend(std) * _texture(seed, height, width)
  return jnp.clip(unit, 0.0, 1.0) * 2.0 - 1.0

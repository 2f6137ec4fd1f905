"""The cover: a wide banner (576x192 by default, 3:1) that belongs with the avatar.

Two ways to draw it, both pure jitted JAX functions batched over identities (docs/identity.md):

* "tiles" (outpainting by inversion): square tiles from latents next to the avatar's z
  (z + steps along a random direction), made by the avatar's own generator, upscaled to the
  banner's height and laid side by side. Adam (optax, in a lax.scan) moves the tiles' latents
  so that each tile's edge continues its neighbour's (the jump across a seam ~ the local
  slope), with a term keeping them near their start; what mismatch remains is spread over a
  band each side of the seam (a gradient-domain feather). Then every pixel is pulled toward
  the avatar's palette.
* "pattern": a procedural pattern (wavy stripes, interfering waves or blobs) seeded by the
  handle, coloured with the avatar's k-means palette in the proportions the avatar uses them.

Measures: `palette_match` (vid_jax.identity.palette) and `seam_smoothness`.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import time
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from vid_jax.errors import UserError
from vid_jax.identity import palette as palette_lib

MODES = ("tiles", "pattern")
# Pattern by default: it matches the avatar's colours by construction (the avatar's palette in
# the avatar's proportions), has no seams, costs no generator passes, and a given handle always
# gets the same layout. Tiles look more like the avatar's world but cost seam_steps generator
# forward + backward passes and their seams need the feather (docs/identity.md, "Cover").
DEFAULT_MODE = "pattern"

GenerateFn = Callable[[jax.Array, jax.Array | None], jax.Array]  # (z [B, zd], y [B, A]) -> [B, R, R, 3]


@dataclasses.dataclass(frozen=True)
class CoverOptions:
  """How covers are drawn (hashable: static under jit).

  Attributes:
    mode: "tiles" or "pattern".
    height: banner height in pixels (tiles are height x height).
    width: banner width; for tiles a multiple of height (>= 2 tiles).
    palette_size: colours in the avatar's palette (k-means k).
    palette_iters: Lloyd iterations of the palette.
    spread: tiles: latent step between neighbouring tiles, in units of sqrt(z_dim) (|z|).
    seam_steps: tiles: Adam steps on the tiles' latents (0 = no seam optimisation).
    seam_lr: tiles: Adam learning rate.
    near_weight: tiles: weight of mean((w - w_start)^2) per tile against the seam loss.
    feather: tiles: half-width, in banner pixels, of the band that absorbs what seam mismatch
      is left (0 = none); at most a half tile.
    recolour: tiles: strength of the pull toward the avatar's palette (0 = none, 1 = snap).
    softness: pattern: width of the edges between colour regions, in pixels (anti-aliasing).
    texture: pattern: smooth noise in each region, in units of the spread (std) of that
      colour's pixels in the avatar (0 = flat colours).
  """
  mode: str = DEFAULT_MODE
  height: int = 192
  width: int = 576
  palette_size: int = 8
  palette_iters: int = 10
  spread: float = 0.25
  seam_steps: int = 60
  seam_lr: float = 0.05
  near_weight: float = 2.0
  feather: int = 24
  recolour: float = 0.25
  softness: float = 1.0
  texture: float = 1.0

  def check(self) -> "CoverOptions":
    """Returns self, or raises UserError naming the bad field."""
    if self.mode not in MODES:
      raise UserError(f"cover mode {self.mode!r} is unknown; use one of {', '.join(MODES)}")
    if self.height < 8 or self.width < self.height:
      raise UserError(f"cover size {self.width}x{self.height}: need height >= 8 and width >= height")
    if self.mode == "tiles" and (self.width % self.height or self.width // self.height < 2):
      raise UserError(f"tiles need a width that is a multiple (>= 2) of the height; got "
                      f"{self.width}x{self.height} (e.g. 576x192)")
    if not 0 <= self.feather <= self.height // 2:
      raise UserError(f"feather={self.feather} must be in [0, height / 2 = {self.height // 2}]")
    if self.palette_size < 1 or self.palette_iters < 0 or self.seam_steps < 0:
      raise UserError("palette_size must be >= 1, palette_iters and seam_steps >= 0")
    if not (0 <= self.recolour <= 1 and self.seam_lr > 0 and self.near_weight >= 0 and self.spread >= 0 and
            self.softness > 0 and self.texture >= 0):
      raise UserError("need 0 <= recolour <= 1, seam_lr > 0, near_weight >= 0, spread >= 0, "
                      "softness > 0, texture >= 0")
    return self


def handle_seed(handle: str) -> int:
  """A stable 31-bit seed of a handle (the same on every machine and run, unlike hash())."""
  return int.from_bytes(hashlib.blake2b(handle.encode("utf-8"), digest_size=4).digest(),
                        "little") & 0x7FFFFFFF


# ----------------------------------------------------------------------------
# Seams: the loss the tiles minimise and the measure reported.


def seam_loss(tiles):
  """Per identity, sum over seams of mean (jump - local slope)^2 across the seam.

  Args:
    tiles: [N, T, H, W, 3], tile t to the left of tile t + 1.

  Returns:
    [N]; 0 when each seam steps like the pixels next to it.
  """
  left, right = tiles[:, :-1], tiles[:, 1:]  # [N, T-1, H, W, 3]
  jump = right[..., :, 0, :] - left[..., :, -1, :]  # [N, T-1, H, 3]
  slope = 0.5 * ((left[..., :, -1, :] - left[..., :, -2, :]) + (right[..., :, 1, :] - right[..., :, 0, :]))
  return jnp.mean(jnp.square(jump - slope), axis=(-2, -1)).sum(-1)


@functools.partial(jax.jit, static_argnames=("tile_width", "band"))
def seam_gradients(covers, tile_width: int, *, band: int = 1):
  """Mean |horizontal gradient| across seams and inside tiles, per image.

  Seams sit at columns tile_width * j. A column difference x[:, c + 1] - x[:, c] is "across"
  a seam s when |c + 1 - s| < band (band 1: only the pair straddling it).

  Args:
    covers: [N, H, W, 3].
    tile_width: pixels between seams.
    band: see above.

  Returns:
    (across [N], inside [N]).
  """
  w = covers.shape[2]
  if w <= tile_width:
    raise UserError(f"no seam: covers are {w} wide and tiles {tile_width}")
  g = jnp.mean(jnp.abs(jnp.diff(covers, axis=2)), axis=(1, 3))  # [N, W - 1]
  seams = jnp.arange(tile_width, w, tile_width)  # [S]
  c = jnp.arange(w - 1)
  across = jnp.any(jnp.abs(c[:, None] + 1 - seams[None, :]) < band, axis=1)  # [W - 1]
  mean = lambda m: jnp.sum(g * m, -1) / jnp.maximum(jnp.sum(m), 1)
  return mean(across), mean(~across)


def seam_smoothness(covers, tile_width: int, *, band: int = 1) -> float:
  """Mean |gradient| across seams / mean |gradient| inside tiles (1 = seams invisible to this
  measure; the issue asks <= 1.5). covers: [N, H, W, 3]."""
  across, inside = seam_gradients(jnp.asarray(covers), tile_width, band=band)
  return float(jnp.mean(across) / jnp.maximum(jnp.mean(inside), 1e-12))


def _seam_pair(covers, tile_width: int):
  """[N, 2]: (across, inside) of seam_gradients, stacked for the info dict."""
  return jnp.stack(seam_gradients(covers, tile_width), axis=-1)


def ratio_of_means(pairs) -> float:
  """seam_smoothness from stacked (across, inside) pairs [N, 2] (e.g. info["seam_gradients"])."""
  return float(jnp.mean(pairs[:, 0]) / jnp.maximum(jnp.mean(pairs[:, 1]), 1e-12))


@functools.partial(jax.jit, static_argnames=("tile_width", "band"))
def feather_seams(banner, tile_width: int, band: int):
  """Removes each seam's excess jump (jump - local slope) with linear ramps over `band` pixels
  each side: half the excess added on the left, half taken off the right, so the seam steps
  like its neighbours and the tiles' details stay sharp (no cross-fade ghosts).

  Args:
    banner: [N, H, W, 3]; seams at multiples of tile_width.
    tile_width: pixels between seams.
    band: ramp half-width in pixels, 1 <= band <= tile_width / 2 (0 = return banner).

  Returns:
    [N, H, W, 3].
  """
  if band == 0:
    return banner
  w = banner.shape[2]
  x = jnp.arange(w, dtype=banner.dtype)
  out = banner
  for s in range(tile_width, w, tile_width):
    a, b = banner[:, :, s - 1, :], banner[:, :, s, :]  # [N, H, 3]
    slope = 0.5 * ((a - banner[:, :, s - 2, :]) + (banner[:, :, s + 1, :] - b))
    excess = (b - a) - slope
    left = jnp.clip((x - (s - 1 - band)) / band, 0.0, 1.0) * (x < s)  # 1 at s - 1, 0 at s - 1 - band
    right = jnp.clip((s + band - x) / band, 0.0, 1.0) * (x >= s)  # 1 at s, 0 at s + band
    out = out + 0.5 * excess[:, :, None, :] * (left - right)[None, None, :, None]
  return out


# ----------------------------------------------------------------------------
# Tiles.


def tile_latents(key, z, *, num_tiles: int, spread: float):
  """Start latents [N, T, zd]: z + (t - (T - 1) / 2) * spread * sqrt(zd) * d, d a random unit
  direction per identity (the middle tile starts at z when T is odd)."""
  d = jax.random.normal(key, z.shape)
  d = d / jnp.linalg.norm(d, axis=-1, keepdims=True) * math.sqrt(z.shape[-1])
  offsets = (jnp.arange(num_tiles) - (num_tiles - 1) / 2) * spread  # [T]
  return z[:, None, :] + offsets[None, :, None] * d[:, None, :]


def _render(generate: GenerateFn, w, y):
  """Latents [N, T, zd] (+ y [N, A]) -> tiles [N, T, R, R, 3]."""
  n, t, zd = w.shape
  x = generate(w.reshape(n * t, zd), None if y is None else jnp.repeat(y, t, axis=0))
  return x.reshape((n, t) + x.shape[1:])


def optimise_latents(generate: GenerateFn, w0, y, *, steps: int, lr: float, near_weight: float):
  """Adam on the tiles' latents, minimising seam_loss + near_weight * mean((w - w0)^2) per tile.

  The loss is a sum over identities, so each identity's latents move independently.

  Returns:
    (latents [N, T, zd], seam loss [N, steps + 1] before each step and after the last).
  """
  tx = optax.adam(lr)

  def loss_fn(w):
    per = seam_loss(_render(generate, w, y))  # [N]
    near = near_weight * jnp.sum(jnp.mean(jnp.square(w - w0), -1), -1)
    return jnp.sum(per + near), per

  def step(carry, _):
    w, opt_state = carry
    (_, per), grads = jax.value_and_grad(loss_fn, has_aux=True)(w)
    updates, opt_state = tx.update(grads, opt_state, w)
    return (optax.apply_updates(w, updates), opt_state), per

  (w, _), trace = jax.lax.scan(step, (w0, tx.init(w0)), None, length=steps)
  final = seam_loss(_render(generate, w, y))
  return w, jnp.concatenate([trace.T, final[:, None]], axis=1)


def _assemble(tiles, height: int):
  """[N, T, R, R, 3] -> banner [N, height, T * height, 3] (bilinear upscaling)."""
  n, t, r, _, c = tiles.shape
  # Corner-aligned (edge pixel centres onto edge pixel centres): half-pixel resizing would
  # repeat each edge pixel, so every tile would end flat and a seam would look smooth however
  # its tiles disagree.
  scale = (height - 1) / (r - 1)
  up = jax.image.scale_and_translate(tiles.reshape(n * t, r, r, c), (n * t, height, height, c), (1, 2),
                                     jnp.full((2,), scale), jnp.full((2,), 0.5 - 0.5 * scale), "linear",
                                     antialias=False)
  return up.reshape(n, t, height, height, c).transpose(0, 2, 1, 3, 4).reshape(n, height, t * height, c)


def tile_covers(generate: GenerateFn, key, z, y, pal, opts: CoverOptions):
  """The "tiles" cover: (covers [N, H, W, 3] in [-1, 1], info) — see the module docstring."""
  t = opts.width // opts.height
  w0 = tile_latents(key, z, num_tiles=t, spread=opts.spread)
  w, trace = optimise_latents(generate, w0, y, steps=opts.seam_steps, lr=opts.seam_lr,
                              near_weight=opts.near_weight)
  start = _assemble(_render(generate, w0, y), opts.height)
  raw = _assemble(_render(generate, w, y), opts.height)
  coloured = palette_lib.recolour(raw, pal, strength=opts.recolour)
  covers = jnp.clip(feather_seams(coloured, opts.height, opts.feather), -1.0, 1.0)
  info = {
      "latents": w,
      "seam_loss": trace,
      "seam_gradients_start": _seam_pair(start, opts.height),
      "seam_gradients_optimised": _seam_pair(raw, opts.height)
  }
  return covers, info


def pattern_covers(seeds, pal, weights, std, opts: CoverOptions):
  """The "pattern" cover: seeds [N] int, palette [N, k, 3], weights [N, k], the colours'
  spread std [N, k, 3] -> [N, H, W, 3] in [-1, 1] (vid_jax.identity.palette.pattern)."""
  fn = functools.partial(palette_lib.pattern, height=opts.height, width=opts.width, softness=opts.softness,
                         texture=opts.texture)
  return jax.vmap(fn)(seeds, pal, weights, std)


# ----------------------------------------------------------------------------
# Public entry points.


def _covers(key, z, y, avatars, seeds, *, generate, opts: CoverOptions, style_fn):
  pal, weights, std = palette_lib.palette_stats(avatars, k=opts.palette_size, iters=opts.palette_iters)
  info = {"palette": pal, "palette_weights": weights}
  if opts.mode == "tiles":
    covers, extra = tile_covers(generate, key, z, y, pal, opts)
    info.update(extra)
  else:
    covers = pattern_covers(seeds, pal, weights, std, opts)
  if style_fn is not None:
    covers = style_fn(covers)
  info["seam_gradients"] = _seam_pair(covers, opts.height)
  return covers, info


def make_cover_fn(generate: GenerateFn | None, options: CoverOptions, *,
                  style_fn: Callable[[jax.Array], jax.Array] | None = None):
  """A jitted (key, z, y, avatars, seeds) -> (covers, info); keep it to reuse the compilation.

  Args:
    generate: (z [B, zd], y [B, A] or None) -> images [B, R, R, 3] in [-1, 1], jittable and
      differentiable in z (e.g. `Models.generate`); only "tiles" calls it (None is fine for
      "pattern").
    options: a CoverOptions.
    style_fn: optional look applied last, images [N, H, W, 3] -> same (e.g. a
      functools.partial of a vid_jax.refiners.style.filters look), so the cover wears the
      avatar's style.

  Returns:
    fn(key, z [N, zd], y [N, A] or None, avatars [N, R, R, 3], seeds [N] int) ->
    (covers [N, height, width, 3] in [-1, 1], info) with info: "palette" [N, k, 3] in [0, 1],
    "palette_weights" [N, k], "seam_gradients" [N, 2] (mean |gradient| across seams and
    inside tiles, seams every `height` pixels: their ratio per identity flags a visible seam,
    `ratio_of_means` gives seam_smoothness); tiles add "latents" [N, T, zd], "seam_loss"
    [N, seam_steps + 1], "seam_gradients_start" [N, 2] (tiles at their start latents, not
    feathered) and "seam_gradients_optimised" [N, 2] (after Adam, before recolour and feather).
  """
  options.check()
  if options.mode == "tiles" and generate is None:
    raise UserError("cover mode 'tiles' needs the avatar's generator")
  try:
    return _cached_cover_fn(generate, options, style_fn)
  except TypeError:  # an unhashable generate or style_fn: compiled anew
    return _build_cover_fn(generate, options, style_fn)


def _build_cover_fn(generate, options, style_fn):
  return jax.jit(functools.partial(_covers, generate=generate, opts=options, style_fn=style_fn))


_cached_cover_fn = functools.lru_cache(maxsize=16)(_build_cover_fn)


def make_covers(*, key, generate: GenerateFn | None, z, y, avatars, seeds, mode: str = DEFAULT_MODE,
                height: int = 192, width: int = 576, seam_steps: int = CoverOptions.seam_steps, style_fn=None,
                **options):
  """Covers for N identities (compiled once per generate, options and batch shape: the jitted
  function is cached, keeping up to 16 generators alive).

  Args:
    key: PRNG key (tiles: the directions of the neighbouring latents). Same key, same covers.
    generate: see make_cover_fn.
    z: [N, z_dim] the avatars' latents (tiles; None for pattern).
    y: [N, A] the avatars' attributes, or None (unconditional generator / pattern).
    avatars: [N, R, R, 3] in [-1, 1], the avatars (their palettes colour the covers).
    seeds: [N] int, e.g. handle_seed(handle) (pattern).
    mode: "tiles" or "pattern".
    height, width, seam_steps, **options: fields of CoverOptions.
    style_fn: see make_cover_fn.

  Returns:
    (covers [N, height, width, 3] in [-1, 1], info dict) — see make_cover_fn.
  """
  opts = CoverOptions(mode=mode, height=height, width=width, seam_steps=seam_steps, **options).check()
  avatars = jnp.asarray(avatars, jnp.float32)
  palette_lib.check_images(avatars, "avatars")
  n = avatars.shape[0]
  seeds = jnp.asarray(seeds, jnp.int32).reshape(-1)
  if seeds.shape[0] != n:
    raise UserError(f"got {seeds.shape[0]} seeds for {n} avatars")
  if mode == "tiles":
    if z is None or jnp.shape(z)[0] != n:
      raise UserError(f"tiles need z [N={n}, z_dim]; got {None if z is None else jnp.shape(z)}")
    z = jnp.asarray(z, jnp.float32)
  else:
    z = jnp.zeros((n, 1), jnp.float32)  # unused by the pattern
    y = None
  return make_cover_fn(generate, opts, style_fn=style_fn)(key, z, y, avatars, seeds)


def measure(models, *, key, num: int = 32, **options) -> dict:
  """The issue's figures on `num` fresh avatars of `models` (a vid_jax.inference.Models).

  Returns:
    {"palette_match_tiles", "palette_match_pattern": fraction of covers whose nearest avatar
    by colour histogram is their own (issue: >= 0.8), "seam_smoothness_tiles",
    "seam_smoothness_pattern": |gradient| across seams / inside (issue: <= 1.5),
    "seam_smoothness_tiles_start" / "_optimised" (before feathering, at the start latents and
    after Adam), "seam_smoothness_tiles_band8": the ratio over 8 pixels each side of the seams,
    "seam_loss_start" / "seam_loss_end": mean tile seam loss before and after Adam,
    "seconds_tiles" / "seconds_pattern": wall time of the batch, compilation included}.
  """
  k_z, k_y, k_tiles = jax.random.split(key, 3)
  z = jax.random.normal(k_z, (num, models.z_dim))
  y = models.sample_attributes(k_y, num)
  avatars = jax.jit(models.generate)(z, y)
  seeds = jnp.asarray([handle_seed(f"user{i}") for i in range(num)], jnp.int32)
  out = {}
  for mode in MODES:
    opts = CoverOptions(**{**options, "mode": mode})
    start = time.perf_counter()
    covers, info = jax.block_until_ready(make_cover_fn(models.generate, opts)(k_tiles, z, y, avatars, seeds))
    out[f"seconds_{mode}"] = time.perf_counter() - start  # with compilation
    out[f"palette_match_{mode}"] = palette_lib.palette_match(avatars, covers)
    out[f"seam_smoothness_{mode}"] = seam_smoothness(covers, opts.height)
    if mode == "tiles":
      out["seam_smoothness_tiles_band8"] = seam_smoothness(covers, opts.height, band=8)
      for stage in ("start", "optimised"):
        out[f"seam_smoothness_tiles_{stage}"] = ratio_of_means(info[f"seam_gradients_{stage}"])
      out["seam_loss_start"] = float(jnp.mean(info["seam_loss"][:, 0]))
      out["seam_loss_end"] = float(jnp.mean(info["seam_loss"][:, -1]))
  return out

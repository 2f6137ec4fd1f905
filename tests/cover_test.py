"""vid_jax.identity.cover and .palette: palettes, pattern and tile covers, seams, palette match."""
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.errors import UserError
from vid_jax.identity import cover, palette

R, Z_DIM, M = 16, 8, 6  # the stand-in generator: 16x16 images from 8-d latents


def _stand_in_generator():
  """A smooth analytic generate(z, y): tanh of low-frequency cosines whose weights are linear
  in z, so the tiles' edges move with their latents as a trained generator's do."""
  w = jax.random.normal(jax.random.PRNGKey(42), (Z_DIM, M * M * 3)) / np.sqrt(Z_DIM)
  grid = (jnp.arange(R) + 0.5) / R
  freq = jnp.arange(M)
  basis = jnp.cos(jnp.pi * freq[:, None] * grid[None, :])  # [M, R]

  def generate(z, y=None):
    del y
    c = (z @ w).reshape(-1, M, M, 3) / (1.0 + freq[:, None, None] + freq[None, :, None])
    return jnp.tanh(jnp.einsum("bijc,ih,jw->bhwc", c, basis, basis))

  return generate


def _block_images(colours, fractions, size=32):
  """[N, size, size, 3] in [-1, 1]: image i is vertical bands of colours[i] ([k, 3] in [0, 1])
  with widths fractions * size."""
  out = []
  for cols in colours:
    edges = np.round(np.cumsum([0.0] + list(fractions)) * size).astype(int)
    img = np.zeros((size, size, 3), np.float32)
    for c, (a, b) in zip(cols, zip(edges[:-1], edges[1:])):
      img[:, a:b] = c
    out.append(img * 2 - 1)
  return jnp.asarray(np.stack(out))


def test_extract_palette_recovers_the_colours_of_a_synthetic_image():
  rng = np.random.default_rng(0)
  colours = rng.uniform(0, 1, (3, 4, 3)).astype(np.float32)
  fractions = [0.4, 0.3, 0.2, 0.1]  # the palette comes out in this order (by weight)
  images = _block_images(colours, fractions)
  pal = np.asarray(palette.extract_palette(images, k=4))
  assert pal.shape == (3, 4, 3)
  np.testing.assert_allclose(pal, colours, atol=2e-3)
  _, weights = palette.palette_and_weights(images, k=4)
  np.testing.assert_allclose(weights, np.tile(fractions, (3, 1)), atol=0.04)
  with pytest.raises(UserError):
    palette.extract_palette(images[..., :2])


def test_palette_match_on_synthetic_data():
  rng = np.random.default_rng(1)
  colours = rng.uniform(0, 1, (8, 3, 3)).astype(np.float32)
  avatars = _block_images(colours, [0.6, 0.3, 0.1])
  # A "cover" in the same colours and proportions, laid out differently: always matched.
  covers = _block_images(colours[:, ::-1], [0.1, 0.3, 0.6], size=48)
  assert palette.palette_match(avatars, covers) == 1.0
  assert palette.palette_match(avatars, jnp.roll(covers, 1, axis=0)) == 0.0


def test_pattern_covers_use_the_avatar_palette_and_are_deterministic():
  rng = np.random.default_rng(2)
  colours = rng.uniform(0.1, 0.9, (4, 3, 3)).astype(np.float32)
  avatars = _block_images(colours, [0.5, 0.3, 0.2])
  seeds = [cover.handle_seed(h) for h in ("ann", "bo", "cy", "di")]
  kw = dict(key=jax.random.PRNGKey(0), generate=None, z=None, y=None, avatars=avatars)
  covers, info = cover.make_covers(seeds=seeds, mode="pattern", palette_size=3, **kw)
  assert covers.shape == (4, 192, 576, 3) and covers.dtype == jnp.float32  # the default 3:1
  assert float(covers.min()) >= -1.0 and float(covers.max()) <= 1.0
  assert info["palette"].shape == (4, 3, 3) and info["seam_gradients"].shape == (4, 2)
  # Each palette colour covers about its share of the avatar's pixels (less the anti-aliased
  # edges, a larger part of smaller covers).
  unit = (np.asarray(covers) + 1) / 2
  pal = np.asarray(info["palette"])
  d = ((unit[:, :, :, None, :] - pal[:, None, None, :, :])**2).sum(-1)
  share = np.stack([(d.argmin(-1) == j).mean((1, 2)) for j in range(3)], -1)
  np.testing.assert_allclose(share, np.asarray(info["palette_weights"]), atol=0.04)
  assert palette.palette_match(avatars, covers) == 1.0
  again, _ = cover.make_covers(seeds=seeds, mode="pattern", palette_size=3, **kw)
  np.testing.assert_array_equal(covers, again)
  other, _ = cover.make_covers(seeds=[s + 1 for s in seeds], mode="pattern", palette_size=3, **kw)
  assert float(jnp.abs(other - covers).mean()) > 0.05
  # Patterns have no seams: across ~ inside.
  assert cover.seam_smoothness(covers, 192) < 1.5


def test_handle_seed_is_stable():
  assert cover.handle_seed("alice") == cover.handle_seed("alice") == 1497157485
  assert cover.handle_seed("alice") != cover.handle_seed("bob")
  assert 0 <= cover.handle_seed("東京") < 2**31


def test_tile_seams_are_optimised_then_feathered():
  generate = _stand_in_generator()
  z = jax.random.normal(jax.random.PRNGKey(1), (6, Z_DIM))
  avatars = generate(z)
  kw = dict(generate=generate, z=z, y=None, avatars=avatars, seeds=np.arange(6), mode="tiles", height=48,
            width=144, spread=0.3, feather=8, near_weight=0.1)
  covers, info = cover.make_covers(key=jax.random.PRNGKey(0), seam_steps=40, **kw)
  assert covers.shape == (6, 48, 144, 3)
  assert float(covers.min()) >= -1.0 and float(covers.max()) <= 1.0
  assert info["latents"].shape == (6, 3, Z_DIM) and info["seam_loss"].shape == (6, 41)
  loss = np.asarray(info["seam_loss"])
  assert (loss[:, -1] < 0.3 * loss[:, 0]).all(), loss[:, [0, -1]]
  start = cover.ratio_of_means(info["seam_gradients_start"])
  optimised = cover.ratio_of_means(info["seam_gradients_optimised"])
  assert optimised < 0.6 * start, (start, optimised)
  assert cover.ratio_of_means(info["seam_gradients"]) <= 1.5
  assert cover.seam_smoothness(covers, 48) <= 1.5
  assert cover.seam_smoothness(covers, 48, band=4) <= 1.5
  # Deterministic given the key; another key gives other neighbours.
  again, _ = cover.make_covers(key=jax.random.PRNGKey(0), seam_steps=40, **kw)
  np.testing.assert_array_equal(covers, again)
  other, _ = cover.make_covers(key=jax.random.PRNGKey(1), seam_steps=40, **kw)
  assert float(jnp.abs(other - covers).mean()) > 0.01
  # Identities are independent: other identities in the batch leave the first one's cover as is.
  z2 = z.at[1:].set(jax.random.normal(jax.random.PRNGKey(7), (5, Z_DIM)))
  mixed, _ = cover.make_covers(key=jax.random.PRNGKey(0), seam_steps=40, **dict(kw, z=z2))
  np.testing.assert_allclose(mixed[0], covers[0], atol=1e-4)


def test_feather_removes_the_excess_jump_and_keeps_the_rest():
  left = jnp.full((1, 8, 16, 3), -0.5)
  right = jnp.full((1, 8, 16, 3), 0.5)
  banner = jnp.concatenate([left, right], axis=2)  # one seam at column 16, a jump of 1
  assert cover.seam_smoothness(banner + 1e-3 * jnp.arange(32)[None, None, :, None], 16) > 100
  out = cover.feather_seams(banner, 16, 4)
  np.testing.assert_allclose(out[:, :, 15], out[:, :, 16], atol=1e-6)  # no jump left
  np.testing.assert_allclose(out[:, :, :11], banner[:, :, :11])  # outside the band: untouched
  np.testing.assert_allclose(out[:, :, 20:], banner[:, :, 20:])
  assert float(jnp.abs(jnp.diff(out, axis=2)).max()) <= 0.125 + 1e-6  # spread over 8 pixels


def test_bad_options_are_user_errors():
  avatars = jnp.zeros((2, 16, 16, 3))
  kw = dict(key=jax.random.PRNGKey(0), generate=None, z=None, y=None, avatars=avatars, seeds=[1, 2])
  with pytest.raises(UserError, match="mode"):
    cover.make_covers(mode="mosaic", **kw)
  with pytest.raises(UserError, match="multiple"):
    cover.make_covers(mode="tiles", width=500, **kw)
  with pytest.raises(UserError, match="seeds"):
    cover.make_covers(**{**kw, "seeds": [1]})
  with pytest.raises(UserError, match="generator"):
    cover.make_covers(mode="tiles", **{**kw, "z": jnp.zeros((2, 4))})


def test_measure_runs_on_a_models_like_object():
  generate = _stand_in_generator()
  models = types.SimpleNamespace(z_dim=Z_DIM, generate=generate, sample_attributes=lambda key, n: None)
  out = cover.measure(models, key=jax.random.PRNGKey(3), num=4, height=16, width=48, seam_steps=2, feather=4)
  for name in ("palette_match_tiles", "palette_match_pattern", "seam_smoothness_tiles",
               "seam_smoothness_pattern", "seam_smoothness_tiles_start", "seam_smoothness_tiles_optimised",
               "seam_loss_start", "seam_loss_end"):
    assert np.isfinite(out[name]), name
  assert 0 <= out["palette_match_pattern"] <= 1

"""Spatially varying conditional BatchNorm for G (`model.g_cond_spatial` = r > 0).

y gives r maps of 4x4 (`spatial_maps`), resized bilinearly to the feature map, and a per-pixel
linear map of them adds to the scale and bias of each channel, so an attribute can act where it is
drawn (hair colour on the hair, not on the face) instead of on a channel everywhere.
"""
import functools

import jax
import flax.linen as nn


def spatial_shifts(*, maps: int):
  """The Generator's `norm_shifts` for r = `maps` attribute maps: fn(y, x) -> (scale, bias) shifts."""
  return functools.partial(_spatial_shifts, maps=maps)


def _spatial_shifts(y, x, *, maps: int):
  """y [B, A], x [B, H, W, C] -> scale and bias shifts [B, H, W, C] (zero at init).

  Runs inside a ConditionalBatchNorm's compact call: the layers (spatial_maps, spatial_gamma,
  spatial_beta) are that module's.
  """
  b, hgt, wid, c = x.shape
  m = nn.Dense(4 * 4 * maps, name="spatial_maps")(y).reshape(b, 4, 4, maps)
  if (hgt, wid) != (4, 4):
    m = jax.image.resize(m, (b, hgt, wid, maps), "bilinear")
  # Zero init: the maps reach the image only once these learn.
  d_gamma = nn.Dense(c, use_bias=False, kernel_init=nn.initializers.zeros, name="spatial_gamma")(m)
  d_beta = nn.Dense(c, use_bias=False, kernel_init=nn.initializers.zeros, name="spatial_beta")(m)
  return d_gamma, d_beta

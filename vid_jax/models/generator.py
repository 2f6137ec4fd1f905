"""DCGAN generator (Radford et al. 2016), optionally attribute-conditioned."""
import math
from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn

from vid_jax.models.layers import RESIZE_METHODS, ConvT4, ResizeConv3

RESOLUTIONS = (32, 64, 128)
# How each 2x stage upsamples: convt (4x4 / stride-2 transposed conv, DCGAN's) or a resize followed
# by a 3x3 conv (Odena et al. 2016, against checkerboard artefacts).
UPSAMPLES = ("convt",) + RESIZE_METHODS
BN_MOMENTUM = 0.9  # flax's convention (PyTorch's momentum 0.1)
# DCGAN's BatchNorm init: scale ~ N(1, 0.02), bias 0.
bn_scale_init = lambda key, shape, dtype=jnp.float32: 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def num_stages(resolution: int) -> int:
  """Number of 2x resampling stages between 4x4 and `resolution`."""
  if resolution not in RESOLUTIONS:
    raise ValueError(f"resolution {resolution} is not supported; use one of {RESOLUTIONS}")
  return int(math.log2(resolution)) - 2


def with_mlp_embedding(y, hidden: int):
  """[y, MLP(y)] (two ReLU layers of `hidden` units, named cond_mlp_0/1), y [B, A] -> [B, A + hidden].

  Call inside a compact method: the layers belong to the calling module. Whatever reads the
  result linearly can then let an attribute's effect depend on the others.
  """
  e = nn.relu(nn.Dense(hidden, name="cond_mlp_0")(y))
  e = nn.relu(nn.Dense(hidden, name="cond_mlp_1")(e))
  return jnp.concatenate([y, e], axis=-1)


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose scale and bias are shifted by linear functions of the attributes.

  `extra_shifts` (optional): fn(y [B, A], x [B, H, W, C]) -> (scale shift, bias shift), each
  broadcastable to x, added to the linear ones; it runs in this module's scope, so the layers it
  makes are this module's (vid_jax.experimental.spatial_conditioning's attribute maps).
  """
  dtype: Any = jnp.float32
  extra_shifts: Any = None

  @nn.compact
  def __call__(self, x, y, *, train: bool):  # x [B, H, W, C], y [B, A] in {-1, +1} or None
    x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=1e-5,
                     scale_init=bn_scale_init, dtype=self.dtype)(x)
    if y is None:
      return x
    c = x.shape[-1]
    # Zero init: the conditional model starts as the unconditional one.
    gamma = nn.Dense(c, kernel_init=nn.initializers.zeros, name="gamma")(y)[:, None, None, :]  # [B, 1, 1, C]
    beta = nn.Dense(c, kernel_init=nn.initializers.zeros, name="beta")(y)[:, None, None, :]
    if self.extra_shifts is not None:
      d_gamma, d_beta = self.extra_shifts(y, x)
      gamma, beta = gamma + d_gamma, beta + d_beta
    return x * (1.0 + gamma).astype(x.dtype) + beta.astype(x.dtype)


class Generator(nn.Module):
  """z [B, z_dim] (+ attributes [B, A] in {0, 1}) -> images [B, R, R, 3] in [-1, 1].

  Conditional (`num_attributes` > 0): an input embedding of the attributes joins z and every
  BatchNorm is conditional on them; with `cond_hidden` both see [y, MLP(y)] instead of y.
  `norm_shifts` goes to every ConditionalBatchNorm as its `extra_shifts`.

  Layout at 64x64, width 64 (PyTorch's dcgan example): ConvT 1->4 (512 ch),
  then ConvT 4->8->16->32 (256, 128, 64), each with BatchNorm + ReLU, and a
  final ConvT 32->64 to 3 channels with tanh. 3,576,704 parameters.

  `upsample` "nearest" | "bilinear": each 2x stage (the last, to 3 channels, too; not the 1x1 ->
  4x4 projection) is a resize followed by a 3x3 conv without bias (layers.ResizeConv3) instead of
  the 4x4 transposed conv, whose uneven overlap leaves checkerboard patterns (Odena et al. 2016).
  """
  resolution: int = 64
  z_dim: int = 100
  width: int = 64
  num_attributes: int = 0
  cond_hidden: int = 0  # > 0: an MLP embedding of the attributes (see below)
  norm_shifts: Any = None  # extra shifts of each conditional BatchNorm (see ConditionalBatchNorm)
  conv_impl: str = "native"
  dtype: Any = jnp.float32
  upsample: str = "convt"  # one of UPSAMPLES (see above)

  @nn.compact
  def __call__(self, z, attrs=None, *, train: bool):
    stages = num_stages(self.resolution)
    if self.upsample not in UPSAMPLES:
      raise ValueError(f"upsample={self.upsample!r}; use one of {UPSAMPLES}")
    y = None
    h = z.astype(jnp.float32)
    if self.num_attributes:
      if attrs is None:
        raise ValueError("a conditional generator needs attributes [B, num_attributes]")
      y = 2.0 * attrs.astype(jnp.float32) - 1.0  # [B, A] in {-1, +1}
      if self.cond_hidden:
        # The attributes as [y, MLP(y)]: the input embedding and every conditional BatchNorm are
        # linear in it, so an attribute's effect may depend on the others (two hair colours are
        # stripes, one is a solid colour); linear in y alone, each attribute adds a fixed shift.
        y = with_mlp_embedding(y, self.cond_hidden)
      h = jnp.concatenate([h, nn.Dense(self.z_dim, name="embed")(y)], axis=-1)
    h = h[:, None, None, :]  # [B, 1, 1, Z]
    channels = self.width * 2**(stages - 1)
    h = ConvT4(channels, stride=1, padding=0, impl=self.conv_impl, dtype=self.dtype)(h)  # [B, 4, 4, C]
    norm = lambda: ConditionalBatchNorm(dtype=self.dtype, extra_shifts=self.norm_shifts)
    if self.upsample == "convt":
      up = lambda features: ConvT4(features, impl=self.conv_impl, dtype=self.dtype)
    else:
      up = lambda features: ResizeConv3(features, method=self.upsample, impl=self.conv_impl, dtype=self.dtype)
    h = nn.relu(norm()(h, y, train=train))
    for _ in range(stages - 1):
      channels //= 2
      h = up(channels)(h)  # [B, 2H, 2W, C / 2]
      h = nn.relu(norm()(h, y, train=train))
    h = up(3)(h)  # [B, R, R, 3]
    return jnp.tanh(h.astype(jnp.float32))

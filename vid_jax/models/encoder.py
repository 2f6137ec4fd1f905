"""The variational encoder: images -> q(z | x) = N(mean, diag exp(log_var)) over the generator's latents.

With a frozen generator as its decoder, `G(z ~ q(z | x), y)` is a VAE whose decoder is a GAN's
(VAE-GAN, Larsen et al. 2016); vid_jax/encoder trains it, refiners/inversion.py refines its z.
"""
from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn

from vid_jax.models.generator import num_stages
from vid_jax.models.layers import Conv4

# log_var is clipped: exp(-12) ~ 6e-6 is a near point estimate, exp(4) ~ 55 wider than the prior.
LOG_VAR_RANGE = (-12.0, 4.0)


class Encoder(nn.Module):
  """images [B, R, R, 3] in [-1, 1] -> (mean [B, z_dim], log_var [B, z_dim]).

  D's layout without its norms (no batch statistics: an image's code does not depend on its batch):
  4x4 stride-2 convs from R to 4 (width, 2 width, ... channels, LeakyReLU 0.2), then two linear heads
  on the flattened 4x4 map. At 64x64, width 32, z_dim 100: 689,664 conv (no biases, as D's) + 819,400 head parameters.
  """
  resolution: int = 64
  width: int = 32
  z_dim: int = 100
  conv_impl: str = "native"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    h = x.astype(self.dtype)
    for i in range(num_stages(self.resolution)):
      h = Conv4(self.width * 2**i, impl=self.conv_impl, dtype=self.dtype)(h)
      h = nn.leaky_relu(h, 0.2)
    h = h.reshape(h.shape[0], -1).astype(jnp.float32)  # [B, 16 C]
    mean = nn.Dense(self.z_dim, name="mean")(h)
    # Zero init: every code starts with unit variance, the prior's.
    log_var = nn.Dense(self.z_dim, name="log_var", kernel_init=nn.initializers.zeros)(h)
    return mean, jnp.clip(log_var, *LOG_VAR_RANGE)


def sample_posterior(key, mean, log_var):
  """z ~ N(mean, exp(log_var)) by reparameterisation: [B, Z] (differentiable in mean and log_var)."""
  return mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape, mean.dtype)


def kl_to_prior(mean, log_var):
  """KL(N(mean, exp(log_var)) || N(0, I)) per example, [B], in nats."""
  return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(log_var) - 1.0 - log_var, axis=-1)

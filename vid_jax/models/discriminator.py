"""DCGAN discriminator returning logits, optionally a projection discriminator."""
from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from vid_jax.models.generator import bn_scale_init, num_stages
from vid_jax.models.layers import Conv4

PROJECTIONS = ("pooled", "spatial")


def batch_norm(train: bool, dtype):
  """D's BatchNorm (PyTorch's momentum 0.1 and eps 1e-5, DCGAN's N(1, 0.02) scale)."""
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, scale_init=bn_scale_init,
                      dtype=dtype)


class Discriminator(nn.Module):
  """images [B, R, R, 3] in [-1, 1] (+ attributes [B, A]) -> logits [B].

  Layout at 64x64, width 64: Conv 64->32 (64 ch, LeakyReLU 0.2, no BatchNorm),
  Conv 32->16->8->4 (128, 256, 512; BatchNorm + LeakyReLU), Conv 4x4 -> 1x1
  logit. 2,765,568 parameters. With attributes, adds a projection term
  (Miyato & Koyama 2018) on the last feature map h [B, 4, 4, C]: `projection="pooled"`
  is the paper's <V y, sum_hw h>; `"spatial"` is <V y, flatten(h)>, i.e. the final
  4x4 conv's kernel shifted by a linear function of y, so the condition can depend on
  where a feature is (a mouth, a hat brim). With `aux_head` too, a linear head on the
  same features predicts the attributes (AC-GAN, Odena et al. 2017); `return_aux=True`
  returns (logits, attribute logits [B, A]). With `aux_fake_aware` the head has four
  classes per attribute, (real, fake) x (absent, present) (ADC-GAN, Hou et al. 2022),
  and returns attribute logits [B, A, 2, 2] indexed [source, present]. With `aux_net` (a
  module images -> features [B, F], e.g. vid_jax.experimental.attribute_net.AttributeNet) the
  head reads its features instead of the adversarial ones; the adversarial logits do not depend
  on it.

  `spectral_norm` (SNGAN, Miyato et al. 2018): every conv kernel of the critic is divided by its
  largest singular value (the kernel as a [16 C_in, C_out] matrix), estimated by one power
  iteration per call whose `u` vectors live in `batch_stats` (updated with `train=True` and a
  mutable `batch_stats`, read as they are with `train=False`); D's BatchNorms are dropped, as in
  SNGAN's D.
  """
  resolution: int = 64
  width: int = 64
  num_attributes: int = 0
  conv_impl: str = "native"
  dtype: Any = jnp.float32
  aux_head: bool = False
  projection: str = "spatial"  # pooled | spatial (see the class docstring)
  aux_fake_aware: bool = False
  aux_net: Any = None  # the attribute head's own feature network, or None: D's features (see above)
  spectral_norm: bool = False  # spectrally normalised convs and no BatchNorm (see above)

  @nn.compact
  def __call__(self, x, attrs=None, *, train: bool, return_features: bool = False, return_aux: bool = False,
               aux_rows: int | None = None):
    stages = num_stages(self.resolution)
    if self.num_attributes and attrs is None:
      raise ValueError("a conditional discriminator needs attributes [B, num_attributes]")

    def conv(features, **kwargs):
      layer = Conv4(features, impl=self.conv_impl, dtype=self.dtype, **kwargs)
      if not self.spectral_norm:
        return layer
      # The kernel stays `params/Conv4_i/kernel`; u and sigma go to batch_stats/SpectralNorm_i.
      normalised = nn.SpectralNorm(layer)
      return lambda h: normalised(h, update_stats=train)

    h = x
    features = []
    for i in range(stages):
      h = conv(self.width * 2**i)(h)
      if i > 0 and not self.spectral_norm:
        h = batch_norm(train, self.dtype)(h)
      h = nn.leaky_relu(h, 0.2)
      features.append(h)
    logits = conv(1, stride=1, padding=0)(h)  # [B, 1, 1, 1]
    logits = logits.reshape(x.shape[0]).astype(jnp.float32)
    aux = None
    if self.num_attributes:
      if attrs is None:
        raise ValueError("a conditional discriminator needs attributes [B, num_attributes]")
      y = 2.0 * attrs.astype(jnp.float32) - 1.0  # [B, A]
      if self.projection not in PROJECTIONS:
        raise ValueError(f"projection={self.projection!r}; use one of {PROJECTIONS}")
      h32 = h.astype(jnp.float32)
      # pooled: [B, C]; spatial: [B, 4 * 4 * C]. The spatial form tells where a feature is:
      # with pooled features D's attribute head on avatars stayed at chance for Eyeglasses
      # and near it for Smiling after 2,000 steps (docs/experiments/cdcgan_avatars.md).
      phi = jnp.sum(h32, axis=(1, 2)) if self.projection == "pooled" else h32.reshape(h.shape[0], -1)
      # Zero init: the conditional D starts as the unconditional one. With N(0, 0.02) the
      # projection of the summed 4x4 features made the initial logits ~10x larger than the
      # unconditional term (std 7.4 vs 0.7 on avatars, width 32) with a random sign per
      # attribute vector: D began confidently wrong (d_loss ~10 for the first ~150 steps).
      # With spectral_norm this head and the aux head stay unnormalised: a zero matrix has no
      # spectral norm to divide by. (aux_net's convs too: they feed only the attribute head.)
      proj = nn.Dense(phi.shape[-1], use_bias=False, name="projection",
                      kernel_init=nn.initializers.zeros)(y)  # [B, C]
      logits = logits + jnp.sum(proj * phi, axis=-1)
      if self.aux_head:
        # Zero init: starts at log 2 per attribute and adds nothing to G's gradient until it learns.
        classes = 4 if self.aux_fake_aware else 1
        if self.aux_net is not None:  # only the rows asked for go through the extra network
          head_in = self.aux_net(x[:aux_rows], train=train)
        else:  # the head of every row, then the rows asked for (the same arithmetic as before aux_rows)
          head_in = phi
        aux = nn.Dense(self.num_attributes * classes, kernel_init=nn.initializers.zeros, name="aux")(head_in)
        aux = aux[:aux_rows]
        if self.aux_fake_aware:
          aux = aux.reshape(aux.shape[0], self.num_attributes, 2, 2)  # [B, A, source, present]
    if return_aux:
      if aux is None:
        raise ValueError("return_aux=True needs a conditional discriminator with aux_head=True")
      return logits, aux
    return (logits, features) if return_features else logits

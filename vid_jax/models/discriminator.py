"""DCGAN discriminator returning logits, optionally a projection discriminator."""
from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from vid_jax.models.generator import bn_scale_init, num_stages, with_mlp_embedding
from vid_jax.models.layers import Conv4, max_pool_2x2

PROJECTIONS = ("pooled", "spatial")


def _batch_norm(train: bool, dtype):
  """D's BatchNorm (PyTorch's momentum 0.1 and eps 1e-5, DCGAN's N(1, 0.02) scale)."""
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      scale_init=bn_scale_init, dtype=dtype)


class AttributeNet(nn.Module):
  """images [B, R, R, 3] -> features [B, 4 * 4 * C] for D's attribute head.

  D's first layer (a 4x4 stride-2 conv of `width` channels, LeakyReLU 0.2), then per stage a
  2x2 max pool and a 3x3 conv (BatchNorm, LeakyReLU; channels double up to 8x) down to 4x4,
  flattened so that where a feature sits counts, as in the attribute classifier (models/classifier.py). Tried
  because a head on the adversarial features was fooled on brown hair (it called 91-92% of G's
  brown-requested samples brown where the independent classifier found 59-67%). Measured on the
  avatars (docs/metrics.md, "A separate network for D's attribute head"): width 32 lifted
  Smiling but cost hats, FID and diversity; brown hair stayed where it was; off by default.
  Stride-1 3x3 convs after pooling run at XLA:CPU's fast conv rate, where a strided conv's
  input gradient does not.
  """
  width: int = 16
  conv_impl: str = "native"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    conv = lambda c: nn.Conv(c, (3, 3), padding=1, dtype=self.dtype)
    h = nn.leaky_relu(Conv4(self.width, impl=self.conv_impl, dtype=self.dtype)(x), 0.2)
    channels = self.width
    while h.shape[1] > 4:
      h = max_pool_2x2(h)
      channels = min(channels * 2, self.width * 8)
      h = conv(channels)(h)
      h = nn.leaky_relu(_batch_norm(train, self.dtype)(h), 0.2)
    return h.reshape(h.shape[0], -1).astype(jnp.float32)


class Discriminator(nn.Module):
  """images [B, R, R, 3] in [-1, 1] (+ attributes [B, A]) -> logits [B].

  Layout at 64x64, width 64: Conv 64->32 (64 ch, LeakyReLU 0.2, no BatchNorm),
  Conv 32->16->8->4 (128, 256, 512; BatchNorm + LeakyReLU), Conv 4x4 -> 1x1
  logit. 2,765,568 parameters. With attributes, adds a projection term
  (Miyato & Koyama 2018) on the last feature map h [B, 4, 4, C]: `projection="pooled"`
  is the paper's <V y, sum_hw h>; `"spatial"` is <V y, flatten(h)>, i.e. the final
  4x4 conv's kernel shifted by a linear function of y, so the condition can depend on
  where a feature is (a mouth, a hat brim). With `stage_projection`, each earlier stage's
  mean-pooled features get a projection term too. With `cond_shift`, every stage's
  pre-activations are shifted per channel by a linear function of y. With `cond_hidden`, [y, MLP(y)] replaces y in
  the projection. With `aux_head` too, a linear head on the
  same features predicts the attributes (AC-GAN, Odena et al. 2017); `return_aux=True`
  returns (logits, attribute logits [B, A]). With `aux_fake_aware` the head has four
  classes per attribute, (real, fake) x (absent, present) (ADC-GAN, Hou et al. 2022),
  and returns attribute logits [B, A, 2, 2] indexed [source, present]. With
  `aux_net_width` > 0 the head reads its own small CNN of the image (`AttributeNet`)
  instead of the adversarial features; the adversarial logits do not depend on it.
  """
  resolution: int = 64
  width: int = 64
  num_attributes: int = 0
  conv_impl: str = "native"
  dtype: Any = jnp.float32
  aux_head: bool = False
  projection: str = "spatial"  # pooled | spatial (see the class docstring)
  aux_fake_aware: bool = False
  cond_hidden: int = 0  # > 0: project [y, MLP(y)] instead of y (see below)
  aux_net_width: int = 0  # > 0: the attribute head reads an AttributeNet of this stem width
  stage_projection: bool = False  # also project each earlier stage's mean-pooled features (see below)
  cond_shift: bool = False  # shift every stage's pre-activations by a linear function of y (see below)

  @nn.compact
  def __call__(self, x, attrs=None, *, train: bool, return_features: bool = False,
               return_aux: bool = False, aux_rows: int | None = None):
    stages = num_stages(self.resolution)
    if self.num_attributes and attrs is None:
      raise ValueError("a conditional discriminator needs attributes [B, num_attributes]")
    cond_shift = self.cond_shift and self.num_attributes
    h = x
    features = []
    for i in range(stages):
      h = Conv4(self.width * 2 ** i, impl=self.conv_impl, dtype=self.dtype)(h)
      if i > 0:
        h = _batch_norm(train, self.dtype)(h)
      if cond_shift:
        # Each channel's pre-activation shifted by <u_c, y> (after the BatchNorm, which would
        # otherwise remove it): the same as giving the stage y as constant input maps, so a
        # feature can fire at a pixel only where the image and the request agree there (brown
        # hair asked, the fringe of a bald head drawn in another colour), where the projection
        # terms compare y with features the image alone has already decided. Zero init: D starts
        # as without it.
        shift = nn.Dense(h.shape[-1], use_bias=False, name=f"cond_shift_{i}",
                         kernel_init=nn.initializers.zeros)(2.0 * attrs.astype(jnp.float32) - 1.0)
        h = h + shift[:, None, None, :].astype(h.dtype)
      h = nn.leaky_relu(h, 0.2)
      features.append(h)
    logits = Conv4(1, stride=1, padding=0, impl=self.conv_impl, dtype=self.dtype)(h)  # [B, 1, 1, 1]
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
      # and near it for Smiling after 2,000 steps (docs/metrics.md, "Conditional run").
      phi = jnp.sum(h32, axis=(1, 2)) if self.projection == "pooled" else h32.reshape(h.shape[0], -1)
      if self.cond_hidden:
        # Linear in y, the projection adds one term per attribute; with [y, MLP(y)] the evidence
        # D looks for may depend on the combination (brown hair next to black is drawn as stripes).
        y = with_mlp_embedding(y, self.cond_hidden)
      # Zero init: the conditional D starts as the unconditional one. With N(0, 0.02) the
      # projection of the summed 4x4 features made the initial logits ~10x larger than the
      # unconditional term (std 7.4 vs 0.7 on avatars, width 32) with a random sign per
      # attribute vector: D began confidently wrong (d_loss ~10 for the first ~150 steps).
      proj = nn.Dense(phi.shape[-1], use_bias=False, name="projection",
                      kernel_init=nn.initializers.zeros)(y)  # [B, C]
      logits = logits + jnp.sum(proj * phi, axis=-1)
      if self.stage_projection:
        # The same inner product with each earlier stage's features averaged over the map, so
        # that the condition can also be checked where colour is still resolved (the first
        # stage's filters see RGB): brown hair (112, 70, 38) next to auburn (120, 40, 30) or
        # dark skin (104, 64, 42) in the avatars. Zero init, as above.
        for i, f in enumerate(features[:-1]):
          pooled = jnp.mean(f.astype(jnp.float32), axis=(1, 2))  # [B, C_i]
          v = nn.Dense(pooled.shape[-1], use_bias=False, name=f"stage_projection_{i}",
                       kernel_init=nn.initializers.zeros)(y)
          logits = logits + jnp.sum(v * pooled, axis=-1)
      if self.aux_head:
        # Zero init: starts at log 2 per attribute and adds nothing to G's gradient until it learns.
        classes = 4 if self.aux_fake_aware else 1
        if self.aux_net_width:  # only the rows asked for go through the extra CNN
          head_in = AttributeNet(width=self.aux_net_width, conv_impl=self.conv_impl, dtype=self.dtype,
                                 name="aux_net")(x[:aux_rows], train=train)
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

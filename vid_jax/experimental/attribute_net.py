"""A CNN of its own for D's attribute head (`model.aux_net_width` = w > 0).

Tried because a head on the adversarial features was fooled on brown hair: it called most of G's
brown-requested samples brown where the independent classifier did not (docs/experiments/configs.md).
The network is built from D's own layers, handed in by `vid_jax.models.build_gan`, so that this
package imports nothing of vid_jax.models and the core can dispatch to it.
"""
from typing import Any, Callable

import jax.numpy as jnp
import flax.linen as nn


class AttributeNet(nn.Module):
  """images [B, R, R, 3] -> features [B, 4 * 4 * C] for D's attribute head.

  D's first layer (a 4x4 stride-2 conv of `width` channels, LeakyReLU 0.2), then per stage a
  2x2 max pool and a 3x3 conv (BatchNorm, LeakyReLU; channels double up to 8x) down to 4x4,
  flattened so that where a feature sits counts, as in the attribute classifier
  (models/classifier.py). Stride-1 3x3 convs after pooling run at XLA:CPU's fast conv rate, where
  a strided conv's input gradient does not.
  """
  width: int = 16
  conv4: Callable[..., nn.Module] | None = None  # features -> D's 4x4 stride-2 conv (models.layers.Conv4)
  batch_norm: Callable[..., nn.Module] | None = None  # train -> D's BatchNorm
  pool: Callable[[Any], Any] | None = None  # [B, H, W, C] -> [B, H/2, W/2, C]
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    conv = lambda c: nn.Conv(c, (3, 3), padding=1, dtype=self.dtype)
    h = nn.leaky_relu(self.conv4(self.width)(x), 0.2)
    channels = self.width
    while h.shape[1] > 4:
      h = self.pool(h)
      channels = min(channels * 2, self.width * 8)
      h = conv(channels)(h)
      h = nn.leaky_relu(self.batch_norm(train)(h), 0.2)
    return h.reshape(h.shape[0], -1).astype(jnp.float32)

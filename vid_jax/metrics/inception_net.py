"""pytorch-fid's FID InceptionV3 up to pool3 (2048-d), in Flax: the network alone.

The network is the TF "2015-12-05" Inception graph as pytorch-fid rebuilds it
(torchvision's Inception3 with FIDInceptionA/C/E_1/E_2 blocks):

* every conv is `BasicConv2d`: conv without bias, BatchNorm(eps=1e-3), ReLU;
* FIDInceptionA / FIDInceptionC / FIDInceptionE_1 average-pool their pool
  branch with `count_include_pad=False` (TF's SAME average pooling);
* FIDInceptionE_2 (Mixed_7c) max-pools its pool branch (a quirk of the TF graph);
* input handling as pytorch-fid: images in [0, 1] are resized to 299x299 with
  bilinear interpolation (align_corners=False, no antialiasing), then mapped to
  [-1, 1]; the output is the global average pool of Mixed_7c: [B, 2048].

Flax module names equal the PyTorch ones, so that weights map one to one
(`vid_jax.metrics.inception` loads and converts them).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

FEATURE_DIM = 2048
INPUT_SIZE = 299

Pad = tuple[tuple[int, int], tuple[int, int]]


def _pad(ph: int, pw: int) -> Pad:
  return ((ph, ph), (pw, pw))


class BasicConv2d(nn.Module):
  """Conv (no bias) -> BatchNorm(eps=1e-3, running statistics) -> ReLU."""
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: Pad = ((0, 0), (0, 0))

  @nn.compact
  def __call__(self, x):  # [B, H, W, Cin] -> [B, H', W', features]
    # HIGHEST: accelerators would otherwise use bf16 passes and shift FID.
    x = nn.Conv(self.features, self.kernel_size, strides=self.strides, padding=self.padding, use_bias=False,
                precision=jax.lax.Precision.HIGHEST, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
    return nn.relu(x)


def _avg_pool_3x3_same(x):
  # TF SAME average pooling: padded zeros are not counted.
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=_pad(1, 1), count_include_pad=False)


def _max_pool_3x3_same(x):
  return nn.max_pool(x, (3, 3), strides=(1, 1), padding=_pad(1, 1))


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class FIDInceptionA(nn.Module):
  """Mixed_5b/5c/5d: 1x1 | 5x5 | double 3x3 | avg-pool + 1x1 (64+64+96+pool)."""
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv2d(64, (5, 5), padding=_pad(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv2d(96, (3, 3), padding=_pad(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv2d(96, (3, 3), padding=_pad(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a (torchvision's block): stride-2 3x3 | double 3x3 | max-pool."""

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(384, (3, 3), strides=(2, 2), name="branch3x3")(x)
    bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(96, (3, 3), padding=_pad(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv2d(96, (3, 3), strides=(2, 2), name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class FIDInceptionC(nn.Module):
  """Mixed_6b..6e: factorised 7x7 branches, avg-pool branch; 768 channels out."""
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv2d(c7, (1, 7), padding=_pad(0, 3), name="branch7x7_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=_pad(3, 0), name="branch7x7_3")(b7)
    bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv2d(c7, (7, 1), padding=_pad(3, 0), name="branch7x7dbl_2")(bd)
    bd = BasicConv2d(c7, (1, 7), padding=_pad(0, 3), name="branch7x7dbl_3")(bd)
    bd = BasicConv2d(c7, (7, 1), padding=_pad(3, 0), name="branch7x7dbl_4")(bd)
    bd = BasicConv2d(192, (1, 7), padding=_pad(0, 3), name="branch7x7dbl_5")(bd)
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a (torchvision's block): stride-2 3x3 | 7x7 then stride-2 3x3 | max-pool."""

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv2d(320, (3, 3), strides=(2, 2), name="branch3x3_2")(b3)
    b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv2d(192, (1, 7), padding=_pad(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=_pad(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv2d(192, (3, 3), strides=(2, 2), name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class FIDInceptionE(nn.Module):
  """Mixed_7b (pool="avg", FIDInceptionE_1) and Mixed_7c (pool="max", FIDInceptionE_2)."""
  pool: str

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=_pad(0, 1), name="branch3x3_2a")(b3),
        BasicConv2d(384, (3, 1), padding=_pad(1, 0), name="branch3x3_2b")(b3),
    ], axis=-1)
    bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(384, (3, 3), padding=_pad(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=_pad(0, 1), name="branch3x3dbl_3a")(bd),
        BasicConv2d(384, (3, 1), padding=_pad(1, 0), name="branch3x3dbl_3b")(bd),
    ], axis=-1)
    pooled = (_avg_pool_3x3_same(x) if self.pool == "avg" else _max_pool_3x3_same(x))
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def resize_bilinear(images, size: int):
  """Bilinear resize as torch `F.interpolate(..., align_corners=False)`.

  No antialiasing (torch's default), half-pixel centres, edge samples clamped.

  Args:
    images: [B, H, W, C] float.
    size: output height and width.

  Returns:
    [B, size, size, C] float.
  """
  b, _, _, c = images.shape
  return jax.image.resize(images, (b, size, size, c), method="bilinear", antialias=False)


class InceptionV3(nn.Module):
  """pytorch-fid's InceptionV3 up to pool3 (its output block 3).

  Attributes:
    resize_input: resize inputs to 299x299 first (pytorch-fid's default).
    normalize_input: map inputs from [0, 1] to [-1, 1] (pytorch-fid's default).
  """
  resize_input: bool = True
  normalize_input: bool = True

  @nn.compact
  def __call__(self, x):
    """Pool3 features.

    Args:
      x: [B, H, W, 3] float images in [0, 1] (H, W >= 75 when not resizing).

    Returns:
      [B, 2048] float32 features.
    """
    x = jnp.asarray(x, jnp.float32)
    if self.resize_input:
      x = resize_bilinear(x, INPUT_SIZE)  # [B, 299, 299, 3]
    if self.normalize_input:
      x = 2.0 * x - 1.0
    # Block 0.
    x = BasicConv2d(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)  # 149
    x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)  # 147
    x = BasicConv2d(64, (3, 3), padding=_pad(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_s2(x)  # [B, 73, 73, 64]
    # Block 1.
    x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)  # 71
    x = _max_pool_3x3_s2(x)  # [B, 35, 35, 192]
    # Block 2.
    x = FIDInceptionA(32, name="Mixed_5b")(x)  # 256
    x = FIDInceptionA(64, name="Mixed_5c")(x)  # 288
    x = FIDInceptionA(64, name="Mixed_5d")(x)  # 288
    x = InceptionB(name="Mixed_6a")(x)  # [B, 17, 17, 768]
    x = FIDInceptionC(128, name="Mixed_6b")(x)
    x = FIDInceptionC(160, name="Mixed_6c")(x)
    x = FIDInceptionC(160, name="Mixed_6d")(x)
    x = FIDInceptionC(192, name="Mixed_6e")(x)  # [B, 17, 17, 768]
    # Block 3.
    x = InceptionD(name="Mixed_7a")(x)  # [B, 8, 8, 1280]
    x = FIDInceptionE("avg", name="Mixed_7b")(x)  # 2048
    x = FIDInceptionE("max", name="Mixed_7c")(x)  # [B, 8, 8, 2048]
    return jnp.mean(x, axis=(1, 2))  # [B, 2048]

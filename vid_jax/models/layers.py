"""4x4 convolution layers of the DCGAN family (and G's 3x3 resize-conv), with a selectable implementation.

`impl="native"` uses flax's Conv / ConvTranspose. `impl="fast"` computes the same
function through forms that XLA:CPU runs well (see docs/performance.md). Both
create the same parameters (`kernel`, HWIO, [4, 4, C_in, C_out]), so checkpoints
are interchangeable between implementations.

Layouts follow PyTorch's `nn.ConvTranspose2d(k=4, s, p)` / `nn.Conv2d(k=4, s, p)`
output sizes: stride 1, padding 0 maps 1x1 -> 4x4 (transposed) or 4x4 -> 1x1;
stride 2, padding 1 doubles (transposed) or halves the spatial size.
"""
from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn

from vid_jax.errors import UserError
from vid_jax.models import fast_conv

CONV_IMPLS = ("auto", "native", "fast")
RESIZE_METHODS = ("nearest", "bilinear")
# DCGAN's weight init (Radford et al. 2016): N(0, 0.02).
dcgan_init = nn.initializers.normal(stddev=0.02)


def max_pool_2x2(x):
  """[B, H, W, C] -> [B, H/2, W/2, C], the max of each 2x2 block (H, W even)."""
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def resolve_conv_impl(impl: str, backend: str | None = None) -> str:
  """Maps `auto` to `fast` on CPU and `native` on GPU/TPU; checks the name."""
  if impl not in CONV_IMPLS:
    raise UserError(f"model.conv_impl={impl!r} is unknown; use one of {', '.join(CONV_IMPLS)}")
  if impl != "auto":
    return impl
  backend = backend or jax.default_backend()
  return "fast" if backend == "cpu" else "native"


def _check(kernel_size: int, stride: int, padding: int):
  if (kernel_size, stride, padding) not in ((4, 1, 0), (4, 2, 1)):
    raise ValueError(f"only 4x4 layers with (stride, padding) in ((1, 0), (2, 1)) are supported, "
                     f"got kernel {kernel_size}, stride {stride}, padding {padding}")


class _Layer4(nn.Module):
  """Shared parameter and dtype handling of the 4x4 layers; subclasses name the two ops."""
  features: int
  stride: int = 2
  padding: int = 1
  impl: str = "native"
  dtype: Any = jnp.float32
  kernel_init: Any = dcgan_init

  def native(self, x, kernel):
    raise NotImplementedError

  def fast(self, x, kernel):
    raise NotImplementedError

  @nn.compact
  def __call__(self, x):  # [B, H, W, C_in] -> [B, H', W', features]
    _check(4, self.stride, self.padding)
    kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    if resolve_conv_impl(self.impl) == "fast":
      return self.fast(x, kernel)
    return self.native(x, kernel)


class ConvT4(_Layer4):
  """Transposed 4x4 convolution without bias (PyTorch ConvTranspose2d layout)."""

  def native(self, x, kernel):
    pad = 4 - 1 - self.padding
    return jax.lax.conv_transpose(x, kernel, strides=(self.stride, self.stride),
                                  padding=((pad, pad), (pad, pad)),
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))

  def fast(self, x, kernel):
    return fast_conv.conv_transpose4(x, kernel, stride=self.stride, padding=self.padding)


class Conv4(_Layer4):
  """4x4 convolution without bias (PyTorch Conv2d layout)."""

  def native(self, x, kernel):
    p = self.padding
    return jax.lax.conv_general_dilated(x, kernel, window_strides=(self.stride, self.stride),
                                        padding=((p, p), (p, p)), dimension_numbers=("NHWC", "HWIO", "NHWC"))

  def fast(self, x, kernel):
    return fast_conv.conv4(x, kernel, stride=self.stride, padding=self.padding)


def upsample2x(x, method: str):
  """[B, H, W, C] -> [B, 2H, 2W, C]: nearest (each pixel repeated 2x2) or bilinear (jax.image.resize)."""
  if method == "nearest":
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
  if method == "bilinear":
    b, h, w, c = x.shape
    return jax.image.resize(x, (b, 2 * h, 2 * w, c), "bilinear").astype(x.dtype)
  raise ValueError(f"method={method!r}; use one of {RESIZE_METHODS}")


class ResizeConv3(nn.Module):
  """2x resize then a 3x3 / stride-1 / 'SAME' convolution without bias (Odena et al. 2016).

  [B, H, W, C_in] -> [B, 2H, 2W, features]; parameter `kernel` [3, 3, C_in, features] (HWIO),
  the same in both implementations. `impl="fast"`: nearest runs as one 4x4 transposed conv on
  fast_conv's ConvT4 path (`fast_conv.nearest_up_conv3`, 4/9 of the multiplies); bilinear resizes
  and then runs `fast_conv.conv3`.
  """
  features: int
  method: str = "nearest"  # nearest | bilinear
  impl: str = "native"
  dtype: Any = jnp.float32
  kernel_init: Any = dcgan_init

  @nn.compact
  def __call__(self, x):  # [B, H, W, C_in] -> [B, 2H, 2W, features]
    if self.method not in RESIZE_METHODS:
      raise ValueError(f"method={self.method!r}; use one of {RESIZE_METHODS}")
    kernel = self.param("kernel", self.kernel_init, (3, 3, x.shape[-1], self.features), jnp.float32)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    fast = resolve_conv_impl(self.impl) == "fast"
    if fast and self.method == "nearest":
      return fast_conv.nearest_up_conv3(x, kernel)
    x = upsample2x(x, self.method)
    return fast_conv.conv3(x, kernel) if fast else fast_conv.native_conv3(x, kernel)

"""4x4 DCGAN convolutions in forms that XLA:CPU runs fast, with exact native semantics.

XLA:CPU computes the *weight gradient* of `lax.conv_transpose` (an input-dilated
convolution) through a slow generic loop: ~1 GFLOP/s, against 100-200 GFLOP/s
for ordinary strided convolutions and their gradients. The three products of a
4x4 / stride-2 / padding-1 layer pair are the same three maps with roles
swapped, so each layer is a `jax.custom_vjp` built from the other two:

  up(x, K)          = conv_transpose(x, K)              # forward of ConvT4
  down(x, K)        = conv(x, K, stride 2, padding 1)   # forward of Conv4
  down_grad_k(x, g) = d<g, down(x, K)>/dK               # weight gradient of Conv4

  ConvT4:  dx = down(g, K~)      dK = down_grad_k(g, x)~
  Conv4:   dx = up(g, K~)        dK = down_grad_k(x, g)

with K~ = the kernel flipped in space with its input/output channels swapped
(`_flip_swap`, its own inverse). The slow op never appears in first-order
gradients; input gradients are themselves custom-rule layers, so gradients of
gradients (penalties on input gradients) stay on the fast forms as well. Each of
the three maps uses whichever formulation measured fastest for its shape
(`tools/bench/layers.py --forms` times them all): the native op, the phase
form of the transposed conv, space-to-depth + stride-1 2x2 conv, explicit patches
+ one matmul, or Winograd F(2x2, 2x2) on the space-to-depth form (9 instead of
16 multiplies per 2x2 output tile; its gradients are JAX's autodiff of the same
slices, adds and batched matmuls).

The stride-1 / padding-0 layers of DCGAN (1x1 -> 4x4 and 4x4 -> 1x1) are
matrix products and are written as such; other input sizes use the native op.

Both functions equal, for (stride, padding) in {(1, 0), (2, 1)}:
  conv_transpose4: lax.conv_transpose(x, K, (s, s), ((3 - p, 3 - p),) * 2, NHWC/HWIO/NHWC)
  conv4:           lax.conv_general_dilated(x, K, (s, s), ((p, p),) * 2, NHWC/HWIO/NHWC)

Only reverse-mode differentiation is supported for the stride-2 layers
(`jax.custom_vjp`); `jax.jvp` / `jax.jacfwd` through them raise.
"""
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

_DN = ("NHWC", "HWIO", "NHWC")

# Where the phase form of the transposed convolution beat the native op (2-core AVX-512 CPU,
# batch 64: 16x16x128 -> 32x32x64 in 57-86 ms against 83-123 ms, measured under contention; it
# lost on 4x4/8x8 inputs and on 3 output channels).
UP_PHASE_MIN_SIZE = 16  # output height and width at least this
UP_PHASE_MIN_FEATURES = 16  # and at least this many output channels
DOWN_S2D_GRAD_MIN_SIZE = 16  # Conv4 input gradient via space-to-depth from this input size up
# Quiet 2-core Xeon (AVX-512), 2026-12-01, batch 64, ms per pass (tools/bench/layers.py --forms):
GRAD_K_PATCHES_MAX_CHANNELS = 4  # weight gradient as one patches matmul for RGB inputs (15-16 -> 5-6)
GRAD_K_S2D_MIN_SIZE = 32  # weight gradient by space-to-depth taps in batch chunks (55-60 -> 35-37)
GRAD_K_CHUNKS = 4
# Winograd forms for the Conv4 input gradient (inputs up to this size) and weight gradient: 0 = off.
# Single passes measured 10-30% faster on 8x8 maps in some runs and slower in others; in the
# whole step they did not pay (76.3 vs 78.4 images/s with them off, alternating rounds of one
# run), so they are off; the forms stay tested and timed for other CPUs.
WINO_GRAD_X_MAX_SIZE = 0
WINO_GRAD_K_MAX_SIZE = 0


def _check(x, kernel, stride: int, padding: int):
  if (stride, padding) not in ((1, 0), (2, 1)):
    raise ValueError(f"(stride, padding) must be (1, 0) or (2, 1), got ({stride}, {padding})")
  if kernel.ndim != 4 or kernel.shape[:2] != (4, 4) or x.ndim != 4 or x.shape[-1] != kernel.shape[2]:
    raise ValueError(f"expected x [B, H, W, C] and kernel [4, 4, C, D], got {x.shape} and {kernel.shape}")


def native_conv_transpose4(x, kernel, *, stride: int, padding: int):
  """The reference: `lax.conv_transpose` in PyTorch's ConvTranspose2d(k=4) sizes."""
  pad = 3 - padding
  return lax.conv_transpose(x, kernel, strides=(stride, stride), padding=((pad, pad), (pad, pad)),
                            dimension_numbers=_DN)


def native_conv4(x, kernel, *, stride: int, padding: int):
  """The reference: `lax.conv_general_dilated` in PyTorch's Conv2d(k=4) sizes."""
  return lax.conv_general_dilated(x, kernel, (stride, stride), ((padding, padding), (padding, padding)),
                                  dimension_numbers=_DN)


def _flip_swap(kernel):  # [k, k, A, B] -> [k, k, B, A]
  return jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)


# ----------------------------------------------------------------------------- the three maps


def _up(x, kernel):  # [B, H, W, C], [4, 4, C, D] -> [B, 2H, 2W, D]
  _, h, w, _ = x.shape
  if min(2 * h, 2 * w) >= UP_PHASE_MIN_SIZE and kernel.shape[-1] >= UP_PHASE_MIN_FEATURES:
    return _up_phase(x, kernel)
  return native_conv_transpose4(x, kernel, stride=2, padding=1)


def _up_phase(x, kernel):  # [B, H, W, C], [4, 4, C, D] -> [B, 2H, 2W, D]
  # Output row 2m + a (phase a) is sum_q xp[m + a + q] K[2q + a], xp = x padded by 1: a stride-1
  # 2x2 convolution of xp whose window starts at m + a. One such convolution with all four
  # phases' kernels as output channels, read at the right offsets and interleaved, is the
  # transposed convolution; (H+1)(W+1)/(HW) of the useful FLOPs (1.06 at 32x32).
  b, h, w, c = x.shape
  d = kernel.shape[-1]
  k = kernel.reshape(2, 2, 2, 2, c, d).transpose(0, 2, 4, 1, 3, 5)  # [q_h, q_w, C, a_h, a_w, D]
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))  # [B, H+2, W+2, C]
  y = lax.conv_general_dilated(xp, k.reshape(2, 2, c, 4 * d), (1, 1), "VALID", dimension_numbers=_DN)
  y = y.reshape(b, h + 1, w + 1, 2, 2, d)
  rows = [jnp.stack([y[:, a:a + h, e:e + w, a, e] for e in range(2)], axis=3) for a in range(2)]
  return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, d)  # [B, H, a, W, e, D] -> [B, 2H, 2W, D]


def _down(x, kernel):  # [B, 2H, 2W, C], [4, 4, C, D] -> [B, H, W, D]
  # Space-to-depth + 2x2 conv and im2col + dot were measured too; neither beat the native op
  # consistently (at best 15-25% on 8x8 -> 4x4 maps in wall time, and not in CPU time).
  return native_conv4(x, kernel, stride=2, padding=1)


def _space_to_depth(x):  # [B, 2H, 2W, C] -> [B, H+1, W+1, 4C]: pad by 1, then 2x2 blocks to channels
  # Input row 2m + t (t = 2u + r) of the 4x4 / stride-2 / padding-1 conv is phase r of
  # space-to-depth row m + u: the conv becomes a stride-1 2x2 conv of this array.
  b, h2, w2, c = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  s = xp.reshape(b, h2 // 2 + 1, 2, w2 // 2 + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
  return s.reshape(b, h2 // 2 + 1, w2 // 2 + 1, 4 * c)  # channels ordered (r, s, C)


def _s2d_kernel(kernel):  # [4, 4, C, D] -> [2, 2, 4C, D], the kernel of the space-to-depth form
  c, d = kernel.shape[2:]
  return kernel.reshape(2, 2, 2, 2, c, d).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * c, d)


def _down_s2d(x, kernel):  # [B, 2H, 2W, C], [4, 4, C, D] -> [B, H, W, D]
  # The same map as _down, as space-to-depth followed by a stride-1 2x2 convolution.
  return lax.conv_general_dilated(_space_to_depth(x), _s2d_kernel(kernel), (1, 1), "VALID",
                                  dimension_numbers=_DN)


# ----------------------------------------------------------------------------- Winograd forms
#
# Winograd's minimal filtering F(2, 2) (Lavin & Gray 2016 give the 2-D nesting): two outputs of a
# 2-tap correlation y_i = d_i g_0 + d_{i+1} g_1 from three products,
#   m0 = (d0 - d1) g0,  m1 = d1 (g0 + g1),  m2 = (d2 - d1) g1;  y0 = m0 + m1,  y1 = m1 + m2,
# i.e. y = A^T [(G g) * (B^T d)] with integer matrices (no rounding beyond fp32 adds). Nested
# over rows and columns, a 2x2 output tile of a stride-1 2x2 convolution costs 9 channel
# matmuls instead of 16: the space-to-depth form of the stride-2 conv runs on 9/16 of the
# multiplies. Everything is slices, adds and one batched matmul, so JAX's autodiff of it (input
# and weight gradients, and their transposes) is again 9 batched matmuls plus cheap transforms.


def _bt(d0, d1, d2):  # B^T d
  return (d0 - d1, d1, d2 - d1)


def _gk(k0, k1):  # G g
  return (k0, k0 + k1, k1)


def _wino2x2(x, kernel):  # [B, H+1, W+1, C], [2, 2, C, D] -> [B, H, W, D]; H, W even
  """Stride-1 VALID 2x2 convolution (cross-correlation, as lax.conv) by Winograd F(2x2, 2x2)."""
  b, hp, wp, c = x.shape
  h, w = hp - 1, wp - 1
  d = kernel.shape[-1]
  # Tile (t, s) reads x[2t:2t+3, 2s:2s+3]; sl[u][v] = its element (u, v) for every tile.
  sl = [[x[:, u:u + h:2, v:v + w:2, :] for v in range(3)] for u in range(3)]
  rows = [_bt(*sl[u]) for u in range(3)]  # along W: rows[u][v]
  v_ = [_bt(rows[0][v], rows[1][v], rows[2][v]) for v in range(3)]  # along H: v_[v][u]
  tiles = jnp.stack([v_[v][u] for u in range(3) for v in range(3)], 0).reshape(9, -1, c)
  kr = [_gk(kernel[0, q], kernel[1, q]) for q in range(2)]  # along H: kr[q][u]
  u_ = jnp.stack([t for u in range(3) for t in _gk(kr[0][u], kr[1][u])], 0)  # [9, C, D]
  m = jnp.einsum("pnc,pcd->pnd", tiles, u_).reshape(3, 3, b, h // 2, w // 2, d)
  r = (m[0] + m[1], m[1] + m[2])  # A^T along H
  y = [jnp.stack([r[a][0] + r[a][1], r[a][1] + r[a][2]], 3) for a in range(2)]  # A^T along W
  return jnp.stack(y, 2).reshape(b, h, w, d)  # [B, H/2, a, W/2, e, D] -> [B, H, W, D]


def _wino_ok(h: int, w: int) -> bool:  # the stride-2 conv's output tiles 2x2 exactly
  return h % 2 == 0 and w % 2 == 0


def _down_wino(x, kernel):  # [B, 2H, 2W, C], [4, 4, C, D] -> [B, H, W, D]
  return _wino2x2(_space_to_depth(x), _s2d_kernel(kernel))


def _down_wino_grad_x(g, kernel, x_shape):  # [B, H, W, D] -> [B, 2H, 2W, C]
  x = jax.ShapeDtypeStruct(x_shape, g.dtype)
  grad_x, = jax.linear_transpose(lambda x: _down_wino(x, kernel), x)(g)
  return grad_x


def _down_wino_grad_k(x, g):  # [B, 2H, 2W, C], [B, H, W, D] -> [4, 4, C, D]
  k = jax.ShapeDtypeStruct((4, 4, x.shape[-1], g.shape[-1]), g.dtype)
  grad_k, = jax.linear_transpose(lambda k: _down_wino(x, k), k)(g)
  return grad_k


def _up_wino(x, kernel):  # [B, H, W, C], [4, 4, C, D] -> [B, 2H, 2W, D]
  # The transposed conv is the adjoint of the conv with the flipped, swapped kernel.
  b, h, w, _ = x.shape
  return _down_wino_grad_x(x, _flip_swap(kernel), (b, 2 * h, 2 * w, kernel.shape[-1]))


def _down_grad_x(g, kernel, x_shape):  # [B, H, W, D] -> [B, 2H, 2W, C]
  # The input gradient of the stride-2 conv through its space-to-depth form: a stride-1
  # transposed convolution (no input dilation) and a depth-to-space, measured 1.7-2x faster than
  # the transposed-conv forms on the D's 32x32 maps.
  x = jax.ShapeDtypeStruct(x_shape, g.dtype)
  grad_x, = jax.linear_transpose(lambda x: _down_s2d(x, kernel), x)(g)
  return grad_x


def _down_grad_k(x, g):  # [B, 2H, 2W, C], [B, H, W, D] -> [4, 4, C, D]
  b, h2, w2, c = x.shape
  if c <= GRAD_K_PATCHES_MAX_CHANNELS:
    return _down_grad_k_patches(x, g)
  if min(h2, w2) >= GRAD_K_S2D_MIN_SIZE and b % GRAD_K_CHUNKS == 0:
    return _down_grad_k_s2d_chunked(x, g, GRAD_K_CHUNKS)
  if max(h2, w2) <= WINO_GRAD_K_MAX_SIZE and _wino_ok(h2 // 2, w2 // 2):
    return _down_wino_grad_k(x, g)
  return _down_grad_k_native(x, g)


def _down_grad_k_native(x, g):  # linear in the kernel: its transpose is the native weight gradient
  k = jax.ShapeDtypeStruct((4, 4, x.shape[-1], g.shape[-1]), g.dtype)
  grad_k, = jax.linear_transpose(lambda k: native_conv4(x, k, stride=2, padding=1), k)(g)
  return grad_k


def _down_grad_k_patches(x, g):  # few input channels: one [16C, N] x [N, D] matmul over patches
  _, h2, w2, c = x.shape
  d = g.shape[-1]
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  patches = jnp.stack([xp[:, i:i + h2:2, j:j + w2:2, :] for i in range(4) for j in range(4)], 3)
  grad = lax.dot_general(patches.reshape(-1, 16 * c), g.reshape(-1, d), (((0,), (0,)), ((), ())))
  return grad.reshape(4, 4, c, d)


def _down_grad_k_s2d(x, g):  # the space-to-depth form's 2x2 taps against the output gradient
  s = _space_to_depth(x)  # [B, H+1, W+1, 4C]
  _, h, w, d = g.shape
  c4 = s.shape[-1]
  taps = jnp.stack([s[:, p:p + h, q:q + w, :] for p in range(2) for q in range(2)], 3)
  grad = lax.dot_general(taps.reshape(-1, 4 * c4), g.reshape(-1, d), (((0,), (0,)), ((), ())))
  # Back from the [2, 2, (r, s, C), D] layout of _s2d_kernel to [4, 4, C, D].
  return grad.reshape(2, 2, 2, 2, c4 // 4, d).transpose(0, 2, 1, 3, 4, 5).reshape(4, 4, c4 // 4, d)


def _down_grad_k_s2d_chunked(x, g, chunks: int):
  # Summed over batch chunks one after another (lax.map): each chunk's taps stay in cache.
  b = x.shape[0]
  xs = x.reshape(chunks, b // chunks, *x.shape[1:])
  gs = g.reshape(chunks, b // chunks, *g.shape[1:])
  return jnp.sum(lax.map(lambda a: _down_grad_k_s2d(*a), (xs, gs)), axis=0)


# ----------------------------------------------------------------------------- stride-2 layers


@jax.custom_vjp
def _conv_transpose_s2(x, kernel):
  return _up(x, kernel)


def _conv_transpose_s2_fwd(x, kernel):
  return _up(x, kernel), (x, kernel)


def _conv_transpose_s2_bwd(res, g):
  x, kernel = res
  # The input gradient calls the custom-rule layer, so gradients of gradients stay fast too.
  return _conv_s2(g, _flip_swap(kernel)), _flip_swap(_down_grad_k(g, x))


_conv_transpose_s2.defvjp(_conv_transpose_s2_fwd, _conv_transpose_s2_bwd)


@jax.custom_vjp
def _conv_s2(x, kernel):
  return _down(x, kernel)


def _conv_s2_fwd(x, kernel):
  return _down(x, kernel), (x, kernel)


def _conv_s2_bwd(res, g):
  x, kernel = res
  if max(x.shape[1:3]) <= WINO_GRAD_X_MAX_SIZE and _wino_ok(*g.shape[1:3]):  # off by default
    grad_x = _down_wino_grad_x(g, kernel, x.shape)
  elif min(x.shape[1:3]) >= DOWN_S2D_GRAD_MIN_SIZE:
    grad_x = _down_grad_x(g, kernel, x.shape)
  else:  # small maps: the transposed-conv layer (its own rules keep double gradients fast)
    grad_x = _conv_transpose_s2(g, _flip_swap(kernel))
  return grad_x, _down_grad_k(x, g)


_conv_s2.defvjp(_conv_s2_fwd, _conv_s2_bwd)

# ----------------------------------------------------------------------------- public API


def conv_transpose4(x, kernel, *, stride: int, padding: int):
  """4x4 transposed convolution, equal to `native_conv_transpose4`.

  Args:
    x: [B, H, W, C] input.
    kernel: [4, 4, C, D] kernel (HWIO), same dtype as `x`.
    stride: 1 or 2.
    padding: 0 with stride 1, 1 with stride 2 (PyTorch's meaning).

  Returns:
    [B, H + 3, W + 3, D] for (1, 0), [B, 2H, 2W, D] for (2, 1).
  """
  _check(x, kernel, stride, padding)
  if stride == 2:
    return _conv_transpose_s2(x, kernel)
  if x.shape[1:3] == (1, 1):
    # A 1x1 input is a projection: out[b, i, j] = x[b] @ K[3 - i, 3 - j].
    return jnp.einsum("bc,hwcd->bhwd", x[:, 0, 0, :], jnp.flip(kernel, (0, 1)))  # [B, 4, 4, D]
  return native_conv_transpose4(x, kernel, stride=stride, padding=padding)


def conv4(x, kernel, *, stride: int, padding: int):
  """4x4 convolution, equal to `native_conv4`.

  Args:
    x: [B, H, W, C] input.
    kernel: [4, 4, C, D] kernel (HWIO), same dtype as `x`.
    stride: 1 or 2.
    padding: 0 with stride 1, 1 with stride 2 (PyTorch's meaning).

  Returns:
    [B, H - 3, W - 3, D] for (1, 0), [B, floor(H / 2), floor(W / 2), D] for (2, 1).
  """
  _check(x, kernel, stride, padding)
  b, h, w, c = x.shape
  if stride == 2:
    if h % 2 or w % 2:  # the transposed map would not restore an odd size
      return native_conv4(x, kernel, stride=stride, padding=padding)
    return _conv_s2(x, kernel)
  if (h, w) == (4, 4):
    # A 4x4 input is one dot product per example.
    return jnp.dot(x.reshape(b, 16 * c), kernel.reshape(16 * c, -1)).reshape(b, 1, 1, -1)
  return native_conv4(x, kernel, stride=stride, padding=padding)


# ----------------------------------------------------------------------------- 3x3 resize-convolutions
#
# The generator's resize-convolution stages (model.g_upsample, Odena et al. 2016): a 2x resize,
# then a 3x3 / stride-1 / 'SAME' convolution. Nearest-neighbour x2 followed by the 3x3 conv is
# exactly a 4x4 / stride-2 transposed convolution whose kernel is a fixed linear map of the 3x3
# one (`nearest_kernel4`): along each axis, output 2m reads x[m-1] K[0] + x[m] (K[1] + K[2]) and
# output 2m+1 reads x[m] (K[0] + K[1]) + x[m+1] K[2], the zero padding of both forms agreeing.
# It runs on the fast ConvT4 path above at 4/9 of the multiplies. Bilinear resizing has no such
# 4x4 form; its fast path is `conv3`, whose forms were picked by timing each pass on G's shapes
# (2-core AMD EPYC, batch 64, docs/performance.md): XLA:CPU's native 3x3 conv ran at 40-80
# GFLOP/s on 8x8-32x32 maps but at 5-13 GFLOP/s on G's last layer (64 -> 3 channels at 64x64),
# where one matmul and shifted sums (forward) and x^T [shifted g] (weight gradient, from 32x32
# maps up) took 0.6x and 0.4-0.8x the native time.

# Along one axis, the 4 taps of the transposed kernel from the 3 taps of the 3x3 one.
_NEAREST_TAPS = ((1, 0, 0), (1, 1, 0), (0, 1, 1), (0, 0, 1))
CONV3_OUT_SHIFT_MAX_CHANNELS = 8  # forward as shifted sums of the taps' products up to this many outputs
CONV3_GRAD_K_SHIFT_MIN_SIZE = 32  # weight gradient as x^T [shifted g] in batch chunks from here
CONV3_GRAD_K_CHUNKS = 4


def native_conv3(x, kernel):
  """The reference: `lax.conv_general_dilated`, 3x3, stride 1, padding 1 ('SAME')."""
  return lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_DN)


def nearest_kernel4(kernel):  # [3, 3, C, D] -> [4, 4, C, D]
  """The ConvT4 (stride 2, padding 1) kernel equal to nearest-neighbour x2 then `native_conv3`."""
  a = jnp.asarray(_NEAREST_TAPS, kernel.dtype)
  return jnp.einsum("ai,bj,ijcd->abcd", a, a, kernel)


def nearest_up_conv3(x, kernel):  # [B, H, W, C], [3, 3, C, D] -> [B, 2H, 2W, D]
  """Nearest-neighbour 2x upsampling then a 3x3 SAME convolution, as one fast ConvT4."""
  if kernel.shape[:2] != (3, 3) or x.ndim != 4 or x.shape[-1] != kernel.shape[2]:
    raise ValueError(f"expected x [B, H, W, C] and kernel [3, 3, C, D], got {x.shape} and {kernel.shape}")
  return _conv_transpose_s2(x, nearest_kernel4(kernel))


def _shifted_back(g):  # [B, H, W, D] -> [B, H, W, 9, D]: g[p - (i - 1, j - 1)] for tap (i, j)
  _, h, w, _ = g.shape
  gp = jnp.pad(g, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return jnp.stack([gp[:, 2 - i:2 - i + h, 2 - j:2 - j + w] for i in range(3) for j in range(3)], 3)


def _conv3_out_shift(x, kernel):  # few output channels: all 9 taps' products, then shifted sums
  b, h, w, c = x.shape
  d = kernel.shape[-1]
  z = jnp.dot(x.reshape(-1, c), kernel.transpose(2, 0, 1, 3).reshape(c, 9 * d)).reshape(b, h, w, 9, d)
  zp = jnp.pad(z, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)))  # y[p] = sum_t z[p + t - 1, t]
  return sum(zp[:, i:i + h, j:j + w, 3 * i + j] for i in range(3) for j in range(3))


def _conv3_forward(x, kernel):
  # (The mirror form for few input channels, 9 shifted inputs and one matmul, measured 1.4x slower
  # than the native op on G's last input gradient, 64x64x3 -> 64.)
  c, d = kernel.shape[2:]
  if d <= CONV3_OUT_SHIFT_MAX_CHANNELS < c:
    return _conv3_out_shift(x, kernel)
  return native_conv3(x, kernel)


def _conv3_grad_k_shift(x, g):  # x^T [g shifted by each tap]: [C, N] x [N, 9D]
  c, d = x.shape[-1], g.shape[-1]
  g9 = _shifted_back(g).reshape(-1, 9 * d)
  grad = lax.dot_general(x.reshape(-1, c), g9, (((0,), (0,)), ((), ())))
  return grad.reshape(c, 3, 3, d).transpose(1, 2, 0, 3)


def _conv3_grad_k(x, g):  # [B, H, W, C], [B, H, W, D] -> [3, 3, C, D]
  b, h, w, c = x.shape
  if min(h, w) >= CONV3_GRAD_K_SHIFT_MIN_SIZE and b % CONV3_GRAD_K_CHUNKS == 0:
    # Summed over batch chunks one after another (lax.map): each chunk's shifted copies stay small.
    n = CONV3_GRAD_K_CHUNKS
    xs, gs = x.reshape(n, b // n, h, w, c), g.reshape(n, b // n, h, w, g.shape[-1])
    return jnp.sum(lax.map(lambda a: _conv3_grad_k_shift(*a), (xs, gs)), axis=0)
  k = jax.ShapeDtypeStruct((3, 3, c, g.shape[-1]), g.dtype)
  grad_k, = jax.linear_transpose(lambda k: native_conv3(x, k), k)(g)
  return grad_k


@jax.custom_vjp
def _conv3(x, kernel):
  return _conv3_forward(x, kernel)


def _conv3_fwd(x, kernel):
  return _conv3_forward(x, kernel), (x, kernel)


def _conv3_bwd(res, g):
  x, kernel = res
  # The input gradient is the same conv with the flipped, swapped kernel (through the custom rule,
  # so gradients of gradients stay on these forms).
  return _conv3(g, _flip_swap(kernel)), _conv3_grad_k(x, g)


_conv3.defvjp(_conv3_fwd, _conv3_bwd)


def conv3(x, kernel):
  """3x3 / stride-1 / padding-1 convolution, equal to `native_conv3`.

  Args:
    x: [B, H, W, C] input.
    kernel: [3, 3, C, D] kernel (HWIO), same dtype as `x`.

  Returns:
    [B, H, W, D].
  """
  if kernel.ndim != 4 or kernel.shape[:2] != (3, 3) or x.ndim != 4 or x.shape[-1] != kernel.shape[2]:
    raise ValueError(f"expected x [B, H, W, C] and kernel [3, 3, C, D], got {x.shape} and {kernel.shape}")
  return _conv3(x, kernel)


# ----------------------------------------------------------------------------- layer inventory


class Layer(NamedTuple):
  """One 4x4 layer of the DCGAN pair, for tests and tools/bench/layers.py."""
  name: str  # e.g. "G1 ConvT 4x4x512->8x8x256"
  transposed: bool  # ConvT4 (generator) or Conv4 (discriminator)
  stride: int
  padding: int
  size: int  # input height = width
  c_in: int
  c_out: int

  def flops(self, batch: int) -> int:
    """2 x multiply-adds of the forward pass (each gradient pass costs the same)."""
    # A transposed conv spreads every input pixel over 16 taps; a conv gathers 16 per output pixel.
    out = (self.size + 2 * self.padding - 4) // self.stride + 1
    pixels = self.size**2 if self.transposed else out**2
    return 2 * batch * pixels * 16 * self.c_in * self.c_out


def dcgan_layers(resolution: int, *, width: int = 64, z_dim: int = 100) -> list[Layer]:
  """The 4x4 layers of vid_jax's DCGAN generator and discriminator at `resolution`."""
  stages = int(math.log2(resolution)) - 2
  layers = []
  c = width * 2**(stages - 1)
  layers.append(Layer(f"G0 ConvT 1x1x{z_dim}->4x4x{c}", True, 1, 0, 1, z_dim, c))
  size = 4
  for i in range(stages):
    c_out = 3 if i == stages - 1 else c // 2
    layers.append(
        Layer(f"G{i + 1} ConvT {size}x{size}x{c}->{2 * size}x{2 * size}x{c_out}", True, 2, 1, size, c, c_out))
    size, c = 2 * size, c_out
  c = 3
  for i in range(stages):
    c_out = width * 2**i
    layers.append(
        Layer(f"D{i} Conv {size}x{size}x{c}->{size // 2}x{size // 2}x{c_out}", False, 2, 1, size, c, c_out))
    size, c = size // 2, c_out
  layers.append(Layer(f"D{stages} Conv 4x4x{c}->1x1x1", False, 1, 0, 4, c, 1))
  return layers

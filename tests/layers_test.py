"""The fast 4x4 (and 3x3 resize-conv) convolutions equal the native ones, in values and gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.errors import UserError
from vid_jax.models import fast_conv
from vid_jax.models.discriminator import Discriminator
from vid_jax.models.generator import Generator
from vid_jax.models.layers import Conv4, ConvT4, ResizeConv3, resolve_conv_impl, upsample2x

BATCH = 2


def _rel(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _layer_cases():
  """Every layer of the 32/64/128 models; 64 at full width, 128 at a quarter (same layouts)."""
  cases = {}
  for resolution, width in ((32, 64), (64, 64), (128, 16)):
    for layer in fast_conv.dcgan_layers(resolution, width=width):
      cases[(layer.transposed, layer.stride, layer.size, layer.c_in, layer.c_out)] = (
          f"{resolution}:{layer.name.split()[0]}:{layer.size}x{layer.c_in}->{layer.c_out}")
  # Other sizes and channel counts (classifier-like use): odd sizes, a stride-1 layer on a map.
  cases[(True, 2, 5, 7, 9)] = "odd-convT"
  cases[(True, 2, 17, 3, 16)] = "odd-convT-phase-form"  # output >= 32x32: the phase formulation
  cases[(False, 2, 6, 5, 3)] = "even-conv"
  cases[(False, 2, 7, 4, 6)] = "odd-conv"
  cases[(True, 1, 3, 4, 5)] = "s1-convT-3x3"
  cases[(False, 1, 6, 5, 2)] = "s1-conv-6x6"
  return [pytest.param(*key, id=name) for key, name in cases.items()]


def _functions(transposed: bool, stride: int):
  fast, native = ((fast_conv.conv_transpose4, fast_conv.native_conv_transpose4) if transposed else
                  (fast_conv.conv4, fast_conv.native_conv4))
  padding = 1 if stride == 2 else 0

  def value_and_grads(f):

    def run(x, k, g):  # output and the gradients w.r.t. input and kernel of <g, f(x, k)>
      y, vjp = jax.vjp(lambda x, k: f(x, k, stride=stride, padding=padding), x, k)
      return (y, *vjp(g))

    return jax.jit(run)

  return value_and_grads(fast), value_and_grads(native)


def _inputs(transposed, stride, size, c_in, c_out, dtype):
  rng = np.random.default_rng(size * 1000 + c_in + c_out)  # numpy: no compile per shape
  if transposed:
    out = size + 3 if stride == 1 else 2 * size
  else:
    out = size - 3 if stride == 1 else size // 2
  shapes = ((BATCH, size, size, c_in), (4, 4, c_in, c_out), (BATCH, out, out, c_out))
  return tuple(jnp.asarray(rng.standard_normal(s, dtype=np.float32)).astype(dtype) for s in shapes)


@pytest.mark.parametrize("transposed,stride,size,c_in,c_out", _layer_cases())
def test_fast_equals_native_fp32(transposed, stride, size, c_in, c_out):
  fast, native = _functions(transposed, stride)
  args = _inputs(transposed, stride, size, c_in, c_out, jnp.float32)
  for name, a, b in zip(("output", "grad_x", "grad_kernel"), fast(*args), native(*args)):
    assert a.shape == b.shape and a.dtype == b.dtype, name
    assert _rel(a, b) <= 1e-5, (name, _rel(a, b))


@pytest.mark.parametrize("transposed,shape", [(True, (BATCH, 16, 20, 4, 16)),
                                              (False, (BATCH, 32, 40, 16, 4))])
def test_non_square_inputs(transposed, shape):
  batch, h, w, c_in, c_out = shape
  fast, native = _functions(transposed, 2)
  rng = np.random.default_rng(0)
  out = (2 * h, 2 * w) if transposed else (h // 2, w // 2)
  args = tuple(
      jnp.asarray(rng.standard_normal(s, dtype=np.float32))
      for s in ((batch, h, w, c_in), (4, 4, c_in, c_out), (batch, *out, c_out)))
  for name, a, b in zip(("output", "grad_x", "grad_kernel"), fast(*args), native(*args)):
    assert _rel(a, b) <= 1e-5, (name, _rel(a, b))


@pytest.mark.parametrize("transposed,stride,size,c_in,c_out", [(True, 1, 1, 100, 64), (True, 2, 8, 64, 32),
                                                               (True, 2, 16, 32, 3), (False, 2, 32, 3, 16),
                                                               (False, 2, 8, 64, 128), (False, 1, 4, 128, 1)])
def test_fast_close_to_native_bf16(transposed, stride, size, c_in, c_out):
  fast, native = _functions(transposed, stride)
  args = _inputs(transposed, stride, size, c_in, c_out, jnp.bfloat16)
  exact = native(*(a.astype(jnp.float32) for a in args))  # the same bf16 values, fp32 arithmetic
  for name, a, b in zip(("output", "grad_x", "grad_kernel"), fast(*args), exact):
    assert a.dtype == jnp.bfloat16, name
    assert _rel(a, b) <= 1e-2, (name, _rel(a, b))


def test_second_order_gradients_match():
  # grad of a gradient norm (as in R1 / gradient penalties) goes through the custom rules twice.
  for transposed, size, c_in, c_out in ((True, 4, 8, 6), (False, 8, 6, 8)):
    x, k, _ = _inputs(transposed, 2, size, c_in, c_out, jnp.float32)
    fast = fast_conv.conv_transpose4 if transposed else fast_conv.conv4
    native = fast_conv.native_conv_transpose4 if transposed else fast_conv.native_conv4

    def penalty(k, x, conv):
      grad_x = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k, stride=2, padding=1))))(x)
      return jnp.sum(grad_x**2)

    grads = [jax.jit(jax.grad(penalty, (0, 1)), static_argnums=2)(k, x, conv) for conv in (fast, native)]
    for a, b in zip(*grads):
      assert _rel(a, b) <= 1e-5, (transposed, _rel(a, b))


@pytest.mark.parametrize("module,stride,shape,dtype", [(ConvT4, 1, (BATCH, 1, 1, 20), jnp.float32),
                                                       (ConvT4, 2, (BATCH, 4, 4, 16), jnp.float32),
                                                       (Conv4, 2, (BATCH, 8, 8, 3), jnp.float32),
                                                       (Conv4, 1, (BATCH, 4, 4, 16), jnp.float32),
                                                       (ConvT4, 2, (BATCH, 4, 4, 16), jnp.bfloat16),
                                                       (Conv4, 2, (BATCH, 8, 8, 3), jnp.bfloat16)])
def test_modules_native_and_fast_share_params(module, stride, shape, dtype):
  x = jnp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
  padding = 1 if stride == 2 else 0
  native = module(8, stride=stride, padding=padding, impl="native", dtype=dtype)
  fast = module(8, stride=stride, padding=padding, impl="fast", dtype=dtype)
  params = jax.jit(native.init)(jax.random.PRNGKey(0), x)
  assert jax.tree.map(jnp.shape, jax.eval_shape(fast.init, jax.random.PRNGKey(0),
                                                x)) == jax.tree.map(jnp.shape, params)
  a, b = jax.jit(fast.apply)(params, x), jax.jit(native.apply)(params, x)
  assert a.dtype == b.dtype == dtype
  assert _rel(a, b) <= (1e-5 if dtype == jnp.float32 else 1e-2)


def test_resolve_conv_impl():
  assert resolve_conv_impl("auto") == "fast"  # the suite runs on CPU (conftest)
  assert resolve_conv_impl("auto", backend="gpu") == "native"
  assert resolve_conv_impl("native") == "native"
  assert resolve_conv_impl("fast", backend="tpu") == "fast"
  with pytest.raises(UserError, match="conv_impl"):
    resolve_conv_impl("winograd")


def test_unsupported_stride_padding_raises():
  x, k = jnp.zeros((1, 4, 4, 2)), jnp.zeros((4, 4, 2, 3))
  with pytest.raises(ValueError, match="stride"):
    fast_conv.conv4(x, k, stride=2, padding=0)
  with pytest.raises(ValueError, match="kernel"):
    fast_conv.conv_transpose4(x, jnp.zeros((3, 3, 2, 3)), stride=2, padding=1)


def test_generator_and_discriminator_native_equals_fast():
  z = jnp.asarray(np.random.default_rng(0).standard_normal((BATCH, 100), dtype=np.float32))
  g_native, g_fast = (Generator(resolution=64, width=64, conv_impl=i) for i in ("native", "fast"))
  d_native, d_fast = (Discriminator(resolution=64, width=64, conv_impl=i) for i in ("native", "fast"))
  g_vars = jax.jit(lambda key: g_native.init(key, z, train=False))(jax.random.PRNGKey(1))
  images = jax.jit(lambda v: g_native.apply(v, z, train=False))(g_vars)
  d_vars = jax.jit(lambda key: d_native.init(key, images, train=False))(jax.random.PRNGKey(2))

  def losses(g_params, d_params, g, d):  # G's and D's losses as one scalar, as in training
    x, _ = g.apply({**g_vars, "params": g_params}, z, train=True, mutable=["batch_stats"])
    logits, _ = d.apply({**d_vars, "params": d_params}, x, train=True, mutable=["batch_stats"])
    return jnp.sum(jax.nn.softplus(-logits)), x

  results = {}
  for name, g, d in (("native", g_native, d_native), ("fast", g_fast, d_fast)):
    fn = jax.jit(jax.value_and_grad(lambda gp, dp, g=g, d=d: losses(gp, dp, g, d), (0, 1), has_aux=True))
    (loss, x), grads = fn(g_vars["params"], d_vars["params"])
    logits = jax.jit(lambda v, x, d=d: d.apply(v, x, train=False))(d_vars, images)
    results[name] = ((x, loss, logits), grads)
  for a, b in zip(jax.tree.leaves(results["fast"][0]), jax.tree.leaves(results["native"][0])):
    assert a.shape == b.shape
    assert _rel(a, b) <= 1e-5, _rel(a, b)
  # Gradients through ReLU are discontinuous: an activation within rounding of 0 may take the
  # other branch in one implementation (seen: one BatchNorm channel off by 3% here, native vs
  # float64, while fast matched float64 to 1e-6), so the whole-model gradients get a loose bound;
  # the per-layer tests above check gradients to 1e-5.
  for a, b in zip(jax.tree.leaves(results["fast"][1]), jax.tree.leaves(results["native"][1])):
    assert a.shape == b.shape
    assert _rel(a, b) <= 2e-2, _rel(a, b)


@pytest.mark.parametrize("shape", [(2, 5, 5, 3, 4), (2, 9, 7, 6, 5), (1, 3, 3, 8, 2)])
def test_winograd_2x2_equals_stride1_conv(shape):
  # F(2x2, 2x2) on a [B, H+1, W+1, C] input (H, W even) is the VALID 2x2 cross-correlation.
  b, hp, wp, c, d = shape
  rng = np.random.default_rng(hp * 100 + c)
  x, k, g = (jnp.asarray(rng.standard_normal(s, dtype=np.float32))
             for s in ((b, hp, wp, c), (2, 2, c, d), (b, hp - 1, wp - 1, d)))
  conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO",
                                                                                             "NHWC"))

  def run(f):
    y, vjp = jax.vjp(f, x, k)
    return (y, *vjp(g))

  for name, a, ref in zip(("output", "grad_x", "grad_kernel"), run(fast_conv._wino2x2), run(conv)):
    assert a.shape == ref.shape, name
    assert _rel(a, ref) <= 1e-6, (name, _rel(a, ref))


@pytest.mark.parametrize("size,c_in,c_out", [(4, 8, 6), (8, 5, 7), (16, 3, 4)])
def test_winograd_layer_forms_equal_native(size, c_in, c_out):
  # Every Winograd form, whether or not the size tables pick it for the DCGAN shapes.
  rng = np.random.default_rng(size)
  r = lambda *s: jnp.asarray(rng.standard_normal(s, dtype=np.float32))
  x_up, k, g_up = r(BATCH, size, size, c_in), r(4, 4, c_in, c_out), r(BATCH, 2 * size, 2 * size, c_out)
  native_up = lambda x, k: fast_conv.native_conv_transpose4(x, k, stride=2, padding=1)
  assert _rel(fast_conv._up_wino(x_up, k), native_up(x_up, k)) <= 1e-5
  x_down, g_down = r(BATCH, 2 * size, 2 * size, c_in), r(BATCH, size, size, c_out)
  native_down = lambda x, k: fast_conv.native_conv4(x, k, stride=2, padding=1)
  assert _rel(fast_conv._down_wino(x_down, k), native_down(x_down, k)) <= 1e-5
  _, vjp = jax.vjp(native_down, x_down, k)
  ref_x, ref_k = vjp(g_down)
  assert _rel(fast_conv._down_wino_grad_x(g_down, k, x_down.shape), ref_x) <= 1e-5
  assert _rel(fast_conv._down_wino_grad_k(x_down, g_down), ref_k) <= 1e-5
  # Gradients through the forms themselves (autodiff of slices, adds and batched matmuls).
  for wino, native, x, g in ((fast_conv._up_wino, native_up, x_up, g_up), (fast_conv._down_wino, native_down,
                                                                           x_down, g_down)):
    got = jax.vjp(wino, x, k)[1](g)
    ref = jax.vjp(native, x, k)[1](g)
    for a, b in zip(got, ref):
      assert _rel(a, b) <= 1e-5


def _value_and_grads(f, x, k, g):  # output and the gradients w.r.t. input and kernel of <g, f(x, k)>
  y, vjp = jax.vjp(f, x, k)
  return (y, *vjp(g))


@pytest.mark.parametrize(
    "shape",
    [
        (BATCH, 8, 8, 16, 12),  # native forward and weight gradient
        (BATCH, 9, 7, 16, 3),  # few output channels: shifted sums of the 9 taps' products
        (BATCH, 6, 5, 3, 16),  # few input channels (the input gradient of the case above)
        (4, 32, 32, 12, 3),  # weight gradient as x^T [shifted g] in batch chunks (G's last layer's form)
        (4, 32, 40, 10, 12),
    ])
def test_conv3_fast_equals_native(shape):
  b, h, w, c, d = shape
  rng = np.random.default_rng(h * 100 + c)
  x, k, g = (jnp.asarray(rng.standard_normal(s, dtype=np.float32))
             for s in ((b, h, w, c), (3, 3, c, d), (b, h, w, d)))
  fast = jax.jit(lambda x, k, g: _value_and_grads(fast_conv.conv3, x, k, g))(x, k, g)
  native = jax.jit(lambda x, k, g: _value_and_grads(fast_conv.native_conv3, x, k, g))(x, k, g)
  for name, a, ref in zip(("output", "grad_x", "grad_kernel"), fast, native):
    assert a.shape == ref.shape, name
    assert _rel(a, ref) <= 1e-5, (name, _rel(a, ref))


@pytest.mark.parametrize("shape", [(BATCH, 4, 4, 32, 16), (BATCH, 5, 7, 6, 3), (BATCH, 16, 16, 8, 16)])
def test_nearest_resize_conv_is_one_transposed_conv(shape):
  # Nearest x2 then the 3x3 conv == ConvT4 with nearest_kernel4(kernel), on the fast ConvT4 path.
  b, h, w, c, d = shape
  rng = np.random.default_rng(h * 10 + c)
  x, k, g = (jnp.asarray(rng.standard_normal(s, dtype=np.float32))
             for s in ((b, h, w, c), (3, 3, c, d), (b, 2 * h, 2 * w, d)))
  reference = lambda x, k: fast_conv.native_conv3(upsample2x(x, "nearest"), k)
  fast = jax.jit(lambda x, k, g: _value_and_grads(fast_conv.nearest_up_conv3, x, k, g))(x, k, g)
  native = jax.jit(lambda x, k, g: _value_and_grads(reference, x, k, g))(x, k, g)
  for name, a, ref in zip(("output", "grad_x", "grad_kernel"), fast, native):
    assert a.shape == ref.shape, name
    assert _rel(a, ref) <= 1e-5, (name, _rel(a, ref))


def test_conv3_second_order_gradients_match():
  x, k, _ = _inputs(True, 2, 6, 5, 3, jnp.float32)
  k = k[:3, :3]

  def penalty(k, x, conv):
    grad_x = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k))))(x)
    return jnp.sum(grad_x**2)

  grads = [
      jax.jit(jax.grad(penalty, (0, 1)), static_argnums=2)(k, x, conv)
      for conv in (fast_conv.conv3, fast_conv.native_conv3)
  ]
  for a, b in zip(*grads):
    assert _rel(a, b) <= 1e-5, _rel(a, b)


@pytest.mark.parametrize("method,dtype", [("nearest", jnp.float32), ("bilinear", jnp.float32),
                                          ("nearest", jnp.bfloat16)])
def test_resize_conv_modules_native_and_fast_share_params(method, dtype):
  x = jnp.asarray(np.random.default_rng(0).standard_normal((BATCH, 4, 4, 16), dtype=np.float32))
  native = ResizeConv3(8, method=method, impl="native", dtype=dtype)
  fast = ResizeConv3(8, method=method, impl="fast", dtype=dtype)
  params = jax.jit(native.init)(jax.random.PRNGKey(0), x)
  assert jax.tree.map(jnp.shape, params) == {"params": {"kernel": (3, 3, 16, 8)}}
  assert jax.tree.map(jnp.shape, jax.eval_shape(fast.init, jax.random.PRNGKey(0),
                                                x)) == jax.tree.map(jnp.shape, params)
  a, b = jax.jit(fast.apply)(params, x), jax.jit(native.apply)(params, x)
  assert a.shape == (BATCH, 8, 8, 8) and a.dtype == b.dtype == dtype
  assert _rel(a, b) <= (1e-5 if dtype == jnp.float32 else 1e-2)


def test_resize_conv_has_no_checkerboard_on_a_flat_input():
  # Odena et al.'s point: a stride-2 4x4 transposed conv gives even and odd output pixels different
  # kernel taps, so a flat input comes out as a period-2 pattern; a resize then a conv cannot.
  x = jnp.ones((1, 6, 6, 4))
  convt = ConvT4(2)
  patterns = {"convt": convt.apply(convt.init(jax.random.PRNGKey(0), x), x)}
  for method in ("nearest", "bilinear"):
    layer = ResizeConv3(2, method=method, impl="fast")
    patterns[method] = layer.apply(layer.init(jax.random.PRNGKey(0), x), x)
  # Per channel, over the interior pixels (the border sees the zero padding).
  spread = {name: float(jnp.max(jnp.ptp(y[:, 1:-1, 1:-1], axis=(1, 2)))) for name, y in patterns.items()}
  assert spread["convt"] > 1e-2, spread
  assert spread["nearest"] < 1e-6 and spread["bilinear"] < 1e-6, spread

"""vid_jax.models.generator: the attribute embedding, the upsampling stages, unsupported resolutions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.models import Generator


def test_attribute_mlp_embedding_feeds_input_and_every_batchnorm():
  z = jax.random.normal(jax.random.PRNGKey(0), (2, 100))
  y = jnp.asarray([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
  linear = Generator(resolution=32, width=8, num_attributes=3)
  mlp = Generator(resolution=32, width=8, num_attributes=3, cond_hidden=16)
  pl = linear.init(jax.random.PRNGKey(1), z, y, train=False)["params"]
  vm = mlp.init(jax.random.PRNGKey(1), z, y, train=False)
  pm = vm["params"]
  assert not any(k.startswith("cond_mlp") for k in pl)  # cond_hidden=0: the tree older runs saved
  assert pm["cond_mlp_0"]["kernel"].shape == (3, 16) and pm["cond_mlp_1"]["kernel"].shape == (16, 16)
  # The input embedding and each conditional BatchNorm read [y, MLP(y)] (3 + 16) instead of y (3).
  assert pl["embed"]["kernel"].shape == (3, 100) and pm["embed"]["kernel"].shape == (19, 100)
  bns = [k for k in pm if k.startswith("ConditionalBatchNorm")]
  assert len(bns) == 3
  for k in bns:
    assert pm[k]["gamma"]["kernel"].shape[0] == 19 and pl[k]["gamma"]["kernel"].shape[0] == 3
  # The MLP is on the path to the image: its last layer gets a non-zero gradient.
  def out(params):
    return jnp.sum(mlp.apply({**vm, "params": params}, z, y, train=False)**2)

  grad = jax.grad(out)(pm)["cond_mlp_1"]["kernel"]
  assert float(jnp.max(jnp.abs(grad))) > 0


def test_unsupported_resolution():
  with pytest.raises(ValueError, match="resolution 48 is not supported"):
    Generator(resolution=48).init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)


def _params_shapes(generator, z, y=None):
  return jax.tree.map(jnp.shape,
                      jax.eval_shape(lambda: generator.init(jax.random.PRNGKey(0), z, y, train=False)))


def test_convt_upsampling_keeps_the_parameter_tree():
  # g_upsample="convt" (the default) is the DCGAN generator every shipped config trains.
  z = jnp.zeros((2, 100))
  shapes = _params_shapes(Generator(resolution=32, width=8), z)["params"]
  assert shapes == _params_shapes(Generator(resolution=32, width=8, upsample="convt"), z)["params"]
  assert {
      k: v["kernel"] for k, v in shapes.items() if k.startswith("ConvT4")
  } == {
      "ConvT4_0": (4, 4, 100, 32),
      "ConvT4_1": (4, 4, 32, 16),
      "ConvT4_2": (4, 4, 16, 8),
      "ConvT4_3": (4, 4, 8, 3)
  }
  assert not any(k.startswith("ResizeConv3") for k in shapes)


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
def test_resize_conv_stages_replace_every_2x_transposed_conv(method):
  z = jnp.asarray(np.random.default_rng(0).standard_normal((4, 100), dtype=np.float32))
  y = jnp.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
  g = Generator(resolution=32, width=8, num_attributes=2, upsample=method)
  variables = jax.jit(lambda k: g.init(k, z, y, train=False))(jax.random.PRNGKey(1))
  params = variables["params"]
  # The 1x1 -> 4x4 projection stays a ConvT4; the three 2x stages (to 3 channels last) are resize +
  # 3x3 conv without bias, initialised N(0, 0.02) like the others.
  assert [k for k in params if k.startswith("ConvT4")] == ["ConvT4_0"]
  assert params["ConvT4_0"]["kernel"].shape == (4, 4, 200, 32)  # [z, embedding]
  kernels = {k: v for k, v in params.items() if k.startswith("ResizeConv3")}
  assert {
      k: v["kernel"].shape for k, v in kernels.items()
  } == {
      "ResizeConv3_0": (3, 3, 32, 16),
      "ResizeConv3_1": (3, 3, 16, 8),
      "ResizeConv3_2": (3, 3, 8, 3)
  }
  assert all(set(v) == {"kernel"} for v in kernels.values())
  std = float(jnp.std(kernels["ResizeConv3_0"]["kernel"]))
  assert 0.015 < std < 0.025, std
  images, _ = g.apply(variables, z, y, train=True, mutable=["batch_stats"])
  assert images.shape == (4, 32, 32, 3) and bool(jnp.all(jnp.isfinite(images)))
  assert float(jnp.max(jnp.abs(images))) <= 1.0


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
def test_resize_conv_generator_fast_equals_native(method):
  # Values and parameter gradients of the whole (tiny) G in train mode.
  z = jnp.asarray(np.random.default_rng(0).standard_normal((4, 100), dtype=np.float32))
  w = jnp.asarray(np.random.default_rng(1).standard_normal((4, 32, 32, 3), dtype=np.float32))
  native, fast = (Generator(resolution=32, width=8, upsample=method, conv_impl=i) for i in ("native", "fast"))
  variables = jax.jit(lambda k: native.init(k, z, train=False))(jax.random.PRNGKey(2))

  def loss(params, g):
    x, _ = g.apply({**variables, "params": params}, z, train=True, mutable=["batch_stats"])
    return jnp.sum(x * w), x

  results = [
      jax.jit(jax.value_and_grad(lambda p, g=g: loss(p, g), has_aux=True))(variables["params"])
      for g in (fast, native)
  ]
  for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert np.linalg.norm(a - b) <= 1e-4 * np.linalg.norm(b)


def test_unknown_upsampling_raises():
  with pytest.raises(ValueError, match="upsample='pixelshuffle'"):
    Generator(resolution=32, width=8, upsample="pixelshuffle").init(jax.random.PRNGKey(0), jnp.zeros(
        (1, 100)), train=False)

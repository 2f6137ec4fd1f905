"""Shapes and parameter counts of the DCGAN models."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.models import Discriminator, Generator
from vid_jax.train_state import standing_batch_stats


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def test_param_counts_match_pytorch_dcgan_at_64():
  g, d = Generator(resolution=64), Discriminator(resolution=64)
  vg = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), jnp.zeros((2, 100)), train=False))
  vd = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), jnp.zeros((2, 64, 64, 3)), train=False))
  assert _count(vg["params"]) == 3_576_704
  assert _count(vd["params"]) == 2_765_568


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_shapes(resolution):
  g = Generator(resolution=resolution, width=8)
  d = Discriminator(resolution=resolution, width=8)
  z = jax.random.normal(jax.random.PRNGKey(0), (3, 100))
  vg = g.init(jax.random.PRNGKey(1), z, train=False)
  x = g.apply(vg, z, train=False)
  assert x.shape == (3, resolution, resolution, 3)
  assert float(jnp.max(jnp.abs(x))) <= 1.0
  vd = d.init(jax.random.PRNGKey(2), x, train=False)
  logits, feats = d.apply(vd, x, train=False, return_features=True)
  assert logits.shape == (3,) and logits.dtype == jnp.float32
  assert [f.shape[1] for f in feats] == [resolution // 2 ** (i + 1) for i in range(len(feats))]
  assert feats[-1].shape[1:] == (4, 4, 8 * 2 ** (len(feats) - 1))


def test_conditional_models_use_attributes():
  g = Generator(resolution=32, width=8, num_attributes=3)
  d = Discriminator(resolution=32, width=8, num_attributes=3)
  z = jax.random.normal(jax.random.PRNGKey(0), (2, 100))
  y0, y1 = jnp.zeros((2, 3)), jnp.ones((2, 3))
  vg = g.init(jax.random.PRNGKey(1), z, y0, train=False)
  # The attribute embedding feeds G's input; the conditional BatchNorm offsets start at zero.
  assert not jnp.allclose(g.apply(vg, z, y0, train=False), g.apply(vg, z, y1, train=False))
  x = g.apply(vg, z, y0, train=False)
  vd = d.init(jax.random.PRNGKey(2), x, y0, train=False)
  # The projection starts at zero (D starts as the unconditional D) and is a path from y to the
  # logits: any non-zero projection makes D's answer depend on the attributes.
  np.testing.assert_array_equal(d.apply(vd, x, y0, train=False), d.apply(vd, x, y1, train=False))
  proj = vd["params"]["projection"]["kernel"]
  vd = {**vd, "params": {**vd["params"], "projection": {
      "kernel": 0.02 * jax.random.normal(jax.random.PRNGKey(3), proj.shape)}}}
  assert not jnp.allclose(d.apply(vd, x, y0, train=False), d.apply(vd, x, y1, train=False))
  with pytest.raises(ValueError, match="needs attributes"):
    d.apply(vd, x, None, train=False)


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
    return jnp.sum(mlp.apply({**vm, "params": params}, z, y, train=False) ** 2)
  grad = jax.grad(out)(pm)["cond_mlp_1"]["kernel"]
  assert float(jnp.max(jnp.abs(grad))) > 0


def test_spatial_projection_generalises_the_pooled_one():
  # <V y, sum_hw h> == <tile(V) y, flatten(h)>: the spatial projection with its kernel tiled over
  # the 4x4 positions is the pooled one; its own kernel has a weight per position.
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 32, 32, 3))
  y = (jax.random.uniform(jax.random.PRNGKey(1), (5, 3)) > 0.5).astype(jnp.float32)
  pooled = Discriminator(resolution=32, width=8, num_attributes=3, projection="pooled", aux_head=True)
  spatial = Discriminator(resolution=32, width=8, num_attributes=3, projection="spatial", aux_head=True)
  vp = pooled.init(jax.random.PRNGKey(2), x, y, train=False)
  vs = spatial.init(jax.random.PRNGKey(2), x, y, train=False)
  c = 8 * 2 ** 2  # channels of the 4x4 map at resolution 32
  assert vp["params"]["projection"]["kernel"].shape == (3, c)
  assert vs["params"]["projection"]["kernel"].shape == (3, 16 * c)
  assert vs["params"]["aux"]["kernel"].shape == (16 * c, 3)
  l0 = pooled.apply(vp, x, y, train=False)  # zero-initialised projection
  v = jax.random.normal(jax.random.PRNGKey(3), (3, c))
  a = jax.random.normal(jax.random.PRNGKey(4), (c, 3))
  vp = {**vp, "params": {**vp["params"], "projection": {"kernel": v},
                         "aux": {**vp["params"]["aux"], "kernel": a}}}
  vs = {**vs, "params": {**vs["params"], "projection": {"kernel": jnp.tile(v, (1, 16))},
                         "aux": {**vs["params"]["aux"], "kernel": jnp.tile(a, (16, 1))}}}
  lp, ap = pooled.apply(vp, x, y, train=False, return_aux=True)
  ls, as_ = spatial.apply(vs, x, y, train=False, return_aux=True)
  assert float(jnp.max(jnp.abs(lp - l0))) > 100 * 1e-4  # the projection term is not negligible
  np.testing.assert_allclose(ls, lp, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(as_, ap, rtol=1e-4, atol=1e-4)
  # Weights that differ per position make the answer depend on where a feature is.
  w = vs["params"]["projection"]["kernel"].at[:, :c].multiply(3.0)
  ls2 = spatial.apply({**vs, "params": {**vs["params"], "projection": {"kernel": w}}}, x, y, train=False)
  assert not jnp.allclose(ls2, ls, atol=1e-3)
  with pytest.raises(ValueError, match="projection='max'"):
    Discriminator(resolution=32, width=8, num_attributes=3, projection="max").init(
        jax.random.PRNGKey(0), x, y, train=False)


def test_unsupported_resolution():
  with pytest.raises(ValueError, match="resolution 48 is not supported"):
    Generator(resolution=48).init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)


def test_standing_batch_stats():
  g = Generator(resolution=32, width=8, num_attributes=3)
  rng = np.random.default_rng(0)
  z = jnp.asarray(rng.standard_normal((128, 100), dtype=np.float32))
  y = jnp.asarray(rng.integers(0, 2, (128, 3)).astype(np.float32))
  variables = jax.jit(lambda k: g.init(k, z[:1], y[:1], train=False))(jax.random.PRNGKey(1))
  params = variables["params"]
  # One chunk: inference mode with the standing statistics is train mode on the same batch.
  whole = jax.jit(lambda p: standing_batch_stats(g, p, z, y, chunk=128))(params)
  eval_out = g.apply({"params": params, "batch_stats": whole}, z, y, train=False)
  train_out, _ = g.apply({"params": params, "batch_stats": variables["batch_stats"]}, z, y, train=True,
                         mutable=["batch_stats"])
  np.testing.assert_allclose(eval_out, train_out, atol=2e-4)
  # Chunks pool exactly: the first BatchNorm (upstream of any per-chunk normalisation) gets the
  # whole batch's mean and variance.
  pooled = jax.jit(lambda p: standing_batch_stats(g, p, z, y, chunk=32))(params)
  first = lambda s: s["ConditionalBatchNorm_0"]["BatchNorm_0"]
  for stat in ("mean", "var"):
    np.testing.assert_allclose(first(pooled)[stat], first(whole)[stat], rtol=1e-4, atol=1e-6)
  with pytest.raises(ValueError, match="multiple of 64"):
    standing_batch_stats(g, params, z[:100], y[:100])

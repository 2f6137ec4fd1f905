"""Shapes and parameter counts of the DCGAN models."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.models import Discriminator, Generator
from vid_jax.models import generator as generator_lib
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


def test_projection_of_an_attribute_mlp_embedding():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 32, 32, 3))
  y = jnp.asarray([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
  d = Discriminator(resolution=32, width=8, num_attributes=3, cond_hidden=16)
  v = d.init(jax.random.PRNGKey(1), x, y, train=False)
  p = v["params"]
  assert p["cond_mlp_0"]["kernel"].shape == (3, 16) and p["cond_mlp_1"]["kernel"].shape == (16, 16)
  assert p["projection"]["kernel"].shape == (19, 4 * 4 * 32)  # [y, MLP(y)] -> the 4x4x32 map
  assert "cond_mlp_0" not in Discriminator(resolution=32, width=8, num_attributes=3).init(
      jax.random.PRNGKey(1), x, y, train=False)["params"]
  # Zero-initialised projection: D starts as the unconditional D; once it is non-zero the MLP's
  # output reaches the logits.
  np.testing.assert_array_equal(d.apply(v, x, y, train=False), d.apply(v, x, 1.0 - y, train=False))
  p = {**p, "projection": {"kernel": 0.02 * jax.random.normal(jax.random.PRNGKey(2), (19, 512))}}
  def out(params):
    return jnp.sum(d.apply({**v, "params": params}, x, y, train=False))
  grad = jax.grad(out)(p)["cond_mlp_1"]["kernel"]
  assert float(jnp.max(jnp.abs(grad))) > 0


def test_attribute_net_feeds_the_head_only():
  # aux_net_width > 0: the attribute head reads its own CNN of the image; D's adversarial logits
  # are those of the same D without it, whatever that CNN's parameters are.
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 32, 32, 3))
  y = (jax.random.uniform(jax.random.PRNGKey(1), (5, 3)) > 0.5).astype(jnp.float32)
  kw = dict(resolution=32, width=8, num_attributes=3, aux_head=True, aux_fake_aware=True)
  d = Discriminator(aux_net_width=4, **kw)
  v = d.init(jax.random.PRNGKey(2), x, y, train=False)
  p = v["params"]
  # Stem 4 channels at 16x16, then 8 at 8x8 and 16 at 4x4, flattened: 256 features -> 3 x 4 classes.
  assert p["aux"]["kernel"].shape == (4 * 4 * 16, 12)
  assert "aux_net" not in Discriminator(**kw).init(jax.random.PRNGKey(2), x, y, train=False)["params"]
  p = {**p, "aux": {**p["aux"], "kernel": 0.1 * jax.random.normal(jax.random.PRNGKey(3), (256, 12))}}
  def run(params, rows=None):
    return d.apply({**v, "params": params}, x, y, train=False, return_aux=True, aux_rows=rows)
  logits, aux = run(p)
  assert aux.shape == (5, 3, 2, 2)
  other = {**p, "aux_net": jax.tree.map(lambda a: a + 0.5, p["aux_net"])}
  logits2, aux2 = run(other)
  np.testing.assert_array_equal(logits, logits2)
  assert float(jnp.max(jnp.abs(aux - aux2))) > 1e-3
  # aux_rows: the head reads only the first rows (the train step's doubled reals pass once).
  _, aux_first = run(p, rows=2)
  np.testing.assert_allclose(aux_first, aux[:2], rtol=1e-5, atol=1e-6)
  # The CNN is on the head's path: its first conv gets a gradient from the attribute logits.
  grads = jax.grad(lambda q: jnp.sum(run(q)[1] ** 2))(p)["aux_net"]
  assert all(float(jnp.max(jnp.abs(g))) > 0 for g in jax.tree.leaves(grads))


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


def test_spatial_conditional_batchnorm_starts_as_the_channel_one_and_varies_over_the_image():
  z = jax.random.normal(jax.random.PRNGKey(0), (2, 100))
  y = jnp.asarray([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
  plain = Generator(resolution=32, width=8, num_attributes=3, cond_hidden=16)
  spatial = Generator(resolution=32, width=8, num_attributes=3, cond_hidden=16, cond_spatial=4)
  vp = plain.init(jax.random.PRNGKey(1), z, y, train=False)
  vs = spatial.init(jax.random.PRNGKey(1), z, y, train=False)
  # cond_spatial=0 keeps the parameter tree older runs saved.
  assert not any("spatial_maps" in bn for bn in vp["params"].values() if isinstance(bn, dict))
  bns = [k for k in vs["params"] if k.startswith("ConditionalBatchNorm")]
  assert len(bns) == 3
  for k in bns:
    c = vs["params"][k]["gamma"]["kernel"].shape[1]
    assert vs["params"][k]["spatial_maps"]["kernel"].shape == (19, 4 * 4 * 4)
    assert vs["params"][k]["spatial_gamma"]["kernel"].shape == (4, c)
    assert vs["params"][k]["spatial_beta"]["kernel"].shape == (4, c)
  # Zero-initialised output layers: the same images as the per-channel model with the same params.
  shared = {k: v for k, v in vs["params"].items()}
  for k in bns:
    shared[k] = {n: p for n, p in vs["params"][k].items() if not n.startswith("spatial")}
  np.testing.assert_allclose(spatial.apply(vs, z, y, train=False),
                             plain.apply({**vp, "params": shared}, z, y, train=False), atol=1e-6)
  # Once its output layer is non-zero, a BatchNorm's bias shift differs from pixel to pixel.
  bn = generator_lib.ConditionalBatchNorm(spatial=4)
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 8, 8, 5))
  v = bn.init(jax.random.PRNGKey(3), x, y, train=False)
  params = {**v["params"], "spatial_beta": {"kernel": jnp.ones((4, 5))}}
  shift = bn.apply({**v, "params": params}, x, y, train=False) - bn.apply(v, x, y, train=False)
  assert float(jnp.std(shift[0, :, :, 0])) > 1e-3  # varies over positions
  np.testing.assert_allclose(shift[..., 0], shift[..., 4], atol=1e-6)  # kernel of ones: the same per channel
  # The maps are on the path to the image: their layer gets a gradient.
  def out(p):
    return jnp.sum(bn.apply({**v, "params": p}, x, y, train=False) ** 2)
  assert float(jnp.max(jnp.abs(jax.grad(out)(params)["spatial_maps"]["kernel"]))) > 0


def test_cond_shift_gates_every_stage_by_the_attributes():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 32, 32, 3))
  y = jnp.asarray([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
  plain = Discriminator(resolution=32, width=8, num_attributes=3)
  shifted = Discriminator(resolution=32, width=8, num_attributes=3, cond_shift=True)
  vp = plain.init(jax.random.PRNGKey(1), x, y, train=False)
  vs = shifted.init(jax.random.PRNGKey(1), x, y, train=False)
  assert not any(k.startswith("cond_shift") for k in vp["params"])  # the older runs' tree
  # 32x32: three stages of 8, 16, 32 channels, each with its shift.
  assert [vs["params"][f"cond_shift_{i}"]["kernel"].shape for i in range(3)] == [(3, 8), (3, 16), (3, 32)]
  # Zero init: the same logits as without.
  rest = {k: v for k, v in vs["params"].items() if not k.startswith("cond_shift")}
  np.testing.assert_allclose(shifted.apply(vs, x, y, train=False),
                             plain.apply({**vp, "params": rest}, x, y, train=False), atol=1e-6)
  # Then the attributes change the features themselves. With the projection at zero, the logits
  # ignore y until a shift is non-zero.
  params = {**vs["params"], "projection": {"kernel": jnp.zeros_like(vs["params"]["projection"]["kernel"])}}
  v0 = {**vs, "params": params}
  np.testing.assert_array_equal(shifted.apply(v0, x, y, train=False), shifted.apply(v0, x, 1.0 - y, train=False))
  v1 = {**vs, "params": {**params, "cond_shift_0": {"kernel": jnp.ones((3, 8))}}}
  a = shifted.apply(v1, x, y, train=False)
  b = shifted.apply(v1, x, 1.0 - y, train=False)
  assert float(jnp.max(jnp.abs(a - b))) > 1e-4
  _, fa = shifted.apply(v1, x, y, train=False, return_features=True)
  _, f0 = shifted.apply(vs, x, y, train=False, return_features=True)
  # Stage 0 (no BatchNorm): leaky_relu(conv + s) with s = sum(2y - 1) = 1 for both rows here.
  pre0 = jnp.where(f0[0] > 0, f0[0], f0[0] / 0.2)
  np.testing.assert_allclose(fa[0], jax.nn.leaky_relu(pre0 + 1.0, 0.2), atol=1e-5)
  # Unconditional D: the flag changes nothing (config validation rejects it for unconditional runs).
  uncond = Discriminator(resolution=32, width=8, cond_shift=True)
  assert not any(k.startswith("cond_shift") for k in uncond.init(jax.random.PRNGKey(1), x, train=False)["params"])


def test_stage_projection_checks_the_attributes_on_every_stage():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 32, 32, 3))
  y = jnp.asarray([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
  plain = Discriminator(resolution=32, width=8, num_attributes=3)
  staged = Discriminator(resolution=32, width=8, num_attributes=3, stage_projection=True)
  vp = plain.init(jax.random.PRNGKey(1), x, y, train=False)
  vs = staged.init(jax.random.PRNGKey(1), x, y, train=False)
  assert not any(k.startswith("stage_projection") for k in vp["params"])  # the older runs' tree
  # 32x32 has three stages (8, 16, 32 channels); the last keeps the 4x4 projection.
  assert [vs["params"][f"stage_projection_{i}"]["kernel"].shape for i in range(2)] == [(3, 8), (3, 16)]
  assert "stage_projection_2" not in vs["params"]
  # Zero init: the same logits as without; then the attributes reach the logits through them.
  rest = {k: v for k, v in vs["params"].items() if not k.startswith("stage_projection")}
  np.testing.assert_allclose(staged.apply(vs, x, y, train=False),
                             plain.apply({**vp, "params": rest}, x, y, train=False), atol=1e-6)
  params = {**vs["params"], "stage_projection_0": {"kernel": jnp.ones((3, 8))}}
  a = staged.apply({**vs, "params": params}, x, y, train=False)
  b = staged.apply({**vs, "params": params}, x, 1.0 - y, train=False)
  np.testing.assert_array_equal(staged.apply(vs, x, y, train=False), staged.apply(vs, x, 1.0 - y, train=False))
  assert float(jnp.max(jnp.abs(a - b))) > 1e-4

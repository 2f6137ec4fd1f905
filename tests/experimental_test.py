"""The experimental options (vid_jax.experimental): attribute maps in G's BatchNorm shifts
(model.g_cond_spatial), a CNN of its own for D's attribute head (model.aux_net_width) and D's
BatchNorm over one joint batch (optim.d_batch="joint")."""
import functools
import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import data as data_lib
from vid_jax import inference
from vid_jax import testing
from vid_jax import train
from vid_jax import train_state as ts_lib
from vid_jax import train_step
from vid_jax.experimental import attribute_net, spatial_conditioning
from vid_jax.models import Discriminator, Generator, build_gan
from vid_jax.models import discriminator as discriminator_lib
from vid_jax.models import generator as generator_lib
from vid_jax.models.layers import Conv4, max_pool_2x2


def _parts(config):
  """What the train loop builds from a config: D, init, and the unjitted step (one per dispatch)."""
  g, d = build_gan(config)
  init_fn = ts_lib.make_init_fn(config, g, d)
  init_key = jax.random.PRNGKey(config.train.seed)
  step = train_step.make_multi_step(
      train_step.make_train_step(generator=g, discriminator=d, options=train.step_options(config)), 1)
  return types.SimpleNamespace(discriminator=d, init_fn=init_fn, init_key=init_key, step_impl=step,
                               abstract_state=jax.eval_shape(init_fn, init_key))


def _first_batches(config):
  """The loop's first batch of the config's data as host arrays [1, B, ...]."""
  loader = data_lib.make_loader(train.make_source(config), global_batch_size=config.train.batch_size,
                                seed=config.train.seed, shuffle=True, flip=config.data.flip)
  return {k: v[None] for k, v in next(loader).items()}


def _attribute_net(width):
  norm = functools.partial(discriminator_lib.batch_norm, dtype=jnp.float32)
  return attribute_net.AttributeNet(width=width, conv4=Conv4, pool=max_pool_2x2, batch_norm=norm)


def test_attribute_net_feeds_the_head_only():
  # aux_net: the attribute head reads its own CNN of the image; D's adversarial logits
  # are those of the same D without it, whatever that CNN's parameters are.
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 32, 32, 3))
  y = (jax.random.uniform(jax.random.PRNGKey(1), (5, 3)) > 0.5).astype(jnp.float32)
  kw = dict(resolution=32, width=8, num_attributes=3, aux_head=True, aux_fake_aware=True)
  d = Discriminator(aux_net=_attribute_net(4), **kw)
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
  grads = jax.grad(lambda q: jnp.sum(run(q)[1]**2))(p)["aux_net"]
  assert all(float(jnp.max(jnp.abs(g))) > 0 for g in jax.tree.leaves(grads))


def test_spatial_conditional_batchnorm_starts_as_the_channel_one_and_varies_over_the_image():
  z = jax.random.normal(jax.random.PRNGKey(0), (2, 100))
  y = jnp.asarray([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
  plain = Generator(resolution=32, width=8, num_attributes=3, cond_hidden=16)
  spatial = Generator(resolution=32, width=8, num_attributes=3, cond_hidden=16,
                      norm_shifts=spatial_conditioning.spatial_shifts(maps=4))
  vp = plain.init(jax.random.PRNGKey(1), z, y, train=False)
  vs = spatial.init(jax.random.PRNGKey(1), z, y, train=False)
  # Without the maps: the parameter tree older runs saved.
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
                             plain.apply({
                                 **vp, "params": shared
                             }, z, y, train=False), atol=1e-6)
  # Once its output layer is non-zero, a BatchNorm's bias shift differs from pixel to pixel.
  bn = generator_lib.ConditionalBatchNorm(extra_shifts=spatial_conditioning.spatial_shifts(maps=4))
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 8, 8, 5))
  v = bn.init(jax.random.PRNGKey(3), x, y, train=False)
  params = {**v["params"], "spatial_beta": {"kernel": jnp.ones((4, 5))}}
  shift = bn.apply({**v, "params": params}, x, y, train=False) - bn.apply(v, x, y, train=False)
  assert float(jnp.std(shift[0, :, :, 0])) > 1e-3  # varies over positions
  np.testing.assert_allclose(shift[..., 0], shift[..., 4], atol=1e-6)  # kernel of ones: the same per channel

  # The maps are on the path to the image: their layer gets a gradient.
  def out(p):
    return jnp.sum(bn.apply({**v, "params": p}, x, y, train=False)**2)

  assert float(jnp.max(jnp.abs(jax.grad(out)(params)["spatial_maps"]["kernel"]))) > 0


def test_spatial_conditioning_trains_and_reloads(tmp_path):
  # model.g_cond_spatial: G's attribute maps leave their zero init in training, and the run loads
  # back (tools/generate.py's path) with their params.
  config = testing.tiny_config(conditional=True, steps=2)
  config.model.g_cond_spatial = 2
  train.train_and_evaluate(config, str(tmp_path))
  models = inference.load_models(str(tmp_path))
  bns = {k: v for k, v in models.g_variables["params"].items() if k.startswith("ConditionalBatchNorm")}
  assert bns and all(v["spatial_maps"]["kernel"].shape[-1] == 4 * 4 * 2 for v in bns.values())
  assert all(float(jnp.max(jnp.abs(v["spatial_beta"]["kernel"]))) > 0 for v in bns.values())
  images = models.generate(jax.random.normal(jax.random.PRNGKey(0), (3, config.model.z_dim)),
                           jnp.ones((3, len(models.attribute_names))))
  assert images.shape == (3, 32, 32, 3) and bool(jnp.all(jnp.isfinite(images)))


def test_attribute_head_on_its_own_cnn_trains(tmp_path):
  # The ADC head (model.aux_net_width=8) on its own CNN: it learns the real attributes, G's loss
  # rises as D learns to call fakes fake (the thresholds of train_step_test's head test).
  config = testing.tiny_config(conditional=True, steps=24)
  config.model.g_cond_hidden = 0
  config.optim.mode_seeking = 0.0
  config.optim.aux_weight = 1.0
  config.optim.aux_mode = "adc"
  config.model.aux_net_width = 8
  config.optim.d_lr = 1e-3
  config.train.log_every = 1
  train.train_and_evaluate(config, str(tmp_path))
  models = inference.load_models(str(tmp_path))
  num_attrs = len(config.model.attributes.split(","))
  assert models.d_variables["params"]["aux"]["kernel"].shape[-1] == num_attrs * 4
  assert "aux_net" in models.d_variables["params"]
  lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  d_aux = [l["d_aux"] for l in lines]
  g_aux = [l["g_aux"] for l in lines]
  assert all(np.isfinite(d_aux)) and all(np.isfinite(g_aux))
  assert abs(d_aux[0] - np.log(4)) < 1e-4 and d_aux[-1] < np.log(4) - 0.09, d_aux
  # The separate CNN's random features may start either side of log 4 (measured 1.372), so only
  # the rise counts.
  assert g_aux[0] < g_aux[-1] - 0.1, g_aux


@pytest.mark.parametrize("aux_weight,mismatch_weight", [(0.0, 0.0), (1.0, 1.0)])
def test_joint_d_batch_shares_batchnorm_statistics_between_reals_and_fakes(aux_weight, mismatch_weight):
  # The same step on two batches with the same attributes and other real images: G, z and the
  # fakes' attributes are the same, so D's logged belief in the fakes before its update
  # (d_fake) differs only if the reals reach the fakes' logits, through shared BatchNorm statistics.
  config = testing.tiny_config(conditional=True)
  config.optim.aux_weight, config.optim.aux_mode = aux_weight, "adc"
  config.optim.mismatch_weight = mismatch_weight
  batches = _first_batches(config)
  other = dict(batches, image=np.ascontiguousarray(batches["image"][..., ::-1, :]))  # mirrored reals

  def step_and_state(d_batch):  # one compiled step of fresh parts, and their initial state
    config.optim.d_batch = d_batch
    parts = _parts(config)
    return jax.jit(parts.step_impl), jax.jit(parts.init_fn)(parts.init_key)

  d_fake = lambda step, state, b: float(jax.device_get(step(state, b)[1]["d_fake"]).ravel()[0])
  step, state = step_and_state("separate")
  assert d_fake(step, state, batches) == d_fake(step, state, other)
  step, state = step_and_state("joint")
  assert abs(d_fake(step, state, batches) - d_fake(step, state, other)) > 1e-4
  # And the joint step learns: a few more steps keep every logged loss finite.
  for _ in range(3):
    state, metrics = step(state, batches)
  assert all(np.all(np.isfinite(v)) for v in jax.device_get(metrics).values())

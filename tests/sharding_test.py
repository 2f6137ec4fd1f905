"""The train step on a mesh of 8 fake CPU devices (conftest.py) against the same step on one."""
import types

import jax
import numpy as np

from vid_jax import data as data_lib
from vid_jax import sharding as shard_lib
from vid_jax import testing
from vid_jax import train
from vid_jax import train_state as ts_lib
from vid_jax import train_step
from vid_jax.models import build_gan

FIELDS = ("g_params", "g_batch_stats", "d_params", "d_batch_stats", "g_opt_state", "d_opt_state",
          "ema_params", "step", "rng")


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


def _leaves(state):
  return jax.device_get([getattr(state, f) for f in FIELDS])


def _steps(trainer, batches, devices, steps):
  """`steps` jitted train steps of `trainer` on `batches` (host arrays) over a mesh of `devices`."""
  mesh = shard_lib.make_mesh(devices)
  rep, bsh = shard_lib.replicated(mesh), shard_lib.batch_sharding(mesh, leading_axes=1)
  state_sh = jax.tree.map(lambda _: rep, trainer.abstract_state)
  fn = jax.jit(trainer.step_impl, in_shardings=(state_sh, bsh), out_shardings=(state_sh, rep))
  state = jax.jit(trainer.init_fn, out_shardings=state_sh)(trainer.init_key)
  batch = shard_lib.global_batch(batches, bsh)
  for _ in range(steps):
    state, metrics = fn(state, batch)
  return state, metrics, batch


def test_one_step_on_8_devices_equals_the_step_on_one():
  assert jax.device_count() == 8
  config = testing.tiny_config(conditional=True)
  trainer, batches = _parts(config), _first_batches(config)
  s8, m8, batch8 = _steps(trainer, batches, jax.devices(), 1)
  s1, m1, _ = _steps(trainer, batches, jax.devices()[:1], 1)
  # The state is replicated on every device, the batch split over them along its batch axis.
  kernel = s8.g_params["ConvT4_0"]["kernel"]
  assert len(kernel.sharding.device_set) == 8 and kernel.sharding.is_fully_replicated
  image = batch8["image"]  # [k, B, R, R, 3]
  assert len(image.sharding.device_set) == 8 and not image.sharding.is_fully_replicated
  assert {s.data.shape[1] for s in image.addressable_shards} == {image.shape[1] // 8}
  for a, b in zip(jax.tree.leaves(_leaves(s8)), jax.tree.leaves(_leaves(s1))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  for k in m1:
    np.testing.assert_allclose(m8[k], m1[k], rtol=1e-5, atol=1e-5, err_msg=k)


def test_sharded_step_matches_single_device():
  assert jax.device_count() == 8
  config = testing.tiny_config()
  trainer, batches = _parts(config), _first_batches(config)

  s8, m8, _ = _steps(trainer, batches, jax.devices(), 2)
  s1, m1, _ = _steps(trainer, batches, jax.devices()[:1], 2)
  assert len(s8.g_params["ConvT4_0"]["kernel"].sharding.device_set) == 8
  for a, b in zip(jax.tree.leaves(_leaves(s8)), jax.tree.leaves(_leaves(s1))):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
  np.testing.assert_allclose(m8["d_loss"], m1["d_loss"], rtol=1e-5)

"""The one train-state pytree and its construction."""
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class TrainState:
  """Everything a GAN run carries from step to step (and into checkpoints)."""
  step: jax.Array          # int32 scalar: completed G updates
  rng: jax.Array           # uint32 [2] base key; per-step keys are fold_in(rng, step)
  g_params: Any
  g_batch_stats: Any
  d_params: Any
  d_batch_stats: Any
  g_opt_state: Any
  d_opt_state: Any
  ema_params: Any          # EMA of g_params, used for samples and inference
  g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = struct.field(pytree_node=False)


def make_optimizers(optim) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """Adam for G and D (DCGAN defaults: lr 2e-4, b1 0.5)."""
  return (optax.adam(optim.g_lr, b1=optim.b1, b2=optim.b2),
          optax.adam(optim.d_lr, b1=optim.b1, b2=optim.b2))


def create_train_state(key, *, generator, discriminator, g_tx, d_tx, resolution, z_dim, num_attributes):
  """Initialises params, batch stats and optimizer states from `key` (jittable)."""
  k_rng, k_g, k_d = jax.random.split(key, 3)
  z = jnp.zeros((1, z_dim), jnp.float32)
  x = jnp.zeros((1, resolution, resolution, 3), jnp.float32)
  y = jnp.zeros((1, num_attributes), jnp.float32) if num_attributes else None
  g_vars = generator.init(k_g, z, y, train=False)
  d_vars = discriminator.init(k_d, x, y, train=False)
  return TrainState(
      step=jnp.zeros((), jnp.int32), rng=k_rng,
      g_params=g_vars["params"], g_batch_stats=g_vars["batch_stats"],
      d_params=d_vars["params"], d_batch_stats=d_vars["batch_stats"],
      g_opt_state=g_tx.init(g_vars["params"]), d_opt_state=d_tx.init(d_vars["params"]),
      ema_params=g_vars["params"], g_tx=g_tx, d_tx=d_tx)


def make_init_fn(config, generator, discriminator):
  """`init(key) -> TrainState` for a run config (optimizers from `config.optim`)."""
  from vid_jax.config import attribute_names  # pylint: disable=g-import-not-at-top
  g_tx, d_tx = make_optimizers(config.optim)
  return functools.partial(create_train_state, generator=generator, discriminator=discriminator,
                           g_tx=g_tx, d_tx=d_tx, resolution=config.model.resolution,
                           z_dim=config.model.z_dim, num_attributes=len(attribute_names(config)))

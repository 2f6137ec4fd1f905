"""The one train-state pytree and its construction."""
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from vid_jax.data.attributes import attribute_names
from vid_jax.models.generator import BN_MOMENTUM


@struct.dataclass
class TrainState:
  """Everything a GAN run carries from step to step (and into checkpoints)."""
  step: jax.Array  # int32 scalar: completed G updates
  rng: jax.Array  # uint32 [2] base key; per-step keys are fold_in(rng, step)
  g_params: Any
  g_batch_stats: Any
  d_params: Any
  d_batch_stats: Any
  g_opt_state: Any
  d_opt_state: Any
  ema_params: Any  # EMA of g_params, used for samples and inference
  g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = struct.field(pytree_node=False)


def learning_rate(lr: float, *, decay_start: int, num_steps: int, updates_per_step: int = 1):
  """`lr`, or (decay_start > 0) a schedule over the optimizer's update count: `lr` until G step
  `decay_start`, then linearly to 0 at `num_steps` (the linear decay of pix2pix / CycleGAN).
  `updates_per_step` converts update counts to G steps (D updates n_critic times per G step)."""
  if not decay_start:
    return lr  # a float keeps Adam's state tree as it was before schedules existed
  span = max(num_steps - decay_start, 1)

  def schedule(count):
    step = count // updates_per_step
    return lr * jnp.clip((num_steps - step) / span, 0.0, 1.0)

  return schedule


def make_optimizers(optim,
                    num_steps: int) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """Adam for G and D (DCGAN defaults: lr 2e-4, b1 0.5), with `optim.lr_decay_start`'s decay."""
  g_lr = learning_rate(optim.g_lr, decay_start=optim.lr_decay_start, num_steps=num_steps)
  d_lr = learning_rate(optim.d_lr, decay_start=optim.lr_decay_start, num_steps=num_steps,
                       updates_per_step=optim.n_critic)
  return optax.adam(g_lr, b1=optim.b1, b2=optim.b2), optax.adam(d_lr, b1=optim.b1, b2=optim.b2)


def create_train_state(key, *, generator, discriminator, g_tx, d_tx, resolution, z_dim, num_attributes):
  """Initialises params, batch stats and optimizer states from `key` (jittable)."""
  k_rng, k_g, k_d = jax.random.split(key, 3)
  z = jnp.zeros((1, z_dim), jnp.float32)
  x = jnp.zeros((1, resolution, resolution, 3), jnp.float32)
  y = jnp.zeros((1, num_attributes), jnp.float32) if num_attributes else None
  g_vars = generator.init(k_g, z, y, train=False)
  d_vars = discriminator.init(k_d, x, y, train=False)
  return TrainState(step=jnp.zeros(
      (), jnp.int32), rng=k_rng, g_params=g_vars["params"], g_batch_stats=g_vars["batch_stats"],
                    d_params=d_vars["params"], d_batch_stats=d_vars["batch_stats"],
                    g_opt_state=g_tx.init(g_vars["params"]), d_opt_state=d_tx.init(d_vars["params"]),
                    ema_params=g_vars["params"], g_tx=g_tx, d_tx=d_tx)


def make_init_fn(config, generator, discriminator):
  """`init(key) -> TrainState` for a run config (optimizers from `config.optim`)."""
  g_tx, d_tx = make_optimizers(config.optim, config.train.num_steps)
  return functools.partial(create_train_state, generator=generator, discriminator=discriminator, g_tx=g_tx,
                           d_tx=d_tx, resolution=config.model.resolution, z_dim=config.model.z_dim,
                           num_attributes=len(attribute_names(config)))


STANDING_SAMPLES = 256  # latents over which samples and inference measure the EMA G's statistics


def standing_batch_stats(generator, params, z, attrs=None, *, chunk: int = 64):
  """BatchNorm statistics of `generator` with `params`, measured on the inputs `z` [N, z_dim].

  The running statistics in the train state belong to the raw G params; the EMA params drift
  from them, and using them in inference mode washes the EMA samples out. These are the
  "standing statistics" of BigGAN (Brock et al. 2019): the EMA generator run in train mode over
  N latents, its per-layer batch means and variances pooled exactly over chunks of `chunk`.
  Returns a `batch_stats` collection (same tree as the generator's). Jittable.
  """
  n = z.shape[0]
  if n % chunk:
    raise ValueError(f"standing statistics need a multiple of {chunk} latents, got {n}")
  zeros = jax.tree.map(
      jnp.zeros_like,
      jax.eval_shape(lambda: generator.init(jax.random.PRNGKey(0), z[:1], None
                                            if attrs is None else attrs[:1], train=False))["batch_stats"])

  def chunk_stats(inputs):
    zc, yc = inputs
    _, new = generator.apply({
        "params": params,
        "batch_stats": zeros
    }, zc, yc, train=True, mutable=["batch_stats"])
    # From zero running stats, one update leaves (1 - momentum) x the batch statistic.
    return jax.tree.map(lambda s: s / (1.0 - BN_MOMENTUM), new["batch_stats"])

  zs = z.reshape(n // chunk, chunk, z.shape[-1])
  ys = None if attrs is None else attrs.reshape(n // chunk, chunk, attrs.shape[-1])
  per_chunk = jax.lax.map(chunk_stats, (zs, ys))  # leaves [n / chunk, C]

  def merge(stats):  # one BatchNorm's {"mean": [K, C], "var": [K, C]}: pooled exactly
    mean = jnp.mean(stats["mean"], axis=0)
    var = jnp.mean(stats["var"] + jnp.square(stats["mean"]), axis=0) - jnp.square(mean)
    return {"mean": mean, "var": jnp.maximum(var, 0.0)}

  return jax.tree.map(merge, per_chunk, is_leaf=lambda t: isinstance(t, dict) and "mean" in t)

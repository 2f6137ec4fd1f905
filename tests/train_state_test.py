"""Optimizers and learning-rate schedules of the train state (vid_jax.train_state)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vid_jax import testing
from vid_jax import train_state
from vid_jax.models import Generator
from vid_jax.train_state import standing_batch_stats


def test_linear_lr_decay_schedules_both_optimizers():
  config = testing.tiny_config()
  config.optim.g_lr, config.optim.d_lr, config.optim.n_critic = 4e-4, 1e-4, 2
  assert train_state.learning_rate(4e-4, decay_start=0, num_steps=100) == 4e-4  # off: a float
  config.optim.lr_decay_start = 60
  g_tx, d_tx = train_state.make_optimizers(config.optim, num_steps=100)
  const_tx = optax.adam(4e-4, b1=config.optim.b1, b2=config.optim.b2)
  params = {"w": jnp.arange(3.0)}
  grads = {"w": jnp.array([0.5, -1.0, 2.0])}

  def update(tx, count):  # the update Adam makes as its `count`-th step (same moments each time)
    state = tx.init(params)
    state = jax.tree.map(lambda l: jnp.asarray(count, l.dtype)
                         if l.dtype == jnp.int32 else l, state, is_leaf=lambda l: isinstance(l, jax.Array))
    return tx.update(grads, state, params)[0]["w"]

  ref = lambda count: update(const_tx, count)  # Adam's bias correction depends on the count too
  np.testing.assert_allclose(update(g_tx, 30), ref(30), rtol=1e-6)  # before the decay: the constant lr
  np.testing.assert_allclose(update(g_tx, 60), ref(60), rtol=1e-6)  # decay starts at 1x
  np.testing.assert_allclose(update(g_tx, 80), 0.5 * ref(80), rtol=1e-5)  # halfway: half
  np.testing.assert_array_equal(update(g_tx, 100), 0.0)  # num_steps: zero
  assert float(jnp.abs(ref(100)).min()) > 1e-4
  # D updates n_critic=2 times per G step: its count 160 is G step 80, half of D's lr (1/4 of G's).
  np.testing.assert_allclose(update(d_tx, 160), 0.5 * 0.25 * ref(160), rtol=1e-5)


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
  train_out, _ = g.apply({
      "params": params,
      "batch_stats": variables["batch_stats"]
  }, z, y, train=True, mutable=["batch_stats"])
  np.testing.assert_allclose(eval_out, train_out, atol=2e-4)
  # Chunks pool exactly: the first BatchNorm (upstream of any per-chunk normalisation) gets the
  # whole batch's mean and variance.
  pooled = jax.jit(lambda p: standing_batch_stats(g, p, z, y, chunk=32))(params)
  first = lambda s: s["ConditionalBatchNorm_0"]["BatchNorm_0"]
  for stat in ("mean", "var"):
    np.testing.assert_allclose(first(pooled)[stat], first(whole)[stat], rtol=1e-4, atol=1e-6)
  with pytest.raises(ValueError, match="multiple of 64"):
    standing_batch_stats(g, params, z[:100], y[:100])

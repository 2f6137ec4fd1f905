"""Optimizers and learning-rate schedules of the train state (vid_jax.train_state)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vid_jax import testing
from vid_jax import train_state


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
    state = jax.tree.map(lambda l: jnp.asarray(count, l.dtype) if l.dtype == jnp.int32 else l, state,
                         is_leaf=lambda l: isinstance(l, jax.Array))
    return tx.update(grads, state, params)[0]["w"]

  ref = lambda count: update(const_tx, count)  # Adam's bias correction depends on the count too
  np.testing.assert_allclose(update(g_tx, 30), ref(30), rtol=1e-6)   # before the decay: the constant lr
  np.testing.assert_allclose(update(g_tx, 60), ref(60), rtol=1e-6)   # decay starts at 1x
  np.testing.assert_allclose(update(g_tx, 80), 0.5 * ref(80), rtol=1e-5)  # halfway: half
  np.testing.assert_array_equal(update(g_tx, 100), 0.0)  # num_steps: zero
  assert float(jnp.abs(ref(100)).min()) > 1e-4
  # D updates n_critic=2 times per G step: its count 160 is G step 80, half of D's lr (1/4 of G's).
  np.testing.assert_allclose(update(d_tx, 160), 0.5 * 0.25 * ref(160), rtol=1e-5)

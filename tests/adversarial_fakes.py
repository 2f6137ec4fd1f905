"""A tiny smooth conv net (classifier or D) shared by the adversarial_*_test.py files."""
import flax.linen as nn
import jax
import jax.numpy as jnp

NORMS = ("linf", "l2")


class TinyNet(nn.Module):
  """[B, 6, 6, 3] -> logits [B, K]; smooth (tanh) so gradients are rarely zero."""
  num_outputs: int = 3

  @nn.compact
  def __call__(self, x):
    h = jnp.tanh(nn.Conv(4, (3, 3))(x))  # [B, 6, 6, 4]
    h = jnp.tanh(nn.Dense(16)(h.reshape(h.shape[0], -1)))  # [B, 16]
    return nn.Dense(self.num_outputs)(h)  # [B, K]


def net(num_outputs=3, seed=0):
  model = TinyNet(num_outputs)
  params = jax.jit(model.init)(jax.random.key(seed), jnp.zeros((1, 6, 6, 3)))
  return jax.jit(lambda x: model.apply(params, x))  # inlined when called inside jit


def d_net(seed):
  one_logit = net(1, seed=seed)
  return lambda x: one_logit(x)[:, 0]  # D logits [B]


def norms(delta, norm):
  flat = delta.reshape(delta.shape[0], -1)
  return jnp.max(jnp.abs(flat), axis=1) if norm == "linf" else jnp.linalg.norm(flat, axis=1)

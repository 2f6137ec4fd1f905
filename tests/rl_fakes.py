"""Toy generators, rewards, requests and fake models shared by the rl_*_test.py files."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.refiners import rl

Z = 8


def quadratic(z_star):
  return lambda z: -jnp.sum(jnp.square(z - z_star), axis=-1)  # [N]


class TinyGenerator(nn.Module):
  """A random-init generator-like map z [N, Z] -> images [N, 8, 8, 3]."""

  @nn.compact
  def __call__(self, z, attrs=None):
    h = nn.tanh(nn.Dense(64)(z))
    return nn.tanh(nn.Dense(8 * 8 * 3)(h)).reshape(z.shape[0], 8, 8, 3)


def tiny_generate(z_dim=Z, seed=0):
  g = TinyGenerator()
  variables = g.init(jax.random.key(seed), jnp.zeros((1, z_dim)))
  return lambda z, attrs=None: g.apply(variables, z, attrs)


def toy_reward(num_attributes=5, feature_dim=6, seed=1):
  """Composable reward terms built from fixed random linear 'models'."""
  k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
  w_d = jax.random.normal(k1, (8 * 8 * 3,)) / 8.0
  w_c = jax.random.normal(k2, (8 * 8 * 3, num_attributes)) / 4.0
  w_f = jax.random.normal(k3, (8 * 8 * 3, feature_dim))
  flat = lambda x: x.reshape(x.shape[0], -1)
  logits_fn = lambda images: flat(images) @ w_c
  terms = {
      "realism": rl.realism(lambda x, attrs: flat(x) @ w_d),
      "attributes": rl.attributes(logits_fn),
      "uniqueness": rl.uniqueness(lambda x: flat(x) @ w_f),
      "prior": rl.prior,
  }
  weights = {"realism": 1.0, "attributes": 1.0, "uniqueness": 0.5, "prior": 0.1}
  return rl.combine(terms, weights), logits_fn


def toy_requests(num, num_attributes=5, feature_dim=6, seed=2):
  k1, k2 = jax.random.split(jax.random.key(seed))
  u = jax.random.uniform(k1, (num, num_attributes))
  return rl.Request(want=(u < 0.3).astype(jnp.float32), avoid=(u > 0.8).astype(jnp.float32), cond=jnp.zeros(
      (num, 0)), bank=jax.random.normal(k2, (num, 4, feature_dim)), bank_mask=jnp.ones((num, 4)))


class FakeModels:
  """Stands in for inference.Models: a tiny conditional G and a linear D."""
  z_dim = Z
  attribute_names = ("Smiling", "Male")
  attribute_marginals = np.array([0.4, 0.7], np.float32)

  def __init__(self):
    self._g = tiny_generate()
    self._w = jax.random.normal(jax.random.key(20), (8 * 8 * 3, 5)) / 8.0

  def generate(self, z, attrs=None):
    assert attrs is not None and attrs.shape == (z.shape[0], 2)
    return jnp.clip(self._g(z) + 0.1 * attrs[:, :1, None, None], -1, 1)

  def discriminate(self, images, attrs=None, return_features=False):
    h = images.reshape(images.shape[0], -1) @ self._w  # [B, 5]
    feats = [h[:, None, None, :]]  # one [B, 1, 1, 5] "block"
    return (h[:, 0], feats) if return_features else h[:, 0]


class FakeClassifier:
  attribute_names = ("Smiling", "Eyeglasses", "Male")

  def __init__(self):
    self._w = jax.random.normal(jax.random.key(21), (8 * 8 * 3, 3 + 4)) / 4.0

  def logits(self, images):
    return (images.reshape(images.shape[0], -1) @ self._w)[:, :3]

  def features(self, images):
    return (images.reshape(images.shape[0], -1) @ self._w)[:, 3:]

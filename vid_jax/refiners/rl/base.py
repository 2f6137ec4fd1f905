"""What every latent refiner shares: the `Refiner` tuple, the best-so-far record, baselines.

Refiners follow optax: a factory `name(**hparams)` returns a `Refiner` NamedTuple of pure functions

  state = refiner.init(key, z_dim, context)
  state, info = refiner.step(state, key, objective)

where `objective(z [N, Z]) -> reward [N]` is the black-box (for `gradient`: differentiable) reward
of latents for one request, and `context` [D] is the request's feature vector (only the amortised
policy reads it). Every state carries `best: Best`, the best latent evaluated so far, which is what
a refiner returns: all methods are compared on the same footing (best of the E generator
evaluations they spent).
"""
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
Objective = Callable[[Array], Array]  # z [N, Z] -> reward [N]


class Best(NamedTuple):
  """Best latent evaluated so far."""
  z: Array  # [Z]
  reward: Array  # []


def init_best(z_dim: int) -> Best:
  return Best(jnp.zeros((z_dim,), jnp.float32), jnp.array(-jnp.inf, jnp.float32))


def track_best(best: Best, z: Array, r: Array) -> Best:
  """Updates `best` with a batch z [N, Z], r [N] (NaN rewards never win)."""
  r = jnp.where(jnp.isnan(r), -jnp.inf, r)
  i = jnp.argmax(r)
  better = r[i] > best.reward
  return Best(jnp.where(better, z[i], best.z), jnp.where(better, r[i], best.reward))


class Refiner(NamedTuple):
  """A latent refiner in the optax mould.

  Attributes:
    init: (key, z_dim, context [D] or None) -> state.
    step: (state, key, objective) -> (state, info dict of scalars).
    evals_per_step: generator evaluations one `step` spends.
  """
  init: Callable[..., Any]
  step: Callable[..., Any]
  evals_per_step: int


def leave_one_out(r: Array) -> Array:
  """Leave-one-out baseline: mean of the other rewards, [N] -> [N]."""
  n = r.shape[0]
  return (jnp.sum(r) - r) / (n - 1)


def centred_ranks(r: Array) -> Array:
  """Centred ranks in [-0.5, 0.5] (ties broken by order), [N] -> [N]."""
  n = r.shape[0]
  ranks = jnp.argsort(jnp.argsort(r))
  return ranks.astype(jnp.float32) / (n - 1) - 0.5

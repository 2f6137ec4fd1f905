"""The bio's slot choice: REINFORCE over a factorised categorical policy.

A categorical policy over the slot options per request, trained by REINFORCE
(leave-one-out baseline, normalised advantages, Adam on the logits; only slots
the sampled template uses get a gradient, which keeps the estimate unbiased and
lowers its variance), in `lax.scan` over iterations, `vmap` over requests, one
`jit` (`runner`). The choice returned is the best-scoring one evaluated, as
with `refiners.rl`. `learning_rate=0` gives the uniform random-search baseline.
"""

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from vid_jax.identity.bio_score import TERMS, assemble
from vid_jax.refiners.rl.rewards import combine

Array = jax.Array


class SlotPolicyState(NamedTuple):
  logits: Array  # [S, K]
  opt_state: Any
  best_choice: Array  # [S] int32
  best_reward: Array  # []


class SlotRefiner(NamedTuple):
  """A slot-choice refiner in the optax mould.

  Attributes:
    init: valid [S, K] -> state (uniform over the valid options).
    step: (state, key, valid, objective) -> (state, info), where
      objective(choices [N, S]) -> (reward [N], slots used [N, S] bool).
    evals_per_step: choices scored per step.
  """
  init: Callable[..., Any]
  step: Callable[..., Any]
  evals_per_step: int


def slot_reinforce(*, population: int = 32, learning_rate: float = 0.3, entropy_weight: float = 0.0,
                   normalize: bool = True) -> SlotRefiner:
  """Factorised categorical policy over slot options, trained by REINFORCE.

  Minimises -E[A sum_s used_s log pi_s(c_s)] - entropy_weight H(pi) with Adam,
  A = (r - leave-one-out mean) / std(r) (if `normalize`).

  Args:
    population: choices sampled per step (>= 2).
    learning_rate: Adam step size on the logits (0: uniform random search).
    entropy_weight: weight of the entropy bonus.
    normalize: divide advantages by the batch reward std.

  Returns:
    The refiner.
  """
  if population < 2:
    raise ValueError(f"slot_reinforce: population must be >= 2, got {population}")
  opt = optax.adam(learning_rate)

  def init(valid):
    logits = jnp.zeros(valid.shape, jnp.float32)
    return SlotPolicyState(logits, opt.init(logits), jnp.zeros(valid.shape[:1], jnp.int32),
                           jnp.array(-jnp.inf, jnp.float32))

  def step(state, key, valid, objective):
    masked = jnp.where(valid, state.logits, -1e9)
    c = jax.random.categorical(key, masked, shape=(population,) + valid.shape[:1]).astype(jnp.int32)  # [N, S]
    r, used = objective(c)
    adv = r - (jnp.sum(r) - r) / (population - 1)
    if normalize:
      adv = adv / (jnp.std(r) + 1e-8)

    def loss(logits):
      logp = jax.nn.log_softmax(jnp.where(valid, logits, -1e9))  # [S, K]
      chosen = jnp.take_along_axis(logp[None], c[..., None], -1)[..., 0]
      entropy = -jnp.sum(jnp.where(valid, jnp.exp(logp) * logp, 0.0))
      return (-jnp.mean(adv * jnp.sum(chosen * used, axis=-1)) - entropy_weight * entropy)

    updates, opt_state = opt.update(jax.grad(loss)(state.logits), state.opt_state, state.logits)
    i = jnp.argmax(r)
    better = r[i] > state.best_reward
    new = SlotPolicyState(optax.apply_updates(state.logits, updates), opt_state,
                          jnp.where(better, c[i], state.best_choice),
                          jnp.where(better, r[i], state.best_reward))
    return new, {"reward_mean": jnp.mean(r), "reward_max": jnp.max(r)}

  return SlotRefiner(init, step, population)


@functools.cache
def runner(population: int, learning_rate: float, entropy_weight: float, iterations: int,
           weights: tuple) -> Callable[..., Any]:
  """jit(vmap(request -> best choice, score, terms, mean-reward trace))."""
  refiner = slot_reinforce(population=population, learning_rate=learning_rate, entropy_weight=entropy_weight)
  score_fn = combine(TERMS, dict(weights), return_terms=True)

  def one(tab, key):

    def objective(c):  # [N, S]
      total, _ = score_fn(jax.vmap(assemble, (None, 0))(tab, c), c, tab)
      return total, tab.used[c[:, 0]]

    def body(state, k):
      state, info = refiner.step(state, k, tab.valid, objective)
      return state, info["reward_mean"]

    state, trace = jax.lax.scan(body, refiner.init(tab.valid), jax.random.split(key, iterations))
    best = state.best_choice[None]
    total, terms = score_fn(jax.vmap(assemble, (None, 0))(tab, best), best, tab)
    terms = {k: v[0] for k, v in terms.items()}
    return state.best_choice, total[0], terms, trace

  return jax.jit(jax.vmap(one))

"""Latent refiners over one request's reward, each a factory returning a `Refiner` (see base.py).

  reinforce   diagonal Gaussian N(mean, exp(log_std)^2) per request, REINFORCE with a
              leave-one-out or moving-average baseline and reward normalisation, KL-to-prior and
              entropy regularisation.
  es          the same Gaussian mean, antithetic evolution strategies with centred-rank fitness
              shaping, fixed sigma.
  best_of_n   baseline: best of E prior draws.
  gradient    baseline: Adam ascent on z through the (differentiable) reward.

The amortised policy, trained across requests, is in amortized.py.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from vid_jax.refiners.rl.base import (Array, Best, Objective, Refiner, centred_ranks, init_best,
                                      leave_one_out, track_best)


class GaussianParams(NamedTuple):
  """Diagonal Gaussian policy N(mean, exp(log_std)^2)."""
  mean: Array  # [Z]
  log_std: Array  # [Z]


class ReinforceState(NamedTuple):
  params: GaussianParams
  opt_state: Any
  baseline: Array  # [] moving-average reward ("ema" baseline)
  count: Array  # [] int32 steps taken
  best: Best


def gaussian_kl_to_prior(params: GaussianParams) -> Array:
  """KL(N(mean, std^2) || N(0, I)), summed over coordinates; [] ."""
  var = jnp.exp(2 * params.log_std)
  return 0.5 * jnp.sum(var + jnp.square(params.mean) - 1 - 2 * params.log_std)


def score_function_gradient(params: GaussianParams, key: Array, objective: Objective, *, num_samples: int,
                            baseline: str = "none") -> tuple[GaussianParams, GaussianParams]:
  """Score-function (REINFORCE) estimate of grad E_{z~policy}[objective(z)].

  With z = mean + std * eps: d log p / d mean = eps / std and
  d log p / d log_std = eps^2 - 1. A leave-one-out baseline keeps the estimate
  unbiased and lowers its variance.

  Args:
    params: the policy.
    key: PRNG key.
    objective: z [N, Z] -> [N].
    num_samples: N.
    baseline: "none" or "loo".

  Returns:
    (gradient estimate, its standard error), both as GaussianParams.
  """
  std = jnp.exp(params.log_std)
  eps = jax.random.normal(key, (num_samples,) + params.mean.shape)
  r = objective(params.mean + std * eps)  # [N]
  if baseline == "loo":
    r = r - leave_one_out(r)
  elif baseline != "none":
    raise ValueError(f"baseline must be 'none' or 'loo', got {baseline!r}")
  g_mean = r[:, None] * eps / std  # [N, Z]
  g_log_std = r[:, None] * (jnp.square(eps) - 1)  # [N, Z]
  se = lambda g: jnp.std(g, axis=0) / jnp.sqrt(num_samples)
  return (GaussianParams(g_mean.mean(0), g_log_std.mean(0)), GaussianParams(se(g_mean), se(g_log_std)))


def reinforce(*, population: int = 32, learning_rate: float = 0.1, init_log_std: float = 0.0,
              min_log_std: float = -3.0, max_log_std: float = 0.5, baseline: str = "loo",
              baseline_decay: float = 0.9, normalize: bool = True, kl_weight: float = 0.0,
              entropy_weight: float = 0.0) -> Refiner:
  """Per-request diagonal Gaussian policy trained by REINFORCE.

  Minimises  -E[A log pi(z)] + kl_weight KL(pi || N(0,I)) - entropy_weight H(pi)
  with Adam, where A = (r - b) / std(r) (if `normalize`).

  Args:
    population: latents sampled (and generator evaluations) per step (>= 2).
    learning_rate: Adam step size on (mean, log_std).
    init_log_std: initial log std (0 = prior scale).
    min_log_std: lower clip of log std.
    max_log_std: upper clip of log std.
    baseline: "loo" (leave-one-out batch mean), "ema" (moving average of the
      batch mean) or "none".
    baseline_decay: decay of the "ema" baseline.
    normalize: divide advantages by the batch reward std.
    kl_weight: weight of the KL to the prior N(0, I).
    entropy_weight: weight of the entropy bonus.

  Returns:
    The refiner.
  """
  if population < 2:
    raise ValueError(f"reinforce: population must be >= 2, got {population}")
  if baseline not in ("loo", "ema", "none"):
    raise ValueError(f"reinforce: baseline must be 'loo', 'ema' or 'none', "
                     f"got {baseline!r}")
  opt = optax.adam(learning_rate)

  def init(key, z_dim, context=None):
    del key, context
    params = GaussianParams(jnp.zeros((z_dim,), jnp.float32), jnp.full((z_dim,), init_log_std, jnp.float32))
    return ReinforceState(params, opt.init(params), jnp.zeros(()), jnp.zeros((), jnp.int32), init_best(z_dim))

  def step(state, key, objective):
    p = state.params
    std = jnp.exp(p.log_std)
    eps = jax.random.normal(key, (population,) + p.mean.shape)  # [P, Z]
    z = p.mean + std * eps
    r = objective(z).astype(jnp.float32)  # [P]
    batch_mean = jnp.mean(r)
    ema = jnp.where(state.count == 0, batch_mean, state.baseline)
    if baseline == "loo":
      adv = r - leave_one_out(r)
    elif baseline == "ema":
      adv = r - ema
    else:
      adv = r
    if normalize:
      adv = adv / (jnp.std(r) + 1e-8)
    # Gradient of the loss in closed form (score of a diagonal Gaussian).
    g_mean = -jnp.mean(adv[:, None] * eps / std, axis=0) + kl_weight * p.mean
    g_log_std = (-jnp.mean(adv[:, None] * (jnp.square(eps) - 1), axis=0) + kl_weight * (jnp.square(std) - 1) -
                 entropy_weight)
    grads = GaussianParams(g_mean, g_log_std)
    updates, opt_state = opt.update(grads, state.opt_state, p)
    new = optax.apply_updates(p, updates)
    new = GaussianParams(new.mean, jnp.clip(new.log_std, min_log_std, max_log_std))
    new_state = ReinforceState(new, opt_state, baseline_decay * ema + (1 - baseline_decay) * batch_mean,
                               state.count + 1, track_best(state.best, z, r))
    info = {
        "reward_mean": batch_mean,
        "reward_max": jnp.max(r),
        "std_mean": jnp.mean(std),
        "kl": gaussian_kl_to_prior(p)
    }
    return new_state, info

  return Refiner(init, step, population)


# ------------------------------------------------------------------- ES


class ESState(NamedTuple):
  mean: Array  # [Z]
  opt_state: Any
  best: Best


def evolution_strategies(*, population: int = 32, learning_rate: float = 0.1, sigma: float = 0.5,
                         rank_shaping: bool = True, kl_weight: float = 0.0) -> Refiner:
  """Antithetic evolution strategies on the mean of N(mean, sigma^2 I).

  Each step draws population/2 directions eps and evaluates mean +- sigma eps;
  the search gradient is sum_i (f(+) - f(-)) eps_i / (population sigma), with f
  the rewards or their centred ranks.

  Args:
    population: evaluations per step (even, >= 2).
    learning_rate: Adam step size on the mean.
    sigma: perturbation scale.
    rank_shaping: use centred ranks (invariant to the reward's scale).
    kl_weight: weight of |mean|^2 / 2 (KL of N(mean, .) to N(0, .)).

  Returns:
    The refiner.
  """
  if population < 2 or population % 2:
    raise ValueError(f"es: population must be even and >= 2, got {population}")
  half = population // 2
  opt = optax.adam(learning_rate)

  def init(key, z_dim, context=None):
    del key, context
    mean = jnp.zeros((z_dim,), jnp.float32)
    return ESState(mean, opt.init(mean), init_best(z_dim))

  def step(state, key, objective):
    eps = jax.random.normal(key, (half,) + state.mean.shape)  # [P/2, Z]
    z = jnp.concatenate([state.mean + sigma * eps, state.mean - sigma * eps])
    r = objective(z).astype(jnp.float32)  # [P]
    f = centred_ranks(r) if rank_shaping else (r - r.mean()) / (r.std() + 1e-8)
    g = (f[:half] - f[half:]) @ eps / (population * sigma)  # [Z]
    updates, opt_state = opt.update(-g + kl_weight * state.mean, state.opt_state, state.mean)
    new_state = ESState(optax.apply_updates(state.mean, updates), opt_state, track_best(state.best, z, r))
    return new_state, {"reward_mean": jnp.mean(r), "reward_max": jnp.max(r)}

  return Refiner(init, step, population)


# ------------------------------------------------------------ baselines


class BestOfNState(NamedTuple):
  best: Best


def best_of_n(*, population: int = 32) -> Refiner:
  """Baseline: sample `population` prior latents per step, keep the best.

  Args:
    population: prior draws (generator evaluations) per step.

  Returns:
    The refiner.
  """

  def init(key, z_dim, context=None):
    del key, context
    return BestOfNState(init_best(z_dim))

  def step(state, key, objective):
    z = jax.random.normal(key, (population,) + state.best.z.shape)
    r = objective(z).astype(jnp.float32)
    return (BestOfNState(track_best(state.best, z, r)), {
        "reward_mean": jnp.mean(r),
        "reward_max": jnp.max(r)
    })

  return Refiner(init, step, population)


class GradientState(NamedTuple):
  z: Array  # [C, Z] one latent per chain
  opt_state: Any
  best: Best


def gradient_ascent(*, chains: int = 8, learning_rate: float = 0.05, kl_weight: float = 0.0) -> Refiner:
  """Baseline: Adam ascent on z through the differentiable reward.

  Maximises r(z) - kl_weight |z|^2 / 2 from `chains` prior draws. One step is
  one forward + backward per chain, counted as one generator evaluation each
  (the backward pass costs about twice the forward in compute).

  Args:
    chains: independent ascents (= evaluations per step).
    learning_rate: Adam step size.
    kl_weight: weight of the prior's negative log density.

  Returns:
    The refiner.
  """
  opt = optax.adam(learning_rate)

  def init(key, z_dim, context=None):
    del context
    z = jax.random.normal(key, (chains, z_dim), jnp.float32)
    return GradientState(z, opt.init(z), init_best(z_dim))

  def step(state, key, objective):
    del key
    # Rewards of different chains are independent, so the VJP with ones
    # gives every chain its own gradient in one backward pass.
    r, vjp = jax.vjp(objective, state.z)
    (g,) = vjp(jnp.ones_like(r))
    grads = -g + kl_weight * state.z
    updates, opt_state = opt.update(grads, state.opt_state, state.z)
    new_state = GradientState(optax.apply_updates(state.z, updates), opt_state,
                              track_best(state.best, state.z, r.astype(jnp.float32)))
    return new_state, {"reward_mean": jnp.mean(r), "reward_max": jnp.max(r)}

  return Refiner(init, step, chains)

"""RL latent refiner: learn where in z-space to sample so avatars score high.

Everything is a pure JAX program in the purejaxrl style: rollout (sample
latents, generate), reward, policy update are one `lax.scan` step; many requests
run at once under `vmap`; the request batch can be sharded over a device mesh's
"data" axis.

Refiners follow optax: a factory `name(**hparams)` returns a `Refiner`
NamedTuple of pure functions

  state = refiner.init(key, z_dim, context)
  state, info = refiner.step(state, key, objective)

where `objective(z [N, Z]) -> reward [N]` is the black-box (for `gradient`:
differentiable) reward of latents for one request, and `context` [D] is the
request's feature vector (only the amortised policy reads it). Every state
carries `best: Best`, the best latent evaluated so far, which is what a refiner
returns: all methods are compared on the same footing (best of the E generator
evaluations they spent).

Methods:
  reinforce   diagonal Gaussian N(mean, exp(log_std)^2) per request, REINFORCE
              with a leave-one-out or moving-average baseline and reward
              normalisation, KL-to-prior and entropy regularisation.
  es          the same Gaussian mean, antithetic evolution strategies with
              centred-rank fitness shaping, fixed sigma.
  amortized   an MLP (noise, request features) -> z trained by REINFORCE over
              many random requests (`train_amortized`); at use time it draws
              latents in one forward pass.
  best_of_n   baseline: best of E prior draws.
  gradient    baseline: Adam ascent on z through the (differentiable) reward.

Reward terms live in `vid_jax.refiners.rl_rewards`.
"""

from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from vid_jax import config as config_lib
from vid_jax.errors import UserError
from vid_jax.refiners import rl_rewards
from vid_jax.refiners.rl_rewards import Request
from vid_jax.refiners.rl_rewards import Task

Array = jax.Array
Objective = Callable[[Array], Array]  # z [N, Z] -> reward [N]

METHODS = ("reinforce", "es", "amortized", "best_of_n", "gradient")


# The `refiners.rl` config section's defaults (the lead mounts it at config.refiners.rl); they live
# with the run config, which imports no refiner.
default_config = config_lib.rl_defaults


# ------------------------------------------------------------- plumbing


class Best(NamedTuple):
  """Best latent evaluated so far."""
  z: Array  # [Z]
  reward: Array  # []


def _init_best(z_dim: int) -> Best:
  return Best(jnp.zeros((z_dim,), jnp.float32), jnp.array(-jnp.inf, jnp.float32))


def _track(best: Best, z: Array, r: Array) -> Best:
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


def _leave_one_out(r: Array) -> Array:
  """Leave-one-out baseline: mean of the other rewards, [N] -> [N]."""
  n = r.shape[0]
  return (jnp.sum(r) - r) / (n - 1)


def _centred_ranks(r: Array) -> Array:
  """Centred ranks in [-0.5, 0.5] (ties broken by order), [N] -> [N]."""
  n = r.shape[0]
  ranks = jnp.argsort(jnp.argsort(r))
  return ranks.astype(jnp.float32) / (n - 1) - 0.5


# ------------------------------------------------------- gaussian / REINFORCE


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


def score_function_gradient(params: GaussianParams, key: Array,
                            objective: Objective, *, num_samples: int,
                            baseline: str = "none"
                            ) -> tuple[GaussianParams, GaussianParams]:
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
    r = r - _leave_one_out(r)
  elif baseline != "none":
    raise ValueError(f"baseline must be 'none' or 'loo', got {baseline!r}")
  g_mean = r[:, None] * eps / std  # [N, Z]
  g_log_std = r[:, None] * (jnp.square(eps) - 1)  # [N, Z]
  se = lambda g: jnp.std(g, axis=0) / jnp.sqrt(num_samples)
  return (GaussianParams(g_mean.mean(0), g_log_std.mean(0)),
          GaussianParams(se(g_mean), se(g_log_std)))


def reinforce(*, population: int = 32, learning_rate: float = 0.1,
              init_log_std: float = 0.0, min_log_std: float = -3.0,
              max_log_std: float = 0.5, baseline: str = "loo",
              baseline_decay: float = 0.9, normalize: bool = True,
              kl_weight: float = 0.0, entropy_weight: float = 0.0) -> Refiner:
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
    params = GaussianParams(jnp.zeros((z_dim,), jnp.float32),
                            jnp.full((z_dim,), init_log_std, jnp.float32))
    return ReinforceState(params, opt.init(params), jnp.zeros(()),
                          jnp.zeros((), jnp.int32), _init_best(z_dim))

  def step(state, key, objective):
    p = state.params
    std = jnp.exp(p.log_std)
    eps = jax.random.normal(key, (population,) + p.mean.shape)  # [P, Z]
    z = p.mean + std * eps
    r = objective(z).astype(jnp.float32)  # [P]
    batch_mean = jnp.mean(r)
    ema = jnp.where(state.count == 0, batch_mean, state.baseline)
    if baseline == "loo":
      adv = r - _leave_one_out(r)
    elif baseline == "ema":
      adv = r - ema
    else:
      adv = r
    if normalize:
      adv = adv / (jnp.std(r) + 1e-8)
    # Gradient of the loss in closed form (score of a diagonal Gaussian).
    g_mean = -jnp.mean(adv[:, None] * eps / std, axis=0) + kl_weight * p.mean
    g_log_std = (-jnp.mean(adv[:, None] * (jnp.square(eps) - 1), axis=0) +
                 kl_weight * (jnp.square(std) - 1) - entropy_weight)
    grads = GaussianParams(g_mean, g_log_std)
    updates, opt_state = opt.update(grads, state.opt_state, p)
    new = optax.apply_updates(p, updates)
    new = GaussianParams(new.mean,
                         jnp.clip(new.log_std, min_log_std, max_log_std))
    new_state = ReinforceState(
        new, opt_state,
        baseline_decay * ema + (1 - baseline_decay) * batch_mean,
        state.count + 1, _track(state.best, z, r))
    info = {"reward_mean": batch_mean, "reward_max": jnp.max(r),
            "std_mean": jnp.mean(std), "kl": gaussian_kl_to_prior(p)}
    return new_state, info

  return Refiner(init, step, population)


# ------------------------------------------------------------------- ES


class ESState(NamedTuple):
  mean: Array  # [Z]
  opt_state: Any
  best: Best


def evolution_strategies(*, population: int = 32, learning_rate: float = 0.1,
                         sigma: float = 0.5, rank_shaping: bool = True,
                         kl_weight: float = 0.0) -> Refiner:
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
    return ESState(mean, opt.init(mean), _init_best(z_dim))

  def step(state, key, objective):
    eps = jax.random.normal(key, (half,) + state.mean.shape)  # [P/2, Z]
    z = jnp.concatenate([state.mean + sigma * eps, state.mean - sigma * eps])
    r = objective(z).astype(jnp.float32)  # [P]
    f = _centred_ranks(r) if rank_shaping else (r - r.mean()) / (r.std() + 1e-8)
    g = (f[:half] - f[half:]) @ eps / (population * sigma)  # [Z]
    updates, opt_state = opt.update(-g + kl_weight * state.mean,
                                    state.opt_state, state.mean)
    new_state = ESState(optax.apply_updates(state.mean, updates), opt_state,
                        _track(state.best, z, r))
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
    return BestOfNState(_init_best(z_dim))

  def step(state, key, objective):
    z = jax.random.normal(key, (population,) + state.best.z.shape)
    r = objective(z).astype(jnp.float32)
    return (BestOfNState(_track(state.best, z, r)),
            {"reward_mean": jnp.mean(r), "reward_max": jnp.max(r)})

  return Refiner(init, step, population)


class GradientState(NamedTuple):
  z: Array  # [C, Z] one latent per chain
  opt_state: Any
  best: Best


def gradient_ascent(*, chains: int = 8, learning_rate: float = 0.05,
                    kl_weight: float = 0.0) -> Refiner:
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
    return GradientState(z, opt.init(z), _init_best(z_dim))

  def step(state, key, objective):
    del key
    # Rewards of different chains are independent, so the VJP with ones
    # gives every chain its own gradient in one backward pass.
    r, vjp = jax.vjp(objective, state.z)
    (g,) = vjp(jnp.ones_like(r))
    grads = -g + kl_weight * state.z
    updates, opt_state = opt.update(grads, state.opt_state, state.z)
    new_state = GradientState(optax.apply_updates(state.z, updates), opt_state,
                              _track(state.best, state.z, r.astype(jnp.float32)))
    return new_state, {"reward_mean": jnp.mean(r), "reward_max": jnp.max(r)}

  return Refiner(init, step, chains)


# ------------------------------------------------------------- amortised


class AmortizedNet(nn.Module):
  """MLP (noise [N, Z], request features [N, D]) -> latent mean [N, Z].

  Residual in the noise with a zero-initialised output layer, so the untrained
  policy is the prior (z = noise) and training only has to learn a correction.
  """
  z_dim: int
  hidden: int = 256
  num_layers: int = 2

  @nn.compact
  def __call__(self, noise: Array, context: Array) -> Array:
    h = jnp.concatenate([noise, context], axis=-1)  # [N, Z + D]
    for _ in range(self.num_layers):
      h = nn.gelu(nn.Dense(self.hidden)(h))
    return noise + nn.Dense(self.z_dim, kernel_init=nn.initializers.zeros)(h)


class AmortizedState(NamedTuple):
  params: Any  # {"net": flax params, "log_std": [Z]}
  opt_state: Any
  count: Array  # [] int32


class AmortizedPolicy(NamedTuple):
  """An amortised latent policy.

  Attributes:
    init: (key, z_dim, context_dim) -> AmortizedState.
    train_step: (state, key, requests, objective_fn) -> (state, info), with
      requests a batched `Request` [R] and objective_fn(z [N, Z], request) ->
      [N] for one request.
    sample: (params, key, context [D], num, explore=False) -> z [num, Z]; with
      explore=False the exploration noise of the Gaussian head is left out.
    samples_per_request: latents drawn per request in one train step.
  """
  init: Callable[..., AmortizedState]
  train_step: Callable[..., Any]
  sample: Callable[..., Array]
  samples_per_request: int


def request_features(request: Request) -> Array:
  """The policy's view of a request: [want, avoid, cond] -> [2A + Ac]."""
  return jnp.concatenate([request.want, request.avoid, request.cond], axis=-1)


def amortized(*, hidden: int = 256, num_layers: int = 2,
              learning_rate: float = 1e-3, init_log_std: float = -1.0,
              kl_weight: float = 0.0, entropy_weight: float = 0.0,
              samples_per_request: int = 8) -> AmortizedPolicy:
  """Amortised policy pi(z | noise, request) = N(mu(noise, request), std^2).

  Trained by REINFORCE over many random requests with a per-request
  leave-one-out baseline and per-request reward normalisation (each request is
  its own group, so easy and hard requests weigh alike). Regularised towards
  the prior policy z = noise by kl_weight |mu - noise|^2 / 2, which is the KL
  between the two Gaussians of equal std.

  Args:
    hidden: MLP width.
    num_layers: hidden layers.
    learning_rate: Adam step size.
    init_log_std: initial log std of the Gaussian head.
    kl_weight: weight of the KL to the prior policy.
    entropy_weight: weight of the entropy bonus on log std.
    samples_per_request: latents per request per step (>= 2).

  Returns:
    The policy.
  """
  if samples_per_request < 2:
    raise ValueError("amortized: samples_per_request must be >= 2, got "
                     f"{samples_per_request}")
  opt = optax.adam(learning_rate)
  n = samples_per_request

  def init(key, z_dim, context_dim):
    net = AmortizedNet(z_dim, hidden, num_layers)
    variables = net.init(key, jnp.zeros((1, z_dim)), jnp.zeros((1, context_dim)))
    params = {"net": variables["params"],
              "log_std": jnp.full((z_dim,), init_log_std, jnp.float32)}
    return AmortizedState(params, opt.init(params), jnp.zeros((), jnp.int32))

  def mean_fn(params, noise, context):
    net = AmortizedNet(noise.shape[-1], hidden, num_layers)
    ctx = jnp.broadcast_to(context, noise.shape[:-1] + context.shape[-1:])
    return net.apply({"params": params["net"]}, noise, ctx)

  def sample(params, key, context, num, explore=False):
    z_dim = params["log_std"].shape[0]
    k_noise, k_explore = jax.random.split(key)
    noise = jax.random.normal(k_noise, (num, z_dim))
    mu = mean_fn(params, noise, context)
    if explore:
      mu = mu + jnp.exp(params["log_std"]) * jax.random.normal(k_explore,
                                                               mu.shape)
    return mu

  def train_step(state, key, requests, objective_fn):
    params = state.params
    num_requests = requests.want.shape[0]
    z_dim = params["log_std"].shape[0]
    k_noise, k_explore = jax.random.split(key)
    noise = jax.random.normal(k_noise, (num_requests, n, z_dim))
    xi = jax.random.normal(k_explore, (num_requests, n, z_dim))
    contexts = jax.vmap(request_features)(requests)  # [R, D]
    mu = jax.vmap(mean_fn, in_axes=(None, 0, 0))(params, noise, contexts)
    z = mu + jnp.exp(params["log_std"]) * xi  # [R, n, Z]
    r = jax.vmap(objective_fn)(z, requests).astype(jnp.float32)  # [R, n]
    adv = r - jax.vmap(_leave_one_out)(r)
    adv = adv / (jnp.std(r, axis=1, keepdims=True) + 1e-8)

    def loss_fn(params):
      mu = jax.vmap(mean_fn, in_axes=(None, 0, 0))(params, noise, contexts)
      log_std = params["log_std"]
      logp = jnp.sum(-0.5 * jnp.square((z - mu) / jnp.exp(log_std)) - log_std,
                     axis=-1)  # [R, n]
      kl = 0.5 * jnp.sum(jnp.square(mu - noise), axis=-1)  # [R, n]
      return (-jnp.mean(adv * logp) + kl_weight * jnp.mean(kl) -
              entropy_weight * jnp.sum(log_std))

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = opt.update(grads, state.opt_state, params)
    new_state = AmortizedState(optax.apply_updates(params, updates), opt_state,
                               state.count + 1)
    return new_state, {"loss": loss, "reward_mean": jnp.mean(r),
                       "std_mean": jnp.mean(jnp.exp(params["log_std"]))}

  return AmortizedPolicy(init, train_step, sample, samples_per_request)


def train_amortized(policy: AmortizedPolicy, key: Array, *, z_dim: int,
                    context_dim: int,
                    sample_requests: Callable[[Array], Request],
                    objective_fn: Callable[[Array, Request], Array],
                    steps: int) -> tuple[AmortizedState, dict]:
  """Trains an amortised policy on random requests; one jit, one `lax.scan`.

  Args:
    policy: from `amortized`.
    key: PRNG key.
    z_dim: latent size.
    context_dim: size of `request_features`.
    sample_requests: key -> batched Request [R] (random training requests).
    objective_fn: (z [N, Z], request) -> [N].
    steps: training steps.

  Returns:
    (final state, info dict of [steps] arrays).
  """
  k_init, k_train = jax.random.split(key)

  @jax.jit
  def run(k_init, k_train):
    state = policy.init(k_init, z_dim, context_dim)

    def body(state, key):
      k_req, k_step = jax.random.split(key)
      return policy.train_step(state, k_step, sample_requests(k_req),
                               objective_fn)

    return jax.lax.scan(body, state, jax.random.split(k_train, steps))

  return run(k_init, k_train)


class AmortizedUseState(NamedTuple):
  context: Array  # [D]
  best: Best


def amortized_refiner(policy: AmortizedPolicy, params: Any, *,
                      population: int = 32) -> Refiner:
  """Use-time refiner of a trained amortised policy: best of its draws.

  Args:
    policy: from `amortized`.
    params: trained `AmortizedState.params`.
    population: draws (generator evaluations) per step.

  Returns:
    The refiner; its `init` needs the request's `request_features`.
  """

  def init(key, z_dim, context=None):
    del key
    if context is None:
      raise ValueError("amortized refiner needs the request's features")
    return AmortizedUseState(context, _init_best(z_dim))

  def step(state, key, objective):
    z = policy.sample(params, key, state.context, population)
    r = objective(z).astype(jnp.float32)
    return (AmortizedUseState(state.context, _track(state.best, z, r)),
            {"reward_mean": jnp.mean(r), "reward_max": jnp.max(r)})

  return Refiner(init, step, population)


# ---------------------------------------------------------------- runner


class RefineResult(NamedTuple):
  """What refining one request returns (a leading [R] axis under vmap).

  Attributes:
    z: [Z] best latent found.
    reward: [] its reward.
    curve: [T] best reward after each step.
    z_curve: [T, Z] best latent after each step.
    evals: [] int32 generator evaluations spent.
    info: dict of [T] per-step diagnostics of the refiner.
  """
  z: Array
  reward: Array
  curve: Array
  z_curve: Array
  evals: Array
  info: Mapping[str, Array]


def num_steps(refiner: Refiner, budget: int) -> int:
  """Steps that fit in `budget` generator evaluations (ValueError if none)."""
  steps = int(budget) // refiner.evals_per_step
  if steps < 1:
    raise ValueError(
        f"budget {budget} is below one step ({refiner.evals_per_step} "
        f"generator evaluations); raise the budget to at least "
        f"{refiner.evals_per_step}")
  return steps


def refine(refiner: Refiner, key: Array, objective: Objective, *, z_dim: int,
           budget: int, context: Optional[Array] = None
           ) -> tuple[RefineResult, Any]:
  """Runs a refiner on one objective for `budget` evaluations in a `lax.scan`.

  Args:
    refiner: e.g. `reinforce(...)`.
    key: PRNG key.
    objective: z [N, Z] -> reward [N].
    z_dim: latent size Z.
    budget: generator evaluations (rounded down to whole steps).
    context: [D] request features (for the amortised refiner).

  Returns:
    (result, final refiner state).
  """
  steps = num_steps(refiner, budget)
  k_init, k_steps = jax.random.split(key)
  state = refiner.init(k_init, z_dim, context)

  def body(state, key):
    state, info = refiner.step(state, key, objective)
    return state, (state.best.reward, state.best.z, info)

  state, (curve, z_curve, info) = jax.lax.scan(
      body, state, jax.random.split(k_steps, steps))
  result = RefineResult(state.best.z, state.best.reward, curve, z_curve,
                        jnp.int32(steps * refiner.evals_per_step), info)
  return result, state


def latent_objective(generate_fn: Callable[[Array, Optional[Array]], Array],
                     reward_fn: rl_rewards.RewardFn,
                     request: Request) -> Objective:
  """The reward of latents for one request: z [N, Z] -> [N].

  Args:
    generate_fn: (z [N, Z], attrs [N, Ac] or None) -> images [N, H, W, C].
    reward_fn: (images, z, request) -> [N], e.g. `rl_rewards.combine(...)`.
    request: one request.

  Returns:
    The objective.
  """

  def objective(z):
    images = generate_fn(z, rl_rewards.cond_batch(request, z.shape[0]))
    return reward_fn(images, z, request)

  return objective


def make_refine_fn(refiner: Refiner, *,
                   generate_fn: Callable[[Array, Optional[Array]], Array],
                   reward_fn: rl_rewards.RewardFn, z_dim: int, budget: int,
                   chunk_size: Optional[int] = None
                   ) -> Callable[[Array, Request], RefineResult]:
  """Refinement of a batch of requests: (keys [R], requests [R]) -> result [R].

  Not jitted, so callers can wrap it (e.g. `chex.assert_max_traces`) first.

  Args:
    refiner: the method.
    generate_fn: (z, attrs) -> images.
    reward_fn: (images, z, request) -> [N].
    z_dim: latent size.
    budget: generator evaluations per request.
    chunk_size: None vmaps over all requests at once; an int runs chunks of
      that many requests one after another (`lax.map`), bounding memory
      (R * population images live at once otherwise).

  Returns:
    The batched function.
  """
  num_steps(refiner, budget)  # fail early on a too-small budget

  def refine_one(key, request):
    objective = latent_objective(generate_fn, reward_fn, request)
    result, _ = refine(refiner, key, objective, z_dim=z_dim, budget=budget,
                       context=request_features(request))
    return result

  if chunk_size is None:
    return jax.vmap(refine_one)
  return lambda keys, requests: jax.lax.map(
      lambda a: refine_one(*a), (keys, requests), batch_size=chunk_size)


def shard_requests(mesh: jax.sharding.Mesh, *trees: Any) -> Any:
  """Places pytrees with a leading request axis sharded along mesh "data"."""
  size = mesh.shape["data"]
  for leaf in jax.tree.leaves(trees):
    if leaf.shape[0] % size:
      raise ValueError(f"{leaf.shape[0]} requests do not split over the mesh's "
                       f"'data' axis of size {size}; use a multiple of {size}")
  # The refine loop is written for automatic (GSPMD) partitioning; an
  # explicit-axes mesh (jax.make_mesh's default) is re-made with Auto axes.
  auto = jax.sharding.Mesh(mesh.devices, mesh.axis_names,
                           axis_types=(AxisType.Auto,) * len(mesh.axis_names))
  return jax.device_put(trees, NamedSharding(auto, PartitionSpec("data")))


def refine_requests(refiner: Refiner, keys: Array, requests: Request, *,
                    generate_fn: Callable[[Array, Optional[Array]], Array],
                    reward_fn: rl_rewards.RewardFn, z_dim: int, budget: int,
                    mesh: Optional[jax.sharding.Mesh] = None,
                    chunk_size: Optional[int] = None) -> RefineResult:
  """Refines many requests in one jit (vmap inside, scan per request).

  Args:
    refiner: the method.
    keys: [R] PRNG keys, one per request.
    requests: batched Request [R].
    generate_fn: (z, attrs) -> images.
    reward_fn: (images, z, request) -> [N].
    z_dim: latent size.
    budget: generator evaluations per request.
    mesh: optional mesh with a "data" axis (e.g. vid_jax.sharding.make_mesh());
      requests are sharded along it, everything else is replicated.
    chunk_size: see `make_refine_fn`.

  Returns:
    Batched RefineResult [R].
  """
  fn = jax.jit(make_refine_fn(refiner, generate_fn=generate_fn,
                              reward_fn=reward_fn, z_dim=z_dim, budget=budget,
                              chunk_size=chunk_size))
  if mesh is not None:
    keys, requests = shard_requests(mesh, keys, requests)
  return fn(keys, requests)


# ------------------------------------------------------ config boundary


def _cfg_err(field: str, value: Any, fix: str) -> UserError:
  return UserError(f"config.refiners.rl.{field}={value!r}: {fix}")


def validate_config(cfg: ml_collections.ConfigDict) -> None:
  """Checks a `refiners.rl` section once, before anything compiles.

  Raises:
    UserError: naming the bad field and how to fix it.
  """
  known = set(default_config().weights)
  for name, w in cfg.weights.items():
    if name not in known:
      raise _cfg_err(f"weights.{name}", w, f"unknown term; use {sorted(known)}")
    if w < 0:
      raise _cfg_err(f"weights.{name}", w, "weights must be >= 0")
  if cfg.realism_kind not in ("log_sigmoid", "logit"):
    raise _cfg_err("realism_kind", cfg.realism_kind, "use log_sigmoid or logit")
  if cfg.budget < 1:
    raise _cfg_err("budget", cfg.budget, "must be >= 1")
  if cfg.population < 2 or cfg.population % 2:
    raise _cfg_err("population", cfg.population, "must be even and >= 2")
  if cfg.bank_size < 0:
    raise _cfg_err("bank_size", cfg.bank_size, "must be >= 0")
  if cfg.reinforce.baseline not in ("loo", "ema", "none"):
    raise _cfg_err("reinforce.baseline", cfg.reinforce.baseline,
                   "use loo, ema or none")
  if cfg.reinforce.min_log_std > cfg.reinforce.max_log_std:
    raise _cfg_err("reinforce.min_log_std", cfg.reinforce.min_log_std,
                   "must be <= reinforce.max_log_std")
  if cfg.es.sigma <= 0:
    raise _cfg_err("es.sigma", cfg.es.sigma, "must be > 0")
  if cfg.gradient.chains < 1:
    raise _cfg_err("gradient.chains", cfg.gradient.chains, "must be >= 1")
  a = cfg.amortized
  for field in ("hidden", "train_steps", "requests_per_step"):
    if a[field] < 1:
      raise _cfg_err(f"amortized.{field}", a[field], "must be >= 1")
  if a.samples_per_request < 2:
    raise _cfg_err("amortized.samples_per_request", a.samples_per_request,
                   "must be >= 2")


def merged_config(section: Optional[Mapping[str, Any]]
                  ) -> ml_collections.ConfigDict:
  """`default_config()` overridden by a run's `refiners.rl` (may be absent)."""
  cfg = default_config()

  def merge(dst, src, prefix):
    for k, v in src.items():
      if k not in dst:
        raise _cfg_err(prefix + k, v, "unknown field")
      if isinstance(dst[k], ml_collections.ConfigDict):
        merge(dst[k], v, prefix + k + ".")
      else:
        dst[k] = v

  if section is not None:
    merge(cfg, section, "")
  return cfg


def make_refiner(method: str, cfg: ml_collections.ConfigDict, *,
                 amortized_model: Optional[tuple[AmortizedPolicy, Any]] = None
                 ) -> Refiner:
  """The refiner for `method` with hparams from a `refiners.rl` section.

  Args:
    method: one of METHODS.
    cfg: the section.
    amortized_model: (policy, trained params), needed for "amortized".

  Returns:
    The refiner.
  """
  if method == "reinforce":
    return reinforce(population=cfg.population, **cfg.reinforce)
  if method == "es":
    return evolution_strategies(population=cfg.population, **cfg.es)
  if method == "best_of_n":
    return best_of_n(population=cfg.population)
  if method == "gradient":
    return gradient_ascent(**cfg.gradient)
  if method == "amortized":
    if amortized_model is None:
      raise ValueError("method 'amortized' needs a trained policy "
                       "(train_amortized)")
    policy, params = amortized_model
    return amortized_refiner(policy, params, population=cfg.population)
  raise UserError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")


def amortized_from_config(cfg: ml_collections.ConfigDict) -> AmortizedPolicy:
  """The amortised policy with hparams from a `refiners.rl` section."""
  a = cfg.amortized
  return amortized(hidden=a.hidden, num_layers=a.num_layers,
                   learning_rate=a.learning_rate, init_log_std=a.init_log_std,
                   kl_weight=a.kl_weight, entropy_weight=a.entropy_weight,
                   samples_per_request=a.samples_per_request)


# --------------------------------------------------------------- compare


def make_evaluator(task: Task) -> Callable[[Array, Request], dict]:
  """A jitted `evaluate_latents` for `task` (build once, call many times)."""

  @jax.jit
  @jax.vmap
  def one(z, request):  # z [M, Z]
    images = task.generate_fn(z, rl_rewards.cond_batch(request, z.shape[0]))
    total, terms = task.terms_fn(images, z, request)
    hits = None if task.hit_fn is None else task.hit_fn(images, request)
    return {"reward": total, "terms": terms, "hits": hits, "images": images}

  def evaluate(z, requests):
    squeeze = z.ndim == 2
    out = jax.device_get(one(z[:, None] if squeeze else z, requests))
    return jax.tree.map(lambda x: x[:, 0], out) if squeeze else out

  return evaluate


def evaluate_latents(task: Task, z: Array, requests: Request
                     ) -> dict[str, Any]:
  """Rewards, terms, hits and images of latents for each request.

  Args:
    task: from `rl_rewards.model_task`.
    z: [R, Z] (or [R, M, Z] for M latents per request).
    requests: batched Request [R].

  Returns:
    {"reward": [R(, M)], "terms": {name: [R(, M)]}, "hits": [R(, M)] bool or
    None, "images": [R(, M), H, W, 3]} as numpy.
  """
  return make_evaluator(task)(z, requests)


def _checkpoints(steps: int) -> list[int]:
  """Step indices at 1/8, 1/4, 1/2 and all of the budget (distinct, >= 0)."""
  return sorted({max(int(round(steps * f)) - 1, 0)
                 for f in (0.125, 0.25, 0.5, 1.0)})


def compare_methods(task: Task, requests: Request, key: Array, *,
                    cfg: ml_collections.ConfigDict, budget: int,
                    methods: Sequence[str] = METHODS,
                    mesh: Optional[jax.sharding.Mesh] = None,
                    one_shot_samples: int = 16) -> dict[str, Any]:
  """Runs each method on the same requests and keys at the same budget.

  Args:
    task: from `rl_rewards.model_task`.
    requests: batched Request [R].
    key: PRNG key (the same per-request keys serve every method).
    cfg: a `refiners.rl` section.
    budget: generator evaluations per request.
    methods: subset of METHODS.
    mesh: optional mesh; requests are sharded along its "data" axis.
    one_shot_samples: draws per request for the one-shot prior vs amortised
      comparison (only when "amortized" runs).

  Returns:
    {"methods": {name: {"mean_reward", "attr_hit_rate", "evals", "curve":
    [{"evals", "mean_reward", "attr_hit_rate"}...], "terms": {name: mean},
    "z": [R, Z], "images": [R, H, W, 3], ("train_evals")}}, ("one_shot":
    {"prior": {...}, "amortized": {...}})}; numpy / Python values.
  """
  num = requests.want.shape[0]
  k_req, k_train, k_shot = jax.random.split(key, 3)
  keys = jax.random.split(k_req, num)
  out = {"methods": {}}
  amortized_model = None
  train_evals = 0
  if "amortized" in methods:
    policy = amortized_from_config(cfg)
    a = cfg.amortized
    state, _ = train_amortized(
        policy, k_train, z_dim=task.z_dim,
        context_dim=request_features(jax.tree.map(lambda x: x[0],
                                                  requests)).shape[0],
        sample_requests=lambda k: task.sample_requests(k, a.requests_per_step),
        objective_fn=lambda z, r: latent_objective(task.generate_fn,
                                                   task.reward_fn, r)(z),
        steps=a.train_steps)
    amortized_model = (policy, state.params)
    train_evals = a.train_steps * a.requests_per_step * a.samples_per_request
  hit_rate = lambda h: None if h is None else float(np.mean(h))
  evaluate = make_evaluator(task)
  for method in methods:
    refiner = make_refiner(method, cfg, amortized_model=amortized_model)
    result = refine_requests(refiner, keys, requests,
                             generate_fn=task.generate_fn,
                             reward_fn=task.reward_fn, z_dim=task.z_dim,
                             budget=budget, mesh=mesh)
    result = jax.device_get(result)
    steps = result.curve.shape[1]
    final = evaluate(jnp.asarray(result.z), requests)
    curve = []
    for t in _checkpoints(steps):
      hits = (final["hits"] if t == steps - 1 else
              evaluate(jnp.asarray(result.z_curve[:, t]), requests)["hits"])
      curve.append({"evals": (t + 1) * refiner.evals_per_step,
                    "mean_reward": float(np.mean(result.curve[:, t])),
                    "attr_hit_rate": hit_rate(hits)})
    report = {"mean_reward": float(np.mean(result.reward)),
              "attr_hit_rate": hit_rate(final["hits"]),
              "evals": int(result.evals[0]), "curve": curve,
              "terms": {k: float(np.mean(v)) for k, v in final["terms"].items()},
              "z": np.asarray(result.z), "images": final["images"]}
    if method == "amortized":
      report["train_evals"] = train_evals
    out["methods"][method] = report
  if amortized_model is not None:
    policy, params = amortized_model
    ks = jax.random.split(k_shot, num)
    prior_z = jax.vmap(lambda k: jax.random.normal(
        k, (one_shot_samples, task.z_dim)))(ks)
    amort_z = jax.jit(jax.vmap(lambda k, r: policy.sample(
        params, k, request_features(r), one_shot_samples)))(ks, requests)
    out["one_shot"] = {}
    for name, z in (("prior", prior_z), ("amortized", amort_z)):
      ev = evaluate(z, requests)
      out["one_shot"][name] = {"mean_reward": float(np.mean(ev["reward"])),
                               "attr_hit_rate": hit_rate(ev["hits"]),
                               "samples": int(num * one_shot_samples)}
  return out

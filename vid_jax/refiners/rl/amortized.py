"""The amortised latent policy: one network for every request instead of a search per request.

An MLP (noise, request features) -> z is trained by REINFORCE over many random requests
(`train_amortized`); at use time it draws latents in one forward pass (`amortized_refiner`, the
best of its draws, a `Refiner` like the per-request methods).
"""
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from vid_jax.refiners.rl.base import Array, Best, Refiner, init_best, leave_one_out, track_best
from vid_jax.refiners.rl.rewards import Request


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


def amortized(*, hidden: int = 256, num_layers: int = 2, learning_rate: float = 1e-3,
              init_log_std: float = -1.0, kl_weight: float = 0.0, entropy_weight: float = 0.0,
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
    params = {"net": variables["params"], "log_std": jnp.full((z_dim,), init_log_std, jnp.float32)}
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
      mu = mu + jnp.exp(params["log_std"]) * jax.random.normal(k_explore, mu.shape)
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
    adv = r - jax.vmap(leave_one_out)(r)
    adv = adv / (jnp.std(r, axis=1, keepdims=True) + 1e-8)

    def loss_fn(params):
      mu = jax.vmap(mean_fn, in_axes=(None, 0, 0))(params, noise, contexts)
      log_std = params["log_std"]
      logp = jnp.sum(-0.5 * jnp.square((z - mu) / jnp.exp(log_std)) - log_std, axis=-1)  # [R, n]
      kl = 0.5 * jnp.sum(jnp.square(mu - noise), axis=-1)  # [R, n]
      return (-jnp.mean(adv * logp) + kl_weight * jnp.mean(kl) - entropy_weight * jnp.sum(log_std))

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = opt.update(grads, state.opt_state, params)
    new_state = AmortizedState(optax.apply_updates(params, updates), opt_state, state.count + 1)
    return new_state, {
        "loss": loss,
        "reward_mean": jnp.mean(r),
        "std_mean": jnp.mean(jnp.exp(params["log_std"]))
    }

  return AmortizedPolicy(init, train_step, sample, samples_per_request)


def train_amortized(policy: AmortizedPolicy, key: Array, *, z_dim: int, context_dim: int,
                    sample_requests: Callable[[Array], Request], objective_fn: Callable[[Array, Request],
                                                                                        Array],
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
      return policy.train_step(state, k_step, sample_requests(k_req), objective_fn)

    return jax.lax.scan(body, state, jax.random.split(k_train, steps))

  return run(k_init, k_train)


class AmortizedUseState(NamedTuple):
  context: Array  # [D]
  best: Best


def amortized_refiner(policy: AmortizedPolicy, params: Any, *, population: int = 32) -> Refiner:
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
    return AmortizedUseState(context, init_best(z_dim))

  def step(state, key, objective):
    z = policy.sample(params, key, state.context, population)
    r = objective(z).astype(jnp.float32)
    return (AmortizedUseState(state.context, track_best(state.best, z, r)), {
        "reward_mean": jnp.mean(r),
        "reward_max": jnp.max(r)
    })

  return Refiner(init, step, population)

"""Runs refiners: one request in a `lax.scan`, many under `vmap`, sharded over a mesh's "data" axis.

Everything is a pure JAX program in the purejaxrl style: rollout (sample latents, generate),
reward and policy update are one `lax.scan` step; many requests run at once under `vmap`.
"""
from typing import Any, Callable, Mapping, NamedTuple, Optional

import jax
from jax.sharding import AxisType, NamedSharding, PartitionSpec
import jax.numpy as jnp

from vid_jax.refiners.rl import rewards
from vid_jax.refiners.rl.amortized import request_features
from vid_jax.refiners.rl.base import Array, Objective, Refiner
from vid_jax.refiners.rl.rewards import Request


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
    raise ValueError(f"budget {budget} is below one step ({refiner.evals_per_step} "
                     f"generator evaluations); raise the budget to at least "
                     f"{refiner.evals_per_step}")
  return steps


def refine(refiner: Refiner, key: Array, objective: Objective, *, z_dim: int, budget: int,
           context: Optional[Array] = None) -> tuple[RefineResult, Any]:
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

  state, (curve, z_curve, info) = jax.lax.scan(body, state, jax.random.split(k_steps, steps))
  result = RefineResult(state.best.z, state.best.reward, curve, z_curve,
                        jnp.int32(steps * refiner.evals_per_step), info)
  return result, state


def latent_objective(generate_fn: Callable[[Array, Optional[Array]], Array], reward_fn: rewards.RewardFn,
                     request: Request) -> Objective:
  """The reward of latents for one request: z [N, Z] -> [N].

  Args:
    generate_fn: (z [N, Z], attrs [N, Ac] or None) -> images [N, H, W, C].
    reward_fn: (images, z, request) -> [N], e.g. `rewards.combine(...)`.
    request: one request.

  Returns:
    The objective.
  """

  def objective(z):
    images = generate_fn(z, rewards.cond_batch(request, z.shape[0]))
    return reward_fn(images, z, request)

  return objective


def make_refine_fn(refiner: Refiner, *, generate_fn: Callable[[Array, Optional[Array]],
                                                              Array], reward_fn: rewards.RewardFn, z_dim: int,
                   budget: int, chunk_size: Optional[int] = None) -> Callable[[Array, Request], RefineResult]:
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
    result, _ = refine(refiner, key, objective, z_dim=z_dim, budget=budget, context=request_features(request))
    return result

  if chunk_size is None:
    return jax.vmap(refine_one)
  return lambda keys, requests: jax.lax.map(lambda a: refine_one(*a), (keys, requests), batch_size=chunk_size)


def shard_requests(mesh: jax.sharding.Mesh, *trees: Any) -> Any:
  """Places pytrees with a leading request axis sharded along mesh "data"."""
  size = mesh.shape["data"]
  for leaf in jax.tree.leaves(trees):
    if leaf.shape[0] % size:
      raise ValueError(f"{leaf.shape[0]} requests do not split over the mesh's "
                       f"'data' axis of size {size}; use a multiple of {size}")
  # The refine loop is written for automatic (GSPMD) partitioning; an
  # explicit-axes mesh (jax.make_mesh's default) is re-made with Auto axes.
  auto = jax.sharding.Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))
  return jax.device_put(trees, NamedSharding(auto, PartitionSpec("data")))


def refine_requests(refiner: Refiner, keys: Array, requests: Request, *,
                    generate_fn: Callable[[Array, Optional[Array]], Array], reward_fn: rewards.RewardFn,
                    z_dim: int, budget: int, mesh: Optional[jax.sharding.Mesh] = None,
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
  fn = jax.jit(
      make_refine_fn(refiner, generate_fn=generate_fn, reward_fn=reward_fn, z_dim=z_dim, budget=budget,
                     chunk_size=chunk_size))
  if mesh is not None:
    keys, requests = shard_requests(mesh, keys, requests)
  return fn(keys, requests)

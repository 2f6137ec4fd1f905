"""The comparison harness of latent refiners: every method on the same requests, keys and budget.

An experiment, not the method (vid_jax/refiners/rl): tools/refine.py runs it, for one method or,
with --compare, for all of them, and prints its table.
"""
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vid_jax.refiners import rl
from vid_jax.refiners.rl import Request, Task

Array = jax.Array


def make_evaluator(task: Task) -> Callable[[Array, Request], dict]:
  """A jitted `evaluate_latents` for `task` (build once, call many times)."""

  @jax.jit
  @jax.vmap
  def one(z, request):  # z [M, Z]
    images = task.generate_fn(z, rl.cond_batch(request, z.shape[0]))
    total, terms = task.terms_fn(images, z, request)
    hits = None if task.hit_fn is None else task.hit_fn(images, request)
    return {"reward": total, "terms": terms, "hits": hits, "images": images}

  def evaluate(z, requests):
    squeeze = z.ndim == 2
    out = jax.device_get(one(z[:, None] if squeeze else z, requests))
    return jax.tree.map(lambda x: x[:, 0], out) if squeeze else out

  return evaluate


def evaluate_latents(task: Task, z: Array, requests: Request) -> dict[str, Any]:
  """Rewards, terms, hits and images of latents for each request.

  Args:
    task: from `rl.model_task`.
    z: [R, Z] (or [R, M, Z] for M latents per request).
    requests: batched Request [R].

  Returns:
    {"reward": [R(, M)], "terms": {name: [R(, M)]}, "hits": [R(, M)] bool or
    None, "images": [R(, M), H, W, 3]} as numpy.
  """
  return make_evaluator(task)(z, requests)


def checkpoints(steps: int) -> list[int]:
  """Step indices at 1/8, 1/4, 1/2 and all of the budget (distinct, >= 0)."""
  return sorted({max(int(round(steps * f)) - 1, 0) for f in (0.125, 0.25, 0.5, 1.0)})


def compare_methods(task: Task, requests: Request, key: Array, *, cfg: ml_collections.ConfigDict, budget: int,
                    methods: Sequence[str] = rl.METHODS, mesh: Optional[jax.sharding.Mesh] = None,
                    one_shot_samples: int = 16) -> dict[str, Any]:
  """Runs each method on the same requests and keys at the same budget.

  Args:
    task: from `rl.model_task`.
    requests: batched Request [R].
    key: PRNG key (the same per-request keys serve every method).
    cfg: the refine config (configs/refine_avatars.py).
    budget: generator evaluations per request.
    methods: subset of rl.METHODS.
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
    policy = rl.amortized_from_config(cfg)
    a = cfg.amortized
    state, _ = rl.train_amortized(
        policy, k_train, z_dim=task.z_dim,
        context_dim=rl.request_features(jax.tree.map(lambda x: x[0], requests)).shape[0],
        sample_requests=lambda k: task.sample_requests(k, a.requests_per_step),
        objective_fn=lambda z, r: rl.latent_objective(task.generate_fn, task.reward_fn, r)(z),
        steps=a.train_steps)
    amortized_model = (policy, state.params)
    train_evals = a.train_steps * a.requests_per_step * a.samples_per_request
  hit_rate = lambda h: None if h is None else float(np.mean(h))
  evaluate = make_evaluator(task)
  for method in methods:
    refiner = rl.make_refiner(method, cfg, amortized_model=amortized_model)
    result = rl.refine_requests(refiner, keys, requests, generate_fn=task.generate_fn,
                                reward_fn=task.reward_fn, z_dim=task.z_dim, budget=budget, mesh=mesh)
    result = jax.device_get(result)
    steps = result.curve.shape[1]
    final = evaluate(jnp.asarray(result.z), requests)
    curve = []
    for t in checkpoints(steps):
      hits = (final["hits"] if t == steps - 1 else evaluate(jnp.asarray(result.z_curve[:,
                                                                                       t]), requests)["hits"])
      curve.append({
          "evals": (t + 1) * refiner.evals_per_step,
          "mean_reward": float(np.mean(result.curve[:, t])),
          "attr_hit_rate": hit_rate(hits)
      })
    report = {
        "mean_reward": float(np.mean(result.reward)),
        "attr_hit_rate": hit_rate(final["hits"]),
        "evals": int(result.evals[0]),
        "curve": curve,
        "terms": {
            k: float(np.mean(v)) for k, v in final["terms"].items()
        },
        "z": np.asarray(result.z),
        "images": final["images"]
    }
    if method == "amortized":
      report["train_evals"] = train_evals
    out["methods"][method] = report
  if amortized_model is not None:
    policy, params = amortized_model
    ks = jax.random.split(k_shot, num)
    prior_z = jax.vmap(lambda k: jax.random.normal(k, (one_shot_samples, task.z_dim)))(ks)
    amort_z = jax.jit(
        jax.vmap(lambda k, r: policy.sample(params, k, rl.request_features(r), one_shot_samples)))(ks,
                                                                                                   requests)
    out["one_shot"] = {}
    for name, z in (("prior", prior_z), ("amortized", amort_z)):
      ev = evaluate(z, requests)
      out["one_shot"][name] = {
          "mean_reward": float(np.mean(ev["reward"])),
          "attr_hit_rate": hit_rate(ev["hits"]),
          "samples": int(num * one_shot_samples)
      }
  return out

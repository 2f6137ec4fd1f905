r"""Times vmapped RL refinement of many requests against a Python loop over them.

  python tools/bench/rl.py                      # 256 requests, tiny MLP G
  python tools/bench/rl.py --generator=dcgan    # random-init 32x32 DCGAN G/D

Both sides do the same per-request work: the same jitted REINFORCE loop
(`lax.scan` over steps, population latents per step), the same keys. The
vmapped side refines all requests in one dispatch; the loop side calls the
single-request program once per request (compiled once, excluded from the
timing, like the vmapped compile): `ratio` = loop_s / vmap_s. A second
baseline, `loop_steps_s`, is the naive port that also loops over policy steps
in Python (one jitted dispatch per step). Loops are timed on --loop_subset
requests and scaled to the full count when the subset is smaller (the JSON
says so). Prints one JSON line.
"""
import json
import time

from absl import app
from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.errors import UserError
from vid_jax.models import Discriminator, Generator
from vid_jax.refiners import rl

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_requests", 256, "Requests refined at once.")
flags.DEFINE_integer("loop_subset", 64, "Requests timed in the Python loop (scaled to all).")
flags.DEFINE_integer("budget", 64, "Generator evaluations per request.")
flags.DEFINE_integer("population", 16, "Latents per REINFORCE step.")
flags.DEFINE_integer("z_dim", 32, "Latent size.")
flags.DEFINE_enum(
    "generator", "mlp", ["mlp", "dcgan"], "mlp: 2-layer MLP to 16x16x3; dcgan: random-init 32x32 "
    "vid_jax Generator/Discriminator of width 8.")
flags.DEFINE_integer("chunk_size", None, "Refine requests in chunks of this size (lax.map); "
                     "default: one vmap over all.")
flags.DEFINE_integer("repeats", 3, "Timed repeats of the vmapped call (best).")
flags.DEFINE_integer("seed", 0, "PRNG seed.")


class _MLPGenerator(nn.Module):
  """z [N, Z] -> images [N, 16, 16, 3]: a stand-in for a small generator."""

  @nn.compact
  def __call__(self, z):
    h = nn.gelu(nn.Dense(128)(z))
    return nn.tanh(nn.Dense(16 * 16 * 3)(h)).reshape(z.shape[0], 16, 16, 3)


def _models(kind, z_dim, key):
  """(generate_fn, d_logits_fn, features_fn) of random-init models."""
  kg, kd = jax.random.split(key)
  if kind == "mlp":
    g = _MLPGenerator()
    g_vars = g.init(kg, jnp.zeros((1, z_dim)))
    w = jax.random.normal(kd, (16 * 16 * 3, 17)) / 28.0
    flat = lambda x: x.reshape(x.shape[0], -1) @ w  # [N, 17]
    return (lambda z, attrs=None: g.apply(g_vars, z), lambda x, attrs=None: flat(x)[:, 0],
            lambda x: flat(x)[:, 1:])
  g = Generator(resolution=32, z_dim=z_dim, width=8)
  d = Discriminator(resolution=32, width=8)
  g_vars = g.init(kg, jnp.zeros((2, z_dim)), train=False)
  d_vars = d.init(kd, jnp.zeros((2, 32, 32, 3)), train=False)

  def features(x):
    _, feats = d.apply(d_vars, x, train=False, return_features=True)
    return jnp.mean(feats[-1], axis=(1, 2))

  return (lambda z, attrs=None: g.apply(g_vars, z, train=False),
          lambda x, attrs=None: d.apply(d_vars, x, train=False), features)


def run():
  """Runs the benchmark; returns the JSON-able result."""
  n, subset = FLAGS.num_requests, min(FLAGS.loop_subset, FLAGS.num_requests)
  if n < 1 or subset < 1:
    raise UserError("--num_requests and --loop_subset must be >= 1")
  key = jax.random.key(FLAGS.seed)
  k_models, k_bank, k_req, k_run = jax.random.split(key, 4)
  generate, d_logits, features = _models(FLAGS.generator, FLAGS.z_dim, k_models)
  reward = rl.combine(
      {
          "realism": rl.realism(d_logits),
          "uniqueness": rl.uniqueness(features),
          "prior": rl.prior
      }, {
          "realism": 1.0,
          "uniqueness": 1.0,
          "prior": 0.1
      })
  bank = jax.jit(lambda z: features(generate(z)))(jax.random.normal(k_bank, (16, FLAGS.z_dim)))
  one = rl.make_request(want=jnp.zeros((1,)), bank=bank)
  requests = jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), one)
  keys = jax.random.split(k_run, n)
  refiner = rl.reinforce(population=FLAGS.population)
  try:
    rl.num_steps(refiner, FLAGS.budget)
  except ValueError as e:
    raise UserError(f"--budget={FLAGS.budget}: {e}") from e

  batched = jax.jit(
      rl.make_refine_fn(refiner, generate_fn=generate, reward_fn=reward, z_dim=FLAGS.z_dim,
                        budget=FLAGS.budget, chunk_size=FLAGS.chunk_size))
  single = jax.jit(lambda k, req: rl.refine(refiner, k, rl.latent_objective(generate, reward, req), z_dim=
                                            FLAGS.z_dim, budget=FLAGS.budget)[0])

  t = time.perf_counter()
  jax.block_until_ready(batched(keys, requests))
  compile_vmap = time.perf_counter() - t
  vmap_times = []
  for _ in range(FLAGS.repeats):
    t = time.perf_counter()
    out = jax.block_until_ready(batched(keys, requests))
    vmap_times.append(time.perf_counter() - t)
  vmap_s = min(vmap_times)

  # Requests are sliced before timing so the loop times only the refinement.
  per_request = [jax.tree.map(lambda x, i=i: x[i], requests) for i in range(subset)]
  jax.block_until_ready(single(keys[0], per_request[0]))  # compile
  t = time.perf_counter()
  loop_out = [single(keys[i], per_request[i]) for i in range(subset)]
  jax.block_until_ready(loop_out)
  loop_subset_s = time.perf_counter() - t
  loop_s = loop_subset_s * n / subset

  # The naive port: a Python loop over requests *and* over policy steps, each
  # step one jitted dispatch (same keys and work as `rl.refine`).
  steps = rl.num_steps(refiner, FLAGS.budget)
  init = jax.jit(lambda k: refiner.init(k, FLAGS.z_dim, None))
  step = jax.jit(lambda state, k, req: refiner.step(state, k, rl.latent_objective(generate, reward, req))[0])

  def naive(key, req):
    k_init, k_steps = jax.random.split(key)
    state = init(k_init)
    for k in jax.random.split(k_steps, steps):
      state = step(state, k, req)
    return state.best

  jax.block_until_ready(naive(keys[0], per_request[0]))  # compile
  t = time.perf_counter()
  naive_out = [naive(keys[i], per_request[i]) for i in range(subset)]
  jax.block_until_ready(naive_out)
  naive_s = (time.perf_counter() - t) * n / subset
  # Same keys, same work: the answers agree.
  max_diff = float(
      max(np.max(np.abs(np.stack([r.z for r in loop_out]) - out.z[:subset])),
          np.max(np.abs(np.stack([b.z for b in naive_out]) - out.z[:subset]))))
  return {
      "num_requests": n,
      "generator": FLAGS.generator,
      "budget": FLAGS.budget,
      "population": FLAGS.population,
      "chunk_size": FLAGS.chunk_size,
      "generator_evals": n * int(out.evals[0]),
      "vmap_s": round(vmap_s, 4),
      "loop_s": round(loop_s, 4),
      "loop_timed_requests": subset,
      "loop_scaled": subset < n,
      "ratio": round(loop_s / vmap_s, 1),
      "loop_steps_s": round(naive_s, 4),
      "ratio_loop_steps": round(naive_s / vmap_s, 1),
      "vmap_compile_s": round(compile_vmap, 2),
      "max_abs_diff_z": max_diff,
      "backend": jax.default_backend(),
      "devices": jax.device_count(),
  }


def main(argv):
  del argv
  try:
    print(json.dumps(run()))
  except (UserError, ValueError) as e:
    print(f"error: {e}")
    raise SystemExit(2) from e


if __name__ == "__main__":
  app.run(main)

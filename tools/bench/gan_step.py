"""Times the compiled train step on synthetic inputs; prints one JSON line.

  python tools/bench/gan_step.py --config=configs/dcgan_celeba64.py --batch=64 --steps=20
  python tools/bench/gan_step.py --config=configs/dcgan_celeba64.py --peer   # + the PyTorch peer, same run

With --peer, the PyTorch DCGAN (../shared/peers/torch_dcgan.py) runs in rounds
alternating with ours, from a separate interpreter (--peer_python, default
.venv-torch/bin/python: `make bench` creates it). Where torch is absent the peer
is skipped with a message; the benchmark never fails for it.
"""
import json
import os
import statistics
import subprocess
import sys
import time

from absl import app, flags
import jax
from ml_collections import config_flags
import numpy as np

from vid_jax import sharding as shard_lib
from vid_jax import train_state as ts_lib
from vid_jax import validation
from vid_jax.errors import UserError
from vid_jax.models import build_gan, resolve_conv_impl
from vid_jax.train import step_options
from vid_jax.train_step import make_multi_step, make_train_step

_CONFIG = config_flags.DEFINE_config_file("config", "configs/dcgan_celeba64.py", "Experiment config.",
                                          lock_config=False)
_BATCH = flags.DEFINE_integer("batch", None, "Global batch (default: the config's).")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed dispatches per round.")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed dispatches after compiling.")
_ROUNDS = flags.DEFINE_integer("rounds", 1, "Rounds (alternating with the peer when --peer).")
_K = flags.DEFINE_integer("k", None, "Train steps per dispatch (default: the config's).")
_DTYPE = flags.DEFINE_string("dtype", None, "Compute dtype override: float32 | bfloat16.")
_IMPL = flags.DEFINE_string("conv_impl", None, "Conv implementation override: auto | native | fast.")
_PEER = flags.DEFINE_bool("peer", False, "Also run the PyTorch peer in the same run.")
_PEER_PYTHON = flags.DEFINE_string("peer_python", ".venv-torch/bin/python", "Interpreter with torch.")
_PEER_SCRIPT = flags.DEFINE_string("peer_script", "../shared/peers/torch_dcgan.py", "The peer script.")


def _bench_ours(config, *, steps, warmup, rounds):

  validation.validate(config, device_count=jax.device_count(), process_count=jax.process_count())
  g, d = build_gan(config)
  mesh = shard_lib.make_mesh()
  rep = shard_lib.replicated(mesh)
  init = ts_lib.make_init_fn(config, g, d)
  abstract = jax.eval_shape(init, jax.random.PRNGKey(0))
  state_sh = jax.tree.map(lambda _: rep, abstract)
  state = jax.jit(init, out_shardings=state_sh)(jax.random.PRNGKey(0))
  k, b, r = config.train.steps_per_dispatch, config.train.batch_size, config.model.resolution
  rng = np.random.default_rng(0)
  local = {
      "image": rng.integers(0, 256, (k, b, r, r, 3), dtype=np.uint8),
      "attributes": rng.random((k, b, 40)) < 0.5
  }
  batch = shard_lib.global_batch(local, shard_lib.batch_sharding(mesh, leading_axes=1))
  step = make_multi_step(make_train_step(generator=g, discriminator=d, options=step_options(config)), k)
  jitted = jax.jit(step, in_shardings=(state_sh, shard_lib.batch_sharding(mesh, leading_axes=1)),
                   out_shardings=(state_sh, rep), donate_argnums=0)
  t0 = time.perf_counter()
  compiled = jitted.lower(state, batch).compile()
  compile_s = time.perf_counter() - t0
  for _ in range(warmup):
    state, m = compiled(state, batch)
  jax.block_until_ready(state)
  flops = None
  try:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops")) / k if cost and cost.get("flops") else None
  except Exception:  # pylint: disable=broad-except
    pass

  def one_round():
    nonlocal state
    times = []
    for _ in range(steps):
      t = time.perf_counter()
      state, m = compiled(state, batch)
      jax.block_until_ready(m)
      times.append((time.perf_counter() - t) / k)
    return times

  result = {
      "impl": "vid_jax",
      "backend": jax.default_backend(),
      "devices": jax.device_count(),
      "batch": b,
      "k": k,
      "dtype": config.model.dtype,
      "conv_impl": resolve_conv_impl(config.model.conv_impl),
      "resolution": r,
      "compile_s": round(compile_s, 2),
      "jax": jax.__version__,
      "flops_per_step": flops,
  }
  return result, one_round


def _run_peer(batch, steps, warmup, size):
  python, script = _PEER_PYTHON.value, _PEER_SCRIPT.value
  if not os.path.exists(python):
    return None, f"peer skipped: {python} not found (make bench creates it with pip install torch==2.13.0)"
  if not os.path.exists(script):
    return None, f"peer skipped: {script} not found"
  proc = subprocess.run([
      python, script, "--batch",
      str(batch), "--steps",
      str(steps), "--warmup",
      str(warmup), "--size",
      str(size)
  ], capture_output=True, text=True, check=False)
  if proc.returncode != 0:
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return None, f"peer skipped: it failed ({last})"
  return json.loads(proc.stdout.strip().splitlines()[-1]), None


def main(argv):
  del argv
  config = _CONFIG.value
  if _BATCH.value:
    config.train.batch_size = _BATCH.value
  if _K.value:
    config.train.steps_per_dispatch = _K.value
  if _DTYPE.value:
    config.model.dtype = _DTYPE.value
  if _IMPL.value:
    config.model.conv_impl = _IMPL.value
  try:
    result, one_round = _bench_ours(config, steps=_STEPS.value, warmup=_WARMUP.value, rounds=_ROUNDS.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  ours, peers, peer_note = [], [], None
  for _ in range(_ROUNDS.value):
    times = one_round()
    ours.append(statistics.median(times))
    if _PEER.value and peer_note is None:
      peer, peer_note = _run_peer(config.train.batch_size, _STEPS.value, _WARMUP.value,
                                  config.model.resolution)
      if peer:
        peers.append(peer["images_per_sec"])
  step_s = statistics.median(ours)
  b = config.train.batch_size
  result.update(step_ms_median=round(step_s * 1e3, 2), images_per_sec=round(b / step_s,
                                                                            1), rounds=_ROUNDS.value,
                steps=_STEPS.value, round_images_per_sec=[round(b / s, 1) for s in ours])
  if result["flops_per_step"]:
    result["gflops_per_sec"] = round(result["flops_per_step"] / step_s / 1e9, 1)
  if _PEER.value:
    if peers:
      med = statistics.median(peers)
      result.update(peer="torch-eager", peer_images_per_sec=med, peer_round_images_per_sec=peers,
                    ratio_vs_peer=round(result["images_per_sec"] / med, 3))
    else:
      result["peer_note"] = peer_note
      print(peer_note, file=sys.stderr)
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)

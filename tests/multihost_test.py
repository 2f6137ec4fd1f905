"""`launch.py --multihost` as two jax.distributed processes on this CPU (gloo collectives, a SLURM-like
environment) trains the smoke config to the parameters of one process with the same two devices.

The rehearsal of docs/cluster.md: each process loads its half of every global batch, the mesh spans
both processes' devices, and orbax writes one checkpoint collectively into the shared workdir.
"""
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "configs/dcgan_avatars.py:smoke"  # 32x32, width 8, batch 8, 4 steps, checkpoints at 2 and 4
TIMEOUT_S = 300


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _env(devices: int, **extra) -> dict:
  env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "JAX_COORDINATOR"))}
  env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             PYTHONPATH=REPO, **extra)
  return env


def _launch(workdir, env, *, multihost: bool):
  argv = [
      sys.executable,
      os.path.join(REPO, "launch.py"), f"--config={os.path.join(REPO, CONFIG)}", f"--workdir={workdir}"
  ] + (["--multihost"] if multihost else [])
  return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


def _wait(procs):
  outputs = []
  try:
    for p in procs:
      out, _ = p.communicate(timeout=TIMEOUT_S)
      outputs.append(out)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-4000:]
  return outputs


def _final_state(workdir) -> tuple[int, dict]:
  """(step, the last checkpoint's train state as numpy arrays keyed by path), restored on one device."""
  directory = os.path.join(workdir, "checkpoints")
  step = max(int(d) for d in os.listdir(directory) if d.isdigit())
  path = os.path.join(directory, str(step), "state")
  checkpointer = ocp.StandardCheckpointer()
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                          checkpointer.metadata(path).item_metadata)
  leaves, _ = jax.tree_util.tree_flatten_with_path(checkpointer.restore(path, abstract))
  return step, {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}


@pytest.mark.slow  # three trainings side by side: 96-151 s measured on 2 busy CPU cores
def test_two_processes_train_like_one_process_with_the_same_devices(tmp_path):
  multi, single = str(tmp_path / "two_processes"), str(tmp_path / "one_process")
  port = str(_free_port())
  slurm = dict(SLURM_JOB_ID="4242", SLURM_NTASKS="2", SLURM_STEP_NODELIST="localhost",
               JAX_COORDINATOR_PORT=port)
  procs = [
      _launch(multi, _env(1, SLURM_PROCID=str(i), SLURM_LOCALID=str(i), **slurm), multihost=True)
      for i in range(2)
  ]
  procs.append(_launch(single, _env(2), multihost=False))
  outputs = _wait(procs)
  assert "process 0/2, 2 devices" in outputs[0] and "process 1/2, 2 devices" in outputs[1], outputs[0][-2000:]
  assert "process 0/1, 2 devices" in outputs[2]
  step_m, state_m = _final_state(multi)
  step_s, state_s = _final_state(single)
  assert step_m == step_s == 4 and sorted(state_m) == sorted(state_s)
  assert any(k.startswith("['g_params']") for k in state_s), sorted(state_s)[:5]
  # Not bitwise (measured: at most 3e-7 apart): each process sorts its half of a global batch on its
  # own, so the two devices hold other rows than in the one-process run and BatchNorm statistics and
  # loss means add the same numbers in another order.
  for k in state_s:
    np.testing.assert_allclose(state_m[k], state_s[k], rtol=0, atol=1e-6, err_msg=k)

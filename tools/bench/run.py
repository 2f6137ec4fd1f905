"""Runs reproducible benchmark jobs: one JSON file per job with its result and the environment.

  python tools/bench/run.py --config=configs/bench.py                      # every job (`make bench`)
  python tools/bench/run.py --config=configs/bench.py:quick --only=gan_step,rl --out=/tmp/bench

Each job of the config (configs/bench.py; in name order, as ConfigDict keeps them) runs as a
subprocess, `tools/bench/<tool>.py --flag=value ...` from the repository root; the JSON lines it
prints are its result. OUT/<job>.json holds that result
with the job's tool, flags and command, start time, wall seconds, exit code (and stderr's tail when
it failed) and the environment: jax / jaxlib versions, backend, device kind and count, CPU model,
Python, git commit (+ dirty), hostname. A failed, timed-out or skipped job is recorded and the
others still run; the exit status is 1 when any job failed.
"""
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import time

from absl import app, flags
from ml_collections import config_flags

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STDERR_TAIL = 4000  # characters of a failed job's stderr kept in its file

_CONFIG = config_flags.DEFINE_config_file("config", "configs/bench.py",
                                          "Benchmark jobs (configs/bench.py[:quick]).", lock_config=True)
_OUT = flags.DEFINE_string("out", None, "Output folder (default: runs/bench/<UTC timestamp>).")
_ONLY = flags.DEFINE_list("only", [], "Job names to run (default: every job of the config).")
_TIMEOUT = flags.DEFINE_float("timeout_s", 3600.0, "Per-job wall-clock limit in seconds.")

# Run in a fresh interpreter, so that the runner itself never holds an accelerator.
_PROBE = """
import json, jax, jaxlib
devices = jax.devices()
print(json.dumps({"jax": jax.__version__, "jaxlib": jaxlib.__version__, "backend": jax.default_backend(),
                  "device_kind": devices[0].device_kind, "device_count": len(devices),
                  "local_device_count": jax.local_device_count(), "process_count": jax.process_count()}))
"""


def tool_argv(tool: str, flag_values: dict) -> list[str]:
  """The command line of a job: [python, tools/bench/<tool>.py, --name=value ...] (True: --name)."""
  argv = [sys.executable, os.path.join("tools", "bench", f"{tool}.py")]
  for name, value in flag_values.items():
    if isinstance(value, bool):
      argv.append(f"--{name}" if value else f"--no{name}")
    elif isinstance(value, (list, tuple)):
      argv.append(f"--{name}={','.join(str(v) for v in value)}")
    else:
      argv.append(f"--{name}={value}")
  return argv


def cpu_model() -> str:
  """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.lower().startswith(("model name", "hardware", "cpu model")):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
  try:
    out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()


def environment() -> dict:
  """Where the jobs run: versions, devices, CPU, interpreter, git commit, host."""
  env = {
      "python": platform.python_version(),
      "python_executable": sys.executable,
      "cpu_model": cpu_model(),
      "cpu_count": os.cpu_count(),
      "hostname": socket.gethostname(),
      "platform": platform.platform(),
      "git_commit": _git("rev-parse", "HEAD")
  }
  status = _git("status", "--porcelain", "--untracked-files=no")
  env["git_dirty"] = None if status is None else bool(status)
  for name in ("JAX_PLATFORMS", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES"):
    env[f"env.{name}"] = os.environ.get(name)
  probe = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True,
                         timeout=600, check=False)
  if probe.returncode == 0:
    env.update(json.loads(probe.stdout.strip().splitlines()[-1]))
  else:
    env["probe_error"] = probe.stderr[-STDERR_TAIL:]
    env.update(jax=None, jaxlib=None, backend=None, device_kind=None, device_count=None)
  return env


def parse_result(stdout: str):
  """The JSON objects a tool printed, one per line: the object when one, else the list."""
  records = []
  for line in stdout.splitlines():
    line = line.strip()
    if line.startswith("{"):
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        pass
  if not records:
    return None
  return records[0] if len(records) == 1 else records


def run_job(name: str, job, *, env: dict, timeout_s: float) -> dict:
  """Runs one job; returns its record (never raises for the job's own failure)."""
  flag_values = job.flags.to_dict()
  argv = tool_argv(job.tool, flag_values)
  record = {
      "job": name,
      "tool": f"tools/bench/{job.tool}.py",
      "flags": flag_values,
      "argv": argv[1:],
      "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  }
  missing = [p for p in job.requires if not os.path.exists(os.path.join(REPO, p))]
  if missing:
    record.update(status="skipped", reason=f"missing {', '.join(missing)} (make demo writes them)",
                  exit_code=None, wall_s=0.0, result=None, environment=env)
    return record
  t0 = time.perf_counter()
  try:
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, check=False)
    code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
  except subprocess.TimeoutExpired as e:
    code, stdout = None, _text(e.stdout)
    stderr = _text(e.stderr) + f"\ntimed out after {timeout_s:g} s"
  record["wall_s"] = round(time.perf_counter() - t0, 3)
  record["exit_code"] = code
  record["result"] = parse_result(stdout)
  ok = code == 0 and record["result"] is not None
  record["status"] = "ok" if ok else "failed"
  if not ok:
    record["stderr_tail"] = stderr[-STDERR_TAIL:]
    if code == 0:
      record["reason"] = "the tool printed no JSON line"
  elif "peer_note" in (record["result"] or {}):
    record["note"] = record["result"]["peer_note"]
  record["environment"] = env
  return record


def _text(out) -> str:
  if out is None:
    return ""
  return out.decode("utf-8", "replace") if isinstance(out, bytes) else out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  jobs = dict(_CONFIG.value.jobs.items())
  unknown = [n for n in _ONLY.value if n not in jobs]
  if unknown:
    print(f"error: --only: unknown job(s) {unknown}; the config has {', '.join(jobs)}", file=sys.stderr)
    sys.exit(2)
  names = _ONLY.value or list(jobs)
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
  out = _OUT.value or os.path.join(REPO, "runs", "bench", stamp)
  os.makedirs(out, exist_ok=True)
  env = environment()
  print(
      f"{env['backend']} x{env['device_count']} ({env['device_kind']}), {env['cpu_model']}, "
      f"jax {env['jax']}, commit {(env['git_commit'] or '?')[:10]}{' (dirty)' if env['git_dirty'] else ''}",
      flush=True)
  failed = 0
  for name in names:
    record = run_job(name, jobs[name], env=env, timeout_s=_TIMEOUT.value)
    path = os.path.join(out, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
      json.dump(record, f, indent=2)
    failed += record["status"] == "failed"
    detail = record.get("reason") or record.get("note") or ""
    if record["status"] == "failed" and not detail:
      detail = (record["stderr_tail"].strip().splitlines() or [f"exit code {record['exit_code']}"])[-1]
    line = f"{name}: {record['status']} in {record['wall_s']:.1f} s -> {path}"
    print(line + (f" ({detail})" if detail else ""), flush=True)
  sys.exit(1 if failed else 0)


if __name__ == "__main__":
  app.run(main)

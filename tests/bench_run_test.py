"""tools/bench/run.py: one JSON file per job with the tool's result and the environment; a failing or
skipped job is recorded and does not stop the others."""
import json
import os
import subprocess
import sys

import pytest

from vid_jax import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENVIRONMENT_FIELDS = ("jax", "jaxlib", "backend", "device_kind", "device_count", "cpu_model", "python",
                      "git_commit", "git_dirty", "hostname")

JOBS = """
import ml_collections


def get_config(arg=None):
  job = lambda tool, requires=(), **flags: ml_collections.ConfigDict(
      dict(tool=tool, flags=flags, requires=tuple(requires)))
  return ml_collections.ConfigDict(dict(jobs=ml_collections.ConfigDict(dict(
      broken=job("data_loader", nosuchflag=1),
      loader=job("data_loader", source="avatars", size=16, batch=8, seconds=0.2, limit=64, flip=True),
      needs_demo=job("design", requires=["runs/no/such/file"]),
  ))))
"""


def _run(*args):
  return subprocess.run([sys.executable, os.path.join("tools", "bench", "run.py"), *args], cwd=REPO,
                        capture_output=True, text=True, timeout=600, check=False,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("bench")
  config = root / "jobs.py"
  config.write_text(JOBS)
  out = root / "out"
  return _run(f"--config={config}", f"--out={out}"), out


def test_a_job_writes_its_result_and_the_environment(bench_run):
  proc, out = bench_run
  assert sorted(os.listdir(out)) == ["broken.json", "loader.json", "needs_demo.json"], proc.stdout
  with open(out / "loader.json", encoding="utf-8") as f:
    record = json.load(f)
  assert record["status"] == "ok" and record["exit_code"] == 0, record
  assert record["tool"] == "tools/bench/data_loader.py"
  assert record["flags"] == {
      "source": "avatars",
      "size": 16,
      "batch": 8,
      "seconds": 0.2,
      "limit": 64,
      "flip": True
  }
  assert "--flip" in record["argv"] and "--batch=8" in record["argv"]
  assert record["result"]["images_per_sec"] > 0 and record["result"]["batch"] == 8
  assert record["wall_s"] > 0 and record["started_utc"].endswith("+00:00")
  env = record["environment"]
  in_git = os.path.exists(os.path.join(REPO, ".git"))  # git fields are None in an unpacked archive
  for field in ENVIRONMENT_FIELDS:
    assert field in env and (env[field] is not None or not in_git and field.startswith("git")), (field, env)
  assert env["backend"] == "cpu" and env["device_count"] >= 1
  assert not in_git or len(env["git_commit"]) == 40


def test_a_failing_job_is_recorded_and_the_others_run(bench_run):
  proc, out = bench_run
  assert proc.returncode == 1, proc.stderr[-2000:]  # one job failed
  with open(out / "broken.json", encoding="utf-8") as f:
    broken = json.load(f)
  assert broken["status"] == "failed" and broken["exit_code"] not in (0, None)
  assert "nosuchflag" in broken["stderr_tail"] and broken["result"] is None
  assert broken["environment"]["backend"] == "cpu"
  with open(out / "needs_demo.json", encoding="utf-8") as f:
    skipped = json.load(f)
  assert skipped["status"] == "skipped" and "runs/no/such/file" in skipped["reason"]
  assert "broken: failed" in proc.stdout and "loader: ok" in proc.stdout


def test_unknown_job_is_one_error_line(tmp_path):
  proc = _run("--config=configs/bench.py:quick", "--only=gan_step,nosuchjob", f"--out={tmp_path}")
  lines = proc.stderr.strip().splitlines()
  assert proc.returncode == 2 and len(lines) == 1, proc.stderr
  assert lines[0].startswith("error:") and "nosuchjob" in lines[0]


@pytest.mark.parametrize("arg", [None, "quick"])
def test_every_job_names_a_bench_tool(arg):
  jobs = config_lib.load_config_file(os.path.join(REPO, "configs", "bench.py"), arg).jobs
  assert "gan_step" in jobs and jobs.gan_step.tool == "gan_step"
  for name, job in jobs.items():
    assert os.path.exists(os.path.join(REPO, "tools", "bench", f"{job.tool}.py")), name
  if arg is None:
    assert jobs.gan_step.flags.peer is True  # `make bench`: our step against the PyTorch peer

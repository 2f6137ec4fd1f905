"""Test set-up: 8 fake CPU devices unless the caller chose otherwise, and one XLA compilation cache.

Most tests build the same tiny GAN (vid_jax.testing.tiny_config) and compile the same init and train
step; on 2 cores the compiles are most of `make test`'s time. JAX's persistent compilation cache keeps
each executable once per test session, in a fresh temporary folder that the xdist workers and the
tools the tests start as subprocesses share through the environment (filelock serialises reads and
writes), so a later test loads the executable instead of compiling it again. The results are those of
the same compiled code either way. VID_JAX_TEST_JIT_CACHE=off runs without it; a path keeps the cache
there, across sessions.
"""
import os
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

_CACHE_ENV = "VID_JAX_TEST_JIT_CACHE"
_own_cache = []  # the folder this process made (the controller's, inherited by the workers), removed at exit


def pytest_configure(config):
  """Points JAX at the session's cache: set before jax is imported, inherited by workers and tools."""
  del config
  if _CACHE_ENV not in os.environ:
    os.environ[_CACHE_ENV] = tempfile.mkdtemp(prefix="vid_jax_jit_cache_")
    _own_cache.append(os.environ[_CACHE_ENV])
  if os.environ[_CACHE_ENV] == "off":
    return
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.environ[_CACHE_ENV])
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
  os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(8 << 30))  # bounded: file-locked reads/writes


def pytest_unconfigure(config):
  del config
  for path in _own_cache:
    shutil.rmtree(path, ignore_errors=True)

"""Helpers for tests: tiny trained workdirs."""
import atexit
import os
import shutil
import tempfile

from vid_jax import config as config_lib
from vid_jax import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config_file(name: str, arg: str | None = None):
  """configs/<name>.py's get_config(arg) (configs live beside the package in the repo)."""
  return config_lib.load_config_file(os.path.join(REPO, "configs", f"{name}.py"), arg)


def tiny_config(*, conditional: bool = False, steps: int = 2):
  """The `:smoke` avatar config (32x32, width 8, batch 8), optionally conditional.

  Conditional: G reads an MLP embedding of the attributes and pays the mode-seeking term, as in
  configs/cdcgan_avatars.py.
  """
  config = load_config_file("dcgan_avatars", "smoke")
  config.model.conditional = conditional
  if conditional:
    config.model.g_cond_hidden = 16
    config.optim.mode_seeking = 0.1
  config.train.num_steps = steps
  config.train.log_every = steps
  config.train.checkpoint_every = steps
  config.train.sample_every = steps
  return config


_TRAINED: dict = {}  # (conditional, steps) -> this process's trained copy


def make_tiny_workdir(path: str, *, conditional: bool = False, steps: int = 2) -> str:
  """The tiny config trained for `steps` steps, as a workdir at `path`; returns `path`.

  Training is deterministic, so each process trains each (conditional, steps) once (a few tens of
  seconds) and later calls get a copy of that run: the files training `path` itself would write.
  """
  key = (bool(conditional), int(steps))
  if key not in _TRAINED:
    root = tempfile.mkdtemp(prefix="vid_jax_tiny_")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    train.train_and_evaluate(tiny_config(conditional=conditional, steps=steps), os.path.join(root, "run"))
    _TRAINED[key] = os.path.join(root, "run")
  shutil.copytree(_TRAINED[key], str(path), dirs_exist_ok=True)
  return str(path)

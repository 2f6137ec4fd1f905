"""Helpers for tests: tiny trained workdirs."""
import os

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


def make_tiny_workdir(path: str, *, conditional: bool = False, steps: int = 2) -> str:
  """Trains the tiny config for `steps` steps in `path` (a few tens of seconds); returns `path`."""
  train.train_and_evaluate(tiny_config(conditional=conditional, steps=steps), str(path))
  return str(path)

"""Helpers for tests: tiny trained workdirs."""
import importlib.util
import os

from vid_jax.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config_file(name: str, arg: str | None = None):
  """configs/<name>.py's get_config(arg) (configs live beside the package in the repo)."""
  path = os.path.join(REPO, "configs", f"{name}.py")
  if not os.path.exists(path):
    raise UserError(f"no config file {path}")
  spec = importlib.util.spec_from_file_location(f"vid_jax_config_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def tiny_config(*, conditional: bool = False, steps: int = 2):
  """The `:smoke` avatar config (32x32, width 8, batch 8), optionally conditional."""
  config = load_config_file("dcgan_avatars", "smoke")
  config.model.conditional = conditional
  config.train.num_steps = steps
  config.train.log_every = steps
  config.train.checkpoint_every = steps
  config.train.sample_every = steps
  return config


def make_tiny_workdir(path: str, *, conditional: bool = False, steps: int = 2) -> str:
  """Trains the tiny config for `steps` steps in `path` (a few tens of seconds); returns `path`."""
  from vid_jax import train  # pylint: disable=g-import-not-at-top
  train.train_and_evaluate(tiny_config(conditional=conditional, steps=steps), str(path))
  return str(path)

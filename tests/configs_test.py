"""Every experiment config loads, in its default and `:smoke` forms (where it has one), and validates."""
import glob
import os

import pytest

from vid_jax import config as config_lib
from vid_jax import testing
from vid_jax import validation
from vid_jax.errors import UserError

CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(testing.REPO, "configs", "*.py")))


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("arg", [None, "smoke"])
def test_config_validates(name, arg):
  try:
    config = testing.load_config_file(name, arg)
  except UserError as e:
    if arg and f"config arg {arg!r} is unknown" in str(e):
      pytest.skip(f"configs/{name}.py has no :{arg} variant")
    raise
  if "model" in config and "train" in config and "refiners" in config:
    validation.validate(config, device_count=8)
    assert config.train.batch_size % 8 == 0


def test_parse_arg():
  args = config_lib.parse_arg("smoke,batch=32", smoke=False, batch=128)
  assert args.smoke is True and args.batch == 32
  with pytest.raises(UserError, match="unknown"):
    config_lib.parse_arg("bacth=3", batch=128)


def test_conditional_attribute_names_are_checked():
  config = testing.load_config_file("cdcgan_avatars", "smoke")
  config.model.attributes = "Smiling,Wearing_Cape"
  with pytest.raises(UserError, match="Wearing_Cape"):
    validation.validate(config, device_count=1)


@pytest.mark.parametrize(
    "name", ["dcgan_avatars", "dcgan_avatars_robust", "dcgan_celeba64", "cdcgan_avatars", "cdcgan_celeba64"])
def test_gan_configs_stay_short(name):
  # Comments say what a field does; the runs behind the values are in docs/experiments/configs.md.
  with open(f"{testing.REPO}/configs/{name}.py", encoding="utf-8") as f:
    assert len(f.read().splitlines()) <= 40

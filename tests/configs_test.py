"""Every experiment config loads, in its default and `:smoke` forms, and validates."""
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
  config = testing.load_config_file(name, arg)
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

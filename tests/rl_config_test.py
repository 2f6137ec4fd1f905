"""Tests of the refiner's hyper-parameters (vid_jax/refiners/rl/config.py, configs/refine_avatars.py)."""
import os

import pytest

from vid_jax import config as config_lib
from vid_jax.errors import UserError
from vid_jax.refiners import rl

REFINE_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                             "refine_avatars.py")


def test_config_validation_and_factories():
  cfg = rl.default_config()
  rl.validate_config(cfg)
  for method in rl.METHODS:
    if method != "amortized":
      assert rl.make_refiner(method, cfg).evals_per_step >= 1
  with pytest.raises(ValueError, match="needs a trained policy"):
    rl.make_refiner("amortized", cfg)
  bad = rl.default_config()
  bad.reinforce.baseline = "median"
  with pytest.raises(UserError, match=r"refine_config.reinforce.baseline=.median.: use loo, ema or none"):
    rl.validate_config(bad)
  bad = rl.default_config()
  bad.population = 7
  with pytest.raises(UserError, match="population"):
    rl.validate_config(bad)
  merged = rl.merged_config({"budget": 64, "weights": {"realism": 0.5}})
  assert merged.budget == 64 and merged.weights.realism == 0.5
  assert merged.weights.uniqueness == cfg.weights.uniqueness
  with pytest.raises(UserError, match="unknown field"):
    rl.merged_config({"budgte": 64})
  with pytest.raises(ValueError, match="budget 4 is below one step"):
    rl.num_steps(rl.reinforce(population=8), 4)
  with pytest.raises(UserError, match="unknown attribute 'Smilling'"):
    rl.attribute_vector(["Smilling"])


def test_config_file_and_default_config_agree():
  """The designer uses `default_config()`, tools/refine.py the file: the same values and types."""
  from_file = config_lib.load_config_file(REFINE_CONFIG).to_dict()
  defaults = rl.default_config().to_dict()
  assert from_file == defaults

  def types(d):
    return {k: types(v) if isinstance(v, dict) else type(v) for k, v in d.items()}

  assert types(from_file) == types(defaults)
  rl.validate_config(config_lib.load_config_file(REFINE_CONFIG))
  smoke = config_lib.load_config_file(REFINE_CONFIG, "smoke")
  rl.validate_config(smoke)
  assert smoke.budget == 32 and smoke.amortized.train_steps == 3
  with pytest.raises(UserError, match="config arg 'smok' is unknown"):
    config_lib.load_config_file(REFINE_CONFIG, "smok")


def test_training_config_holds_no_refiner_hyper_parameters():
  # Only the adversarial refiner is a training option; the latent refiner has its own config.
  assert set(config_lib.base_config().refiners) == {"adversarial"}

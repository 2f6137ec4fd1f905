"""Config validation (vid_jax.validation): one UserError naming each bad field, before compiling."""
import jax
import pytest

from vid_jax import testing
from vid_jax import validation
from vid_jax.errors import UserError


def _validate(config):
  validation.validate(config, device_count=jax.device_count())


@pytest.mark.parametrize("field,value,message", [
    ("train.batch_size", 12, "multiple of the device count"),
    ("optim.loss", "wasserstein", "unknown loss"),
    ("model.resolution", 48, "use one of 32, 64, 128"),
    ("data.source", "folder:/no/such/folder", "folder does not exist"),
    ("model.conv_impl", "cudnn", "use one of auto, native, fast"),
    ("optim.aux_weight", 1.0, "needs model.conditional=True"),
    ("optim.aux_weight", -1.0, "must be >= 0"),
    ("model.projection", "max", "use one of pooled, spatial"),
    ("optim.aux_mode", "tac", "use one of ac, adc"),
    ("optim.lr_decay_start", -5, "must be 0 .constant lrs. or a G step before"),
    ("optim.lr_decay_start", 10_000, "a G step before train.num_steps"),
    ("model.g_cond_hidden", -1, "must be 0 .linear attribute embedding. or a positive width"),
    ("model.g_cond_spatial", -1, "must be 0 .per-channel conditional BatchNorm. or a positive number of"),
    ("optim.mode_seeking", -1.0, "must be >= 0"),
    ("model.aux_net_width", -1, "must be 0 .the head reads D's features. or a positive stem width"),
    ("model.aux_net_width", 8, "the attribute head, which is off; set optim.aux_weight > 0"),
    ("optim.mismatch_weight", -0.5, "must be >= 0"),
    ("optim.mismatch_weight", 1.0, "need model.conditional=True"),
    ("optim.d_batch", "mixed", "use one of separate, joint"),
    ("model.g_upsample", "pixelshuffle", "use one of convt, nearest, bilinear"),
])
def test_bad_config_fails_before_compiling(field, value, message):
  config = testing.tiny_config()
  section, name = field.split(".")
  config[section][name] = value
  with pytest.raises(UserError, match=message):
    _validate(config)


def test_mode_seeking_needs_an_even_batch():
  config = testing.tiny_config(conditional=True)
  config.optim.mode_seeking = 1.0
  config.train.batch_size = 9
  with pytest.raises(UserError, match="optim.mode_seeking.*must be even"):
    validation.validate(config, device_count=1)


@pytest.mark.parametrize("field,value", [("model.d_cond_shift", True), ("model.d_stage_projection", True),
                                         ("model.d_cond_hidden", 256), ("optim.aux_lr", 1e-3),
                                         ("optim.aux_mode", "adc_ratio"), ("optim.z_reconstruction", 1.0),
                                         ("model.encoder_width", 64)])
def test_a_retired_option_is_named_in_one_line(field, value):
  # A config file that still sets one (the fields are gone from vid_jax.config's defaults).
  config = testing.tiny_config(conditional=True)
  section, name = field.split(".")
  config[section][name] = value
  with pytest.raises(UserError) as e:
    _validate(config)
  message = str(e.value)
  assert "\n" not in message and f"{field}={value!r}" in message, message
  assert "retired on" in message and "docs/experiments/configs.md" in message, message
  if field == "optim.z_reconstruction":
    assert "git checkout 7b3635a" in message, message  # retired later: its own last commit


def test_a_retired_option_left_off_is_accepted():
  config = testing.tiny_config(conditional=True)
  config.model.d_cond_shift = False  # an old config file that spells out the "off" value
  config.optim.aux_lr = 0.0
  _validate(config)


def test_the_tiny_configs_validate():
  _validate(testing.tiny_config())
  _validate(testing.tiny_config(conditional=True))


def test_upsampling_and_spectral_norm_fields_are_named_in_one_line():
  config = testing.tiny_config()
  config.model.g_upsample = "deconv"
  with pytest.raises(UserError) as e:
    _validate(config)
  assert str(e.value) == "config.model.g_upsample='deconv': use one of convt, nearest, bilinear"
  config = testing.tiny_config()
  with config.model.ignore_type():  # e.g. a config rebuilt from JSON with 1 for True
    config.model.d_spectral_norm = 1
  with pytest.raises(UserError, match=r"^config.model.d_spectral_norm=1: must be True or False$"):
    _validate(config)
  for upsample in ("nearest", "bilinear"):
    config = testing.tiny_config(conditional=True)
    config.model.g_upsample = upsample
    config.model.d_spectral_norm = True
    _validate(config)

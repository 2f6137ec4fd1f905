"""Checkpoints (vid_jax.checkpoint): exact round trips, and one clear line for what cannot load."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import checkpoint as ckpt_lib
from vid_jax import data as data_lib
from vid_jax import inference
from vid_jax import testing
from vid_jax import train
from vid_jax import train_state as ts_lib
from vid_jax.errors import UserError
from vid_jax.models import build_gan


def _abstract(config):
  g, d = build_gan(config)
  abstract = jax.eval_shape(ts_lib.make_init_fn(config, g, d), jax.random.PRNGKey(0))
  return ckpt_lib.abstract_with_sharding(abstract, jax.sharding.SingleDeviceSharding(jax.devices()[0]))


def _state(config):
  """A tiny state with every float leaf moved off its init (so that no leaf is a default)."""
  g, d = build_gan(config)
  state = jax.jit(ts_lib.make_init_fn(config, g, d))(jax.random.PRNGKey(0))
  noise = lambda x: x + 0.01 * jax.random.normal(jax.random.PRNGKey(x.size), x.shape, x.dtype)
  return jax.tree.map(lambda x: noise(x) if jnp.issubdtype(x.dtype, jnp.floating) else x, state)


def _loader(config, source):
  return data_lib.make_loader(source, global_batch_size=config.train.batch_size, seed=config.train.seed,
                              shuffle=True, process_index=0, process_count=1)


def _save(workdir, config, step=7):
  checkpointer = ckpt_lib.Checkpointer(str(workdir), keep=2)
  checkpointer.save(step, _state(config), {})
  checkpointer.close()


def test_save_then_restore_is_bitwise_and_resumes_the_data_iterator(tmp_path):
  config = testing.tiny_config(conditional=True)
  state = _state(config)
  source = train.make_source(config)
  loader = _loader(config, source)
  for _ in range(3):
    next(loader)
  checkpointer = ckpt_lib.Checkpointer(str(tmp_path), keep=2)
  checkpointer.save(7, state, loader.get_state())
  checkpointer.close()
  want_next = next(loader)

  restorer = ckpt_lib.Checkpointer(str(tmp_path), read_only=True)
  assert restorer.latest_step() == 7
  restored, data_state = restorer.restore(_abstract(config))
  restorer.close()
  paths = lambda tree: [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
  assert paths(restored) == paths(state)
  want, got = jax.device_get(jax.tree.leaves(state)), jax.device_get(jax.tree.leaves(restored))
  for a, b in zip(want, got):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)
  resumed = _loader(config, source)
  resumed.set_state(data_state)
  got_next = next(resumed)
  assert set(got_next) == set(want_next)
  for key in want_next:
    np.testing.assert_array_equal(got_next[key], want_next[key])


def test_restoring_into_a_config_that_does_not_fit_is_one_clear_line(tmp_path):
  config = testing.tiny_config()
  _save(tmp_path, config)
  config.model.d_width = 16  # D's kernels no longer have the saved shapes
  restorer = ckpt_lib.Checkpointer(str(tmp_path), read_only=True)
  with pytest.raises(UserError) as e:
    restorer.restore(_abstract(config))
  restorer.close()
  message = str(e.value)
  assert "\n" not in message and "does not fit this config" in message and "step 7" in message, message


def _write_config(workdir, config, **retired):
  values = config.to_dict()
  for field, value in retired.items():
    section, name = field.split("__")
    values[section][name] = value
  (workdir / "config.json").write_text(json.dumps(values))


@pytest.mark.parametrize("field,value", [("model__d_cond_shift", True), ("model__d_stage_projection", True),
                                         ("model__d_cond_hidden", 256), ("optim__aux_lr", 1e-3),
                                         ("optim__aux_mode", "adc_ratio"), ("optim__z_reconstruction", 1.0)])
def test_a_run_of_a_retired_option_fails_to_load_in_one_line(tmp_path, field, value):
  config = testing.tiny_config(conditional=True)
  _save(tmp_path, config)
  _write_config(tmp_path, config, **{field: value})
  option = field.replace("__", ".") + "=" + repr(value)
  with pytest.raises(UserError) as e:  # tools/generate.py's path
    inference.load_config(str(tmp_path))
  message = str(e.value)
  assert "\n" not in message and f"config.json was trained with {option}" in message, message
  assert "retired on" in message and "docs/experiments/configs.md" in message, message
  restorer = ckpt_lib.Checkpointer(str(tmp_path), read_only=True)  # a resume's path
  with pytest.raises(UserError, match=f"trained with {option}, an option retired"):
    restorer.restore(_abstract(config))
  restorer.close()


def test_a_run_with_the_retired_fields_off_still_loads(tmp_path):
  # Runs from before the retirement hold every field, at its "off" value: they load without them.
  config = testing.tiny_config(conditional=True)
  _save(tmp_path, config)
  _write_config(tmp_path, config, model__d_cond_shift=False, model__d_stage_projection=False,
                model__d_cond_hidden=0, optim__aux_lr=0.0)
  loaded = inference.load_config(str(tmp_path))
  assert "d_cond_shift" not in loaded.model and "aux_lr" not in loaded.optim
  assert loaded.model.to_dict() == config.model.to_dict()
  restorer = ckpt_lib.Checkpointer(str(tmp_path), read_only=True)
  restored, _ = restorer.restore(_abstract(loaded))
  restorer.close()
  assert int(restored.step) == 0

"""VEEGAN's z-reconstruction option (optim.z_reconstruction): off changes nothing, on trains E and G."""
import jax
import numpy as np
import pytest

from vid_jax import checkpoint as ckpt_lib
from vid_jax import inference
from vid_jax import testing
from vid_jax import train
from vid_jax import train_state as ts_lib
from vid_jax import train_step
from vid_jax import validation
from vid_jax.errors import UserError
from vid_jax.models import build_encoder, build_gan

STEPS = 30  # on one fixed batch and fixed latents


def _config(weight):
  config = testing.tiny_config(conditional=True)
  config.optim.z_reconstruction = weight
  return config


def _batch(config):
  rng = np.random.default_rng(0)
  b, r = config.train.batch_size, config.model.resolution
  return {
      "image": rng.integers(0, 256, (b, r, r, 3), dtype=np.uint8),
      "attributes": rng.integers(0, 2, (b, 40)).astype(np.uint8)
  }


def test_off_keeps_the_plain_train_state():
  config = _config(0.0)
  g, d = build_gan(config)
  state = jax.eval_shape(ts_lib.make_init_fn(config, g, d), jax.random.PRNGKey(0))
  assert build_encoder(config) is None
  # The same class (so the same orbax keys): checkpoints and the zoo restore as before the option.
  assert type(state) is ts_lib.TrainState
  paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
  assert not [p for p in paths if ".e_" in p]
  assert train_step.StepOptions().z_reconstruction == 0.0  # off unless a config sets it


@pytest.fixture(scope="module")
def trained():
  """(init state, state after step 1, per-step metrics) of STEPS steps on one batch and one z.

  The step draws fresh latents each step, and in a few tens of steps the tiny E cannot learn to
  invert G in general (the term stays ~1). With the latents fixed (the step's only [B, z_dim]
  normal draw) the term is a fixed regression target, which shows E and G descending it.
  """
  config = _config(1.0)
  g, d = build_gan(config)
  init = jax.jit(ts_lib.make_init_fn(config, g, d))(jax.random.PRNGKey(0))
  shape = (config.train.batch_size, config.model.z_dim)
  fixed, normal = jax.random.normal(jax.random.PRNGKey(1), shape), jax.random.normal
  with pytest.MonkeyPatch.context() as patch:  # while the step is traced
    patch.setattr(jax.random, "normal", lambda key, s, dtype=np.float32: fixed
                  if tuple(s) == shape else normal(key, s, dtype))
    step = jax.jit(
        train_step.make_train_step(generator=g, discriminator=d, options=train.step_options(config),
                                   encoder=build_encoder(config)))
    batch, state, metrics, first = _batch(config), init, [], None
    for i in range(STEPS):
      state, m = step(state, batch)
      metrics.append(jax.device_get(m))
      first = jax.device_get(state) if i == 0 else first
  return jax.device_get(init), first, metrics


def test_on_logs_a_finite_term_and_updates_the_encoder(trained):
  init, first, metrics = trained
  assert isinstance(init, ts_lib.ReconstructorTrainState)
  assert np.isfinite(metrics[0]["g_z_reconstruction"]) and metrics[0]["g_z_reconstruction"] > 0
  assert all(np.isfinite(v) for m in metrics for v in m.values())
  changed = [
      np.max(np.abs(a - b)) for a, b in zip(jax.tree.leaves(init.e_params), jax.tree.leaves(first.e_params))
  ]
  assert max(changed) > 0
  # Only the mean head and the convs learn; the log-variance head has no gradient.
  np.testing.assert_array_equal(init.e_params["log_var"]["kernel"], first.e_params["log_var"]["kernel"])


def test_reconstruction_falls_on_a_fixed_batch(trained):
  *_, metrics = trained
  term = np.array([m["g_z_reconstruction"] for m in metrics])
  # From ~1 (E knows nothing: z ~ N(0, I)); E and G both descend it. The last 5 steps' mean is
  # ~0.55 x the first step's on an x86 CPU; 0.8 leaves room for other float orders.
  assert term[-5:].mean() < 0.8 * term[0], term


def test_checkpoint_resume_with_the_encoder(tmp_path):
  config = _config(1.0)
  config.train.num_steps, config.train.checkpoint_every, config.train.sample_every = 2, 2, 0
  first = train.train_and_evaluate(config, str(tmp_path))
  assert first["step"] == 2 and "g_z_reconstruction" in first
  saved = jax.device_get(first["state"].e_params)
  # The checkpoint restores E against the config's abstract state.
  g, d = build_gan(config)
  abstract = jax.eval_shape(ts_lib.make_init_fn(config, g, d), jax.random.PRNGKey(0))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  checkpointer = ckpt_lib.Checkpointer(str(tmp_path), read_only=True)
  restored, _ = checkpointer.restore(ckpt_lib.abstract_with_sharding(abstract, device))
  checkpointer.close()
  for a, b in zip(jax.tree.leaves(saved), jax.tree.leaves(jax.device_get(restored.e_params))):
    np.testing.assert_array_equal(a, b)
  config.train.num_steps = 3  # resume: one more step from the checkpoint (constant lrs)
  resumed = train.train_and_evaluate(config, str(tmp_path))
  assert resumed["start_step"] == 2 and resumed["step"] == 3
  assert inference.load_models(str(tmp_path)).step == 3  # inference ignores E but restores its tree


@pytest.mark.parametrize("field,value", [("optim.z_reconstruction", -1.0), ("model.encoder_width", 0)])
def test_bad_fields_are_one_clear_error(field, value):
  config = _config(1.0)
  section, name = field.split(".")
  config[section][name] = value
  with pytest.raises(UserError, match=field.replace(".", r"\.")):
    validation.validate(config, device_count=1)

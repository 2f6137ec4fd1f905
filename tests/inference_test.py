"""vid_jax.inference: one EMA / standing-statistics recipe for training and tools, one sampler."""
import json

import jax
import numpy as np
import pytest
from PIL import Image

from vid_jax import inference, testing, train, train_state, writer
from vid_jax.data.attributes import ATTRIBUTE_INDEX, HAIR_COLOURS, exclusive_columns


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A tiny conditional run of 2 steps (its sample grid written at step 2)."""
  config = testing.tiny_config(conditional=True, steps=2)
  workdir = str(tmp_path_factory.mktemp("run"))
  result = train.train_and_evaluate(config, workdir)
  return config, workdir, result


def test_training_and_tools_derive_the_same_ema_variables(run):
  config, workdir, result = run
  models = inference.load_models(workdir)  # the tools' path: config.json, data_stats.json
  source = train.make_source(config)  # the training path: the data's marginals
  marginals = inference.sampling_marginals(models.attribute_names, train.data_marginals(config, source))
  np.testing.assert_array_equal(marginals, models.sampling_marginals)
  parts = train.create_parts(config)
  ema = inference.make_ema_variables_fn(parts.generator, z_dim=config.model.z_dim, marginals=marginals,
                                        exclusive=exclusive_columns(models.attribute_names))
  ours = jax.device_get(ema(result["state"].ema_params))  # replicated on the 8-device mesh
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(jax.device_get(models.g_variables))):
    np.testing.assert_array_equal(a, b)


def test_the_training_sample_grid_is_the_tools_ema_generator(run):
  # The grid training wrote at step 2 is what the checkpoint's EMA generator draws from the grid's
  # inputs (train.seed + 1 latents, the first data rows' attributes).
  config, workdir, _ = run
  models = inference.load_models(workdir)
  n = config.train.num_samples_grid
  z = jax.random.normal(jax.random.PRNGKey(config.train.seed + 1), (n, config.model.z_dim))
  rows = train.make_source(config).get_batch(np.arange(n))["attributes"]
  y = rows[:, [ATTRIBUTE_INDEX[a] for a in models.attribute_names]].astype(np.float32)
  want = writer.make_grid(writer.to_uint8(models.generate(z, y)))
  got = np.asarray(Image.open(f"{workdir}/samples/step_000002.png"))
  assert got.shape == want.shape
  assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_standing_inputs_are_fixed_latents_and_marginal_draws():
  p = np.array([0.9, 0.1, 0.5], np.float32)
  z, attrs = inference.standing_inputs(z_dim=4, marginals=p)
  assert z.shape == (train_state.STANDING_SAMPLES, 4) and attrs.shape == (train_state.STANDING_SAMPLES, 3)
  z2, attrs2 = inference.standing_inputs(z_dim=4, marginals=p)
  np.testing.assert_array_equal(z, z2)
  np.testing.assert_array_equal(attrs, attrs2)
  np.testing.assert_allclose(np.asarray(attrs).mean(0), p, atol=0.08)
  assert inference.standing_inputs(z_dim=4, marginals=None)[1] is None
  assert inference.sampling_marginals((), None) is None
  np.testing.assert_array_equal(inference.sampling_marginals(("a", "b"), None), [0.5, 0.5])


def test_exclusive_columns_are_one_categorical_draw_with_the_marginals():
  p = np.array([0.5, 0.3, 0.2, 0.4, 0.25], np.float32)
  attrs = np.asarray(inference.draw_attributes(jax.random.PRNGKey(3), p, 20_000, exclusive=(1, 2, 4)))
  assert set(np.unique(attrs)) == {0.0, 1.0}
  assert attrs[:, [1, 2, 4]].sum(1).max() == 1  # at most one of them per row
  np.testing.assert_allclose(attrs.mean(0), p, atol=0.015)  # every marginal kept
  np.testing.assert_allclose((attrs[:, [1, 2, 4]].sum(1) == 0).mean(), 0.25, atol=0.015)
  # Marginals over 1 in all: renormalised, one always set.
  over = np.asarray(
      inference.draw_attributes(jax.random.PRNGKey(4), np.full(3, 0.6), 1000, exclusive=(0, 1, 2)))
  np.testing.assert_array_equal(over.sum(1), 1)
  # Without exclusive columns: independent draws (two set together happen).
  free = np.asarray(inference.draw_attributes(jax.random.PRNGKey(3), p, 20_000))
  assert free[:, [1, 2, 4]].sum(1).max() > 1


def test_a_request_sets_one_hair_colour(run):
  _, workdir, _ = run
  models = inference.load_models(workdir)
  names = models.attribute_names
  hair = [names.index(a) for a in HAIR_COLOURS]
  drawn = np.asarray(models.sample_attributes(jax.random.PRNGKey(0), 500))[:, hair]
  assert drawn.sum(1).max() == 1 and drawn.sum(1).min() == 0
  y = np.asarray(
      inference.request_attributes(models, jax.random.PRNGKey(1), 50, ["Blond_Hair", "Gray_Hair"], []))
  np.testing.assert_array_equal(y[:, hair], np.tile([0, 1, 0, 0], (50, 1)))  # the first named: Blond


def test_sampler_draws_the_inputs_of_sample_inputs(run):
  config, workdir, _ = run
  models = inference.load_models(workdir)
  p = models.sampling_marginals
  sample = inference.make_sample_fn(models.generator, z_dim=models.z_dim, marginals=p)
  key = jax.random.PRNGKey(7)
  images, attrs = sample(models.g_variables, key, 5)
  z, want_attrs = inference.sample_inputs(key, 5, z_dim=models.z_dim, marginals=p)
  np.testing.assert_array_equal(attrs, want_attrs)
  np.testing.assert_allclose(images, models.generate(z, want_attrs), atol=1e-5)
  generate = inference.make_generate_fn(models.generator, z_dim=models.z_dim)
  k = jax.random.PRNGKey(3)
  np.testing.assert_allclose(generate(models.g_variables, k, want_attrs),
                             models.generate(inference.sample_latents(k, 5, models.z_dim), want_attrs),
                             atol=1e-5)
  assert json.load(open(f"{workdir}/data_stats.json"))["attribute_names"] == list(models.attribute_names)

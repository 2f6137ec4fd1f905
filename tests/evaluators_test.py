"""vid_jax.evaluators: the registry, each evaluator on toy generators and on a tiny run, and the
same numbers in training and in tools/evaluate.py for the same checkpoint."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import evaluators, inference, testing, train
from vid_jax.data.attributes import ATTRIBUTE_NAMES
from vid_jax.errors import UserError
from vid_jax.evaluators import workdir as workdir_lib
from vid_jax.models import classifier as clf_lib


def _mean_colour_features(images_uint8):  # [B, H, W, 3] -> [B, 3]
  return jnp.mean(images_uint8.astype(jnp.float32) / 255.0, axis=(1, 2))


def _noise_images(seed, n):  # uint8 [n, 4, 4, 3], uniform noise
  return (np.random.default_rng(seed).random((n, 4, 4, 3)) * 255).astype(np.uint8)


def _uniform_sampler(scale=1.0, shift=0.0):  # (variables, key, n) -> (images, None), variables unused
  return lambda variables, key, n: (jax.random.uniform(key, (n, 4, 4, 3), minval=-1.0, maxval=1.0) * scale +
                                    shift, None)


def _fid_evaluator(space, feature_fn, sample_fn, *, num_samples, batch_size, n_real=64):
  real = evaluators.RealImages(reference=_noise_images(11, n_real), baseline=_noise_images(12, n_real),
                               attributes=np.zeros((n_real, 40), bool))
  return evaluators.FidEvaluator(space=space, feature_fn=feature_fn, sample_fn=sample_fn, real_images=real,
                                 num_samples=num_samples, batch_size=batch_size, key=jax.random.PRNGKey(1),
                                 seed=0, provenance={}, kid_num_subsets=10)


def test_fid_evaluator_separates_good_and_bad_generators():
  kw = dict(num_samples=250, batch_size=50, n_real=256)
  good = _fid_evaluator("a", _mean_colour_features, _uniform_sampler(), **kw)(None)
  bad = _fid_evaluator("a", _mean_colour_features, _uniform_sampler(0.5, -0.5), **kw)(None)  # darker
  assert {k for k in good if not k.endswith("_real_vs_real")} == {"a/fid", "a/kid_mean", "a/kid_std"}
  assert bad["a/fid"] > 10 * good["a/fid"]
  assert bad["a/kid_mean"] > 3 * bad["a/kid_std"]
  assert abs(good["a/kid_mean"]) < 3 * good["a/kid_std"]
  assert good["a/fid_real_vs_real"] == bad["a/fid_real_vs_real"]  # the real sets only


def test_evaluate_merges_every_space_with_its_real_baseline():
  sample = _uniform_sampler()
  evs = [
      _fid_evaluator("a", _mean_colour_features, sample, num_samples=40, batch_size=16),
      _fid_evaluator("b", lambda x: _mean_colour_features(x)[:, :2], sample, num_samples=40, batch_size=16)
  ]
  out = evaluators.evaluate(evs, None)
  for space in ("a", "b"):
    for k in ("fid", "kid_mean", "kid_std", "fid_real_vs_real", "kid_mean_real_vs_real"):
      assert np.isfinite(out[f"{space}/{k}"]), (space, k)
  assert not any(k.startswith("attr_") for k in out)


def test_same_attribute_diversity_is_zero_when_the_generator_ignores_z():
  attrs = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 0]], np.float32)

  def ignores_z(key, a):  # the image is a function of the attributes only
    return jnp.tile((a.sum(-1) / 3 - 0.5)[:, None, None, None], (1, 4, 4, 3))

  def uses_z(key, a):
    return ignores_z(key, a) + 0.3 * jax.random.normal(key, (a.shape[0], 4, 4, 3))

  key = jax.random.PRNGKey(0)
  assert evaluators.same_attribute_diversity(ignores_z, attrs, key, per_condition=4, batch_size=5) == 0.0
  d = evaluators.same_attribute_diversity(uses_z, attrs, key, per_condition=4, batch_size=5)
  # Two independent N(0, 0.3^2) pixels differ by RMS 0.3 * sqrt(2); uint8 rounding adds ~0.005.
  assert d == pytest.approx(0.3 * np.sqrt(2), rel=0.1)


def test_diversity_evaluator_uses_the_samplers_requests_and_reports_the_real_value():
  p = np.array([0.5, 0.2], np.float32)
  generate = lambda variables, key, a: jnp.tile((a[:, :1] - 0.5)[:, :, None, None], (1, 4, 4, 3))
  ev = evaluators.DiversityEvaluator(generate_fn=generate, z_dim=3, marginals=p, truncation=0.0,
                                     num_samples=40, batch_size=16, key=jax.random.PRNGKey(2),
                                     real_diversity=0.7)
  # The conditions are the attributes the sampler draws for the first batches (48 rows < 64).
  want = np.concatenate([
      np.asarray(
          inference.sample_inputs(jax.random.fold_in(jax.random.PRNGKey(2), i), 16, z_dim=3, marginals=p)[1])
      for i in range(3)
  ])
  np.testing.assert_array_equal(ev.conditions, want)
  assert ev(None) == {"diversity/same_attributes": 0.0, "diversity/same_attributes_real": 0.7}


def test_unknown_evaluator_name_is_one_clear_error():
  config = testing.tiny_config()
  config.eval.evaluators = "domain,fid50k"
  with pytest.raises(
      UserError, match=r"config.eval.evaluators=.*unknown evaluator\(s\) \['fid50k'\]; "
      r"use some of domain, inception, attributes, diversity, sharpness"):
    train.train_and_evaluate(config, "/nonexistent-unused")  # before anything is built


def test_evaluation_needs_a_feature_space():
  config = testing.tiny_config()
  with pytest.raises(UserError, match="evaluation needs --classifier_workdir"):
    evaluators.from_config(config, generator=None, marginals=None)
  config.train.eval_every = 2
  with pytest.raises(UserError, match="eval_every=2 needs a feature space"):
    evaluators.check_eval_config(config)
  config.eval.evaluators = "sharpness"  # measures without one
  evaluators.check_eval_config(config)


def test_earlier_default_evaluators_gain_sharpness_in_the_tool():
  config = testing.tiny_config()
  config.eval.evaluators = "domain,inception,attributes,diversity"  # a run written before sharpness
  assert workdir_lib.eval_config(config).eval.evaluators.split(",")[-1] == "sharpness"
  config.eval.evaluators = "domain,diversity"  # a run's own choice stays
  assert workdir_lib.eval_config(config).eval.evaluators == "domain,diversity"


def _cartoons(seed, n):  # uint8 [n, 16, 16, 3]: a flat rectangle on a flat background each
  rng = np.random.default_rng(seed)
  images = np.repeat(rng.integers(0, 256, (n, 1, 1, 3), dtype=np.uint8), 16, 1).repeat(16, 2)
  for img, (y, x), colour in zip(images, rng.integers(2, 8, (n, 2)), rng.integers(0, 256, (n, 3))):
    img[y:y + 6, x:x + 6] = colour
  return images


def test_sharpness_evaluator_reports_samples_next_to_the_real_images():
  real = _cartoons(0, 8)
  as_real = lambda variables, key, n: (jnp.asarray(real[:n], jnp.float32) / 127.5 - 1.0, None)
  noisy = lambda variables, key, n: (as_real(variables, key, n)[0] + 0.15 * jax.random.normal(
      key, (n, 16, 16, 3)), None)
  kw = dict(real_images=real, num_samples=8, batch_size=8, key=jax.random.PRNGKey(0))
  same = evaluators.SharpnessEvaluator(sample_fn=as_real, **kw)(None)
  figures = ("hf_energy", "edge_gradient", "flatness")
  assert set(same) == {f"sharpness/{f}{s}" for f in figures for s in ("", "_real", "_ratio")}
  assert all(isinstance(v, float) and np.isfinite(v) for v in same.values())
  assert all(same[f"sharpness/{f}_ratio"] == pytest.approx(1.0) for f in figures), same  # the real images
  grainy = evaluators.SharpnessEvaluator(sample_fn=noisy, **{**kw, "num_samples": 20})(None)  # 3 batches
  assert grainy["sharpness/hf_energy_ratio"] > 2.0
  assert grainy["sharpness/flatness_ratio"] < 0.2
  assert grainy["sharpness/flatness_real"] == same["sharpness/flatness_real"]  # the real set only


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
  """A randomly initialised attribute classifier checkpoint (32x32, all 40 attributes)."""
  module = clf_lib.AttributeClassifier(width=4, feature_dim=8)
  variables = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), train=False)
  classifier = clf_lib.Classifier(module=module, variables=variables, attribute_names=ATTRIBUTE_NAMES,
                                  resolution=32)
  workdir = str(tmp_path_factory.mktemp("classifier"))
  clf_lib.save_classifier(workdir, classifier, step=1, extra={})
  return workdir


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory, classifier_dir):
  """A tiny conditional run that evaluates at its last step (2) with the classifier."""
  config = testing.tiny_config(conditional=True, steps=2)
  config.train.eval_every = 2
  config.eval.classifier_workdir = classifier_dir
  config.eval.num_samples = 24
  config.eval.batch_size = 8
  workdir = str(tmp_path_factory.mktemp("evaluated"))
  result = train.train_and_evaluate(config, workdir)
  return config, workdir, result


def test_each_evaluator_returns_finite_scalars_on_a_tiny_run(evaluated_run):
  config, workdir, result = evaluated_run
  models = inference.load_models(workdir)
  evs = evaluators.from_config(config, generator=models.generator, marginals=models.sampling_marginals)
  assert [e.name for e in evs] == ["domain", "attributes", "diversity", "sharpness"]  # no eval.inception
  prefixes = {
      "domain": ("domain/",),
      "attributes": ("attr_acc/", "attr_present/"),
      "diversity": ("diversity/",),
      "sharpness": ("sharpness/",)
  }
  for ev in evs:
    out = ev(models.g_variables)
    assert out and all(k.startswith(prefixes[ev.name]) for k in out), (ev.name, out)
    assert all(isinstance(v, float) and np.isfinite(v) for v in out.values()), (ev.name, out)
  assert {
      "domain/fid", "domain/kid_mean", "domain/fid_real_vs_real", "attr_acc/Smiling", "attr_acc/mean",
      "diversity/same_attributes", "diversity/same_attributes_real", "sharpness/flatness",
      "sharpness/flatness_real", "sharpness/hf_energy_ratio"
  } <= set(evaluators.evaluate(evs, models.g_variables))


def test_training_and_the_tool_score_a_checkpoint_the_same(evaluated_run):
  # The evaluators during training get the train state's EMA generator by inference's recipe;
  # tools/evaluate.py builds the same evaluators from config.json for the saved checkpoint.
  _, workdir, result = evaluated_run
  logged = [json.loads(l) for l in open(f"{workdir}/metrics.jsonl")]
  in_training = {k: v for k, v in logged[-1].items() if "/" in k}
  assert logged[-1]["step"] == 2 and "domain/fid" in in_training and "sharpness/edge_gradient" in in_training
  out = evaluators.evaluate_workdir(workdir)
  assert out["step"] == 2 and out["seed"] == 0
  assert out["feature_spaces"]["domain"]["comparable_to_published"] is False
  assert set(out["metrics"]) == set(in_training)
  for k, v in in_training.items():
    assert out["metrics"][k] == v, k  # bitwise: the same samples, features and real sets
  # And the tool's numbers are a function of the checkpoint: a different seed samples others.
  assert evaluators.evaluate_workdir(workdir, seed=5)["metrics"]["domain/fid"] != out["metrics"]["domain/fid"]


def test_sharpness_alone_needs_no_feature_space_and_scores_the_same_samples(evaluated_run):
  config, workdir, _ = evaluated_run
  logged = json.loads(open(f"{workdir}/metrics.jsonl").readlines()[-1])
  alone = config.copy_and_resolve_references()
  alone.eval.evaluators, alone.eval.classifier_workdir = "sharpness", ""
  models = inference.load_models(workdir)
  out = evaluators.evaluate(
      evaluators.from_config(alone, generator=models.generator, marginals=models.sampling_marginals),
      models.g_variables)
  assert out and out == {k: v for k, v in logged.items() if k.startswith("sharpness/")}

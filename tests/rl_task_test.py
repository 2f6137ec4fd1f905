"""Tests of refinement tasks from loaded models (vid_jax/refiners/rl/task.py) on fake models."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rl_fakes import Z, FakeClassifier, FakeModels
from vid_jax.errors import UserError
from vid_jax.refiners import rl


def _evaluate(task, z, requests):
  """Reward, terms and hits of latents z [R, M, Z] for requests [R] through the task's functions."""

  @jax.jit
  @jax.vmap
  def one(z, request):
    images = task.generate_fn(z, rl.cond_batch(request, z.shape[0]))
    total, terms = task.terms_fn(images, z, request)
    hits = None if task.hit_fn is None else task.hit_fn(images, request)
    return {"reward": total, "terms": terms, "hits": hits}

  return jax.device_get(one(z, requests))


def test_model_task_with_classifier():
  models, clf = FakeModels(), FakeClassifier()
  cfg = rl.default_config()
  cfg.bank_size = 4
  pairs = (np.random.RandomState(0).randn(6, Z), np.random.RandomState(1).randn(6, Z),
           np.array([1, 0, 1, 1, 0, 1], np.float32))
  cfg.weights.preference = 0.5
  task = rl.model_task(models, clf, cfg=cfg, key=jax.random.key(0), preference_pairs=pairs)
  assert set(task.weights) == {"realism", "attributes", "uniqueness", "preference"} and task.dropped == ()
  want = rl.attribute_vector(["Smiling", "Eyeglasses"])
  avoid = rl.attribute_vector(["Male"], flag="--not")
  req = task.make_requests(want, avoid, 3)
  assert req.want.shape == (3, 40) and req.bank.shape[:2] == (3, 4)
  # The conditional G gets Smiling=1 (wanted) and Male=0 (unwanted)...
  np.testing.assert_array_equal(req.cond, [[1.0, 0.0]] * 3)
  # ...and, unconstrained, the data's most frequent values (0.4 -> 0, 0.7 -> 1).
  free = task.make_requests(np.zeros(40), np.zeros(40), 1)
  np.testing.assert_array_equal(free.cond, [[0.0, 1.0]])

  z = jax.random.normal(jax.random.key(1), (3, 5, Z))
  ev = _evaluate(task, z, req)

  @jax.jit
  def reference(z):
    images = models.generate(z.reshape(15, Z), jnp.tile(jnp.array([[1.0, 0.0]]), (15, 1)))
    logits = clf.logits(images).reshape(3, 5, 3)
    # Smiling, Eyeglasses wanted; Male unwanted.
    return logits, (jax.nn.log_sigmoid(logits[..., 0]) + jax.nn.log_sigmoid(logits[..., 1]) +
                    jax.nn.log_sigmoid(-logits[..., 2]))

  logits, want_lp = reference(z)
  np.testing.assert_allclose(ev["terms"]["attributes"], want_lp, rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(ev["hits"],
                                (logits[..., 0] > 0) & (logits[..., 1] > 0) & (logits[..., 2] < 0))
  total = sum(task.weights[k] * ev["terms"][k] for k in task.weights)
  np.testing.assert_allclose(ev["reward"], total, rtol=1e-4, atol=1e-5)

  # Random training requests only ask for what the classifier knows.
  rnd = task.sample_requests(jax.random.key(2), 256)
  known = rl.attribute_vector(clf.attribute_names)
  assert float(jnp.sum(rnd.want * (1 - known))) == 0.0
  assert float(jnp.sum(rnd.want * rnd.avoid)) == 0.0
  assert 1.0 < float(rnd.want.sum(1).mean()) < 2.0  # mean_wanted = 1.5

  with pytest.raises(UserError, match="classifier does not predict"):
    task.make_requests(rl.attribute_vector(["Bald"]), np.zeros(40), 1)
  with pytest.raises(UserError, match="both name"):
    task.make_requests(want, want, 1)


def test_model_task_without_classifier():
  cfg = rl.default_config()
  cfg.bank_size = 0
  task = rl.model_task(FakeModels(), None, cfg=cfg, key=jax.random.key(0))
  assert task.hit_fn is None and task.dropped == ("attributes",)
  assert "attributes" not in task.weights
  # The conditional G still steers its own attributes; others are refused.
  task.make_requests(rl.attribute_vector(["Smiling"]), np.zeros(40), 1)
  with pytest.raises(UserError, match="--classifier_workdir"):
    task.make_requests(rl.attribute_vector(["Eyeglasses"]), np.zeros(40), 1)
  req = task.make_requests(np.zeros(40), np.zeros(40), 2)
  ev = _evaluate(task, jnp.zeros((2, 1, Z)), req)
  assert ev["hits"] is None
  np.testing.assert_array_equal(ev["terms"]["uniqueness"], [[0.0], [0.0]])

"""Tests of the RL latent refiner (vid_jax.refiners.rl, rl_rewards)."""
import json
import os
import subprocess
import sys

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import testing
from vid_jax.errors import UserError
from vid_jax.refiners import rl
from vid_jax.refiners import rl_rewards

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Z = 8


def _quadratic(z_star):
  return lambda z: -jnp.sum(jnp.square(z - z_star), axis=-1)  # [N]


class TinyGenerator(nn.Module):
  """A random-init generator-like map z [N, Z] -> images [N, 8, 8, 3]."""

  @nn.compact
  def __call__(self, z, attrs=None):
    h = nn.tanh(nn.Dense(64)(z))
    return nn.tanh(nn.Dense(8 * 8 * 3)(h)).reshape(z.shape[0], 8, 8, 3)


def _tiny_generate(z_dim=Z, seed=0):
  g = TinyGenerator()
  variables = g.init(jax.random.key(seed), jnp.zeros((1, z_dim)))
  return lambda z, attrs=None: g.apply(variables, z, attrs)


def _toy_reward(num_attributes=5, feature_dim=6, seed=1):
  """Composable reward terms built from fixed random linear 'models'."""
  k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
  w_d = jax.random.normal(k1, (8 * 8 * 3,)) / 8.0
  w_c = jax.random.normal(k2, (8 * 8 * 3, num_attributes)) / 4.0
  w_f = jax.random.normal(k3, (8 * 8 * 3, feature_dim))
  flat = lambda x: x.reshape(x.shape[0], -1)
  logits_fn = lambda images: flat(images) @ w_c
  terms = {
      "realism": rl_rewards.realism(lambda x, attrs: flat(x) @ w_d),
      "attributes": rl_rewards.attributes(logits_fn),
      "uniqueness": rl_rewards.uniqueness(lambda x: flat(x) @ w_f),
      "prior": rl_rewards.prior,
  }
  weights = {"realism": 1.0, "attributes": 1.0, "uniqueness": 0.5,
             "prior": 0.1}
  return rl_rewards.combine(terms, weights), logits_fn


def _toy_requests(num, num_attributes=5, feature_dim=6, seed=2):
  k1, k2 = jax.random.split(jax.random.key(seed))
  u = jax.random.uniform(k1, (num, num_attributes))
  return rl_rewards.Request(
      want=(u < 0.3).astype(jnp.float32),
      avoid=(u > 0.8).astype(jnp.float32),
      cond=jnp.zeros((num, 0)),
      bank=jax.random.normal(k2, (num, 4, feature_dim)),
      bank_mask=jnp.ones((num, 4)))


# ----------------------------------------------------------- convergence


def test_reinforce_converges_to_optimum_and_kl_pulls_to_prior():
  z_star = jax.random.normal(jax.random.key(1), (Z,))
  run = lambda kl: jax.jit(lambda k: rl.refine(
      rl.reinforce(population=32, learning_rate=0.1, kl_weight=kl), k,
      _quadratic(z_star), z_dim=Z, budget=32 * 150))(jax.random.key(0))
  result, state = run(0.0)
  assert float(jnp.linalg.norm(state.params.mean - z_star)) < 0.3
  assert float(jnp.max(jnp.exp(state.params.log_std))) < 0.3  # it committed
  assert float(result.reward) > -0.1
  assert int(result.evals) == 32 * 150
  # The best-so-far curve never decreases.
  assert bool(jnp.all(jnp.diff(result.curve) >= 0))
  # A KL to N(0, I) trades reward for a mean closer to the prior's.
  _, pulled = run(2.0)
  assert float(jnp.linalg.norm(pulled.params.mean)) < 0.8 * float(
      jnp.linalg.norm(state.params.mean))


def test_reinforce_ema_baseline_improves():
  z_star = jax.random.normal(jax.random.key(1), (Z,))
  refiner = rl.reinforce(population=32, learning_rate=0.1, baseline="ema")
  _, state = jax.jit(lambda k: rl.refine(
      refiner, k, _quadratic(z_star), z_dim=Z, budget=32 * 100))(
          jax.random.key(0))
  # Started at distance |z*| (about 2.8); must have moved most of the way.
  assert float(jnp.linalg.norm(state.params.mean - z_star)) < 0.3 * float(
      jnp.linalg.norm(z_star))


def test_es_converges_to_optimum():
  z_star = jax.random.normal(jax.random.key(1), (Z,))
  refiner = rl.evolution_strategies(population=32, learning_rate=0.1,
                                    sigma=0.3)
  result, state = jax.jit(lambda k: rl.refine(
      refiner, k, _quadratic(z_star), z_dim=Z, budget=32 * 150))(
          jax.random.key(0))
  assert float(jnp.linalg.norm(state.mean - z_star)) < 0.1
  assert float(result.reward) > -0.2


def test_score_function_gradient_matches_analytic():
  z_star = jnp.array([1.0, -0.5, 0.3, 2.0])
  params = rl.GaussianParams(jnp.array([0.2, 0.4, -1.0, 0.5]),
                             jnp.log(jnp.array([0.5, 1.0, 0.8, 0.3])))
  std = jnp.exp(params.log_std)
  # E[-|z - z*|^2] = -|m - z*|^2 - sum(std^2):
  want_mean = -2.0 * (params.mean - z_star)
  want_log_std = -2.0 * jnp.square(std)
  for baseline in ("none", "loo"):
    est, se = rl.score_function_gradient(params, jax.random.key(3),
                                         _quadratic(z_star),
                                         num_samples=20000, baseline=baseline)
    # 5 standard errors of the Monte-Carlo mean: a false alarm has
    # probability < 8 * 6e-7 over the 8 coordinates.
    np.testing.assert_array_less(jnp.abs(est.mean - want_mean), 5 * se.mean)
    np.testing.assert_array_less(jnp.abs(est.log_std - want_log_std),
                                 5 * se.log_std)
    # ...and the tolerance is tight enough to catch a wrong estimator.
    assert float(jnp.max(5 * se.mean / jnp.abs(want_mean))) < 0.5
  # The baseline lowers the variance (same samples).
  _, se_none = rl.score_function_gradient(
      params, jax.random.key(3), _quadratic(z_star), num_samples=20000)
  _, se_loo = rl.score_function_gradient(
      params, jax.random.key(3), _quadratic(z_star), num_samples=20000,
      baseline="loo")
  assert float(jnp.sum(se_loo.mean)) < float(jnp.sum(se_none.mean))


def test_gradient_ascent_and_best_of_n_improve():
  z_star = jax.random.normal(jax.random.key(1), (Z,))
  obj = _quadratic(z_star)
  results = {}
  for name, refiner in (("gradient", rl.gradient_ascent(chains=4,
                                                         learning_rate=0.1)),
                        ("best_of_n", rl.best_of_n(population=4))):
    results[name], _ = jax.jit(lambda k, r=refiner: rl.refine(
        r, k, obj, z_dim=Z, budget=4 * 200))(jax.random.key(0))
    assert float(results[name].curve[-1]) > float(results[name].curve[0])
  # Gradient ascent on a concave objective reaches the optimum; random search
  # in 8 dimensions does not come close.
  assert float(results["gradient"].reward) > -1e-3
  assert float(results["best_of_n"].reward) < -0.5


# -------------------------------------------------------- reward terms


def test_realism_sign_and_scale():
  logits = jnp.array([-5.0, 0.0, 5.0])
  term = rl_rewards.realism(lambda x, a: logits)
  req = rl_rewards.make_request(want=jnp.zeros(3))
  r = term(jnp.zeros((3, 2, 2, 3)), jnp.zeros((3, Z)), req)
  np.testing.assert_allclose(r, jax.nn.log_sigmoid(logits), rtol=1e-6)
  np.testing.assert_allclose(r[1], np.log(0.5), rtol=1e-6)
  assert float(r[0]) < float(r[1]) < float(r[2]) <= 0.0
  raw = rl_rewards.realism(lambda x, a: logits, kind="logit")(
      jnp.zeros((3, 2, 2, 3)), jnp.zeros((3, Z)), req)
  np.testing.assert_allclose(raw, logits)
  # A conditional request passes its attribute vector, broadcast, to D.
  seen = {}
  cond_req = rl_rewards.make_request(want=jnp.zeros(3),
                                     cond=jnp.array([1.0, 0.0]))
  rl_rewards.realism(lambda x, a: seen.setdefault("a", a)[:, 0])(
      jnp.zeros((3, 2, 2, 3)), jnp.zeros((3, Z)), cond_req)
  np.testing.assert_array_equal(seen["a"], [[1.0, 0.0]] * 3)


def test_attribute_reward_sign_and_scale():
  logits = jnp.array([[10.0, -10.0, 0.0],    # has a, lacks b
                      [-10.0, 10.0, 0.0]])   # lacks a, has b
  want = jnp.array([1.0, 0.0, 0.0])
  avoid = jnp.array([0.0, 1.0, 0.0])
  r = rl_rewards.attribute_log_prob(logits, want, avoid)
  assert float(r[0]) > -1e-3  # both facts hold with certainty: log 1 = 0
  np.testing.assert_allclose(r[1], -20.0, atol=1e-3)  # two confident misses
  # The undecided third attribute costs log 0.5 when requested.
  r3 = rl_rewards.attribute_log_prob(logits, jnp.array([1.0, 0.0, 1.0]), avoid)
  np.testing.assert_allclose(r3[0] - r[0], np.log(0.5), rtol=1e-5)
  hits = rl_rewards.attribute_hits(logits, want, avoid)
  np.testing.assert_array_equal(hits, [True, False])
  term = rl_rewards.attributes(lambda x: logits)
  req = rl_rewards.make_request(want=want, avoid=avoid)
  np.testing.assert_allclose(term(None, None, req), r)


def test_uniqueness_sign_and_scale():
  bank = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
  feats = jnp.array([[2.0, 0.0],     # same direction as a banked identity
                     [1.0, 1.0],     # 45 degrees from two of them
                     [0.0, -3.0]])   # 90 degrees from the nearest
  d = rl_rewards.nearest_distance(feats, bank, jnp.ones(3))
  np.testing.assert_allclose(d, [0.0, 1 - np.sqrt(0.5), 1.0], atol=1e-6)
  # Masked rows are ignored; opposite of the only valid row gives 2.
  d = rl_rewards.nearest_distance(jnp.array([[-1.0, 0.0]]), bank,
                                  jnp.array([1.0, 0.0, 0.0]))
  np.testing.assert_allclose(d, [2.0], atol=1e-6)
  # An empty bank gives 0 (nothing to stand out from), not inf/nan.
  d = rl_rewards.nearest_distance(feats, bank, jnp.zeros(3))
  np.testing.assert_array_equal(d, [0.0, 0.0, 0.0])


def test_prior_term():
  z = jnp.stack([jnp.zeros(Z), jnp.ones(Z), 3 * jnp.ones(Z)])
  r = rl_rewards.prior(None, z, None)
  np.testing.assert_allclose(r, [0.5, 0.0, -4.0])


def test_combine_weights_and_skips_zero_terms():
  def boom(images, z, request):
    raise AssertionError("a term with weight 0 must not run")

  terms = {"a": lambda x, z, r: jnp.ones(2), "b": lambda x, z, r: 3 * jnp.ones(2),
           "c": boom}
  f = rl_rewards.combine(terms, {"a": 2.0, "b": -1.0, "c": 0.0})
  np.testing.assert_allclose(f(None, None, None), [-1.0, -1.0])
  total, parts = rl_rewards.combine(terms, {"a": 1.0},
                                    return_terms=True)(None, None, None)
  assert set(parts) == {"a"}
  np.testing.assert_allclose(total, parts["a"])
  with pytest.raises(ValueError, match="unknown terms"):
    rl_rewards.combine(terms, {"zz": 1.0})
  with pytest.raises(ValueError, match="every reward weight is 0"):
    rl_rewards.combine(terms, {"a": 0.0})


def test_fit_preference_model_recovers_choices():
  k1, k2, k3 = jax.random.split(jax.random.key(4), 3)
  w_true = jax.random.normal(k1, (6,))
  fa = jax.random.normal(k2, (400, 6))
  fb = jax.random.normal(k3, (400, 6))
  prefer_a = (fa @ w_true > fb @ w_true).astype(jnp.float32)
  # One MLP fit (the linear model is its hidden=() special case).
  model = rl_rewards.fit_preference_model(fa[:300], fb[:300], prefer_a[:300],
                                          hidden=(16,), steps=200)
  term = rl_rewards.preference(lambda x: x, model)

  @jax.jit
  def check(params):
    s = lambda f: rl_rewards.preference_score(params, f)
    acc = jnp.mean((s(fa[300:]) > s(fb[300:])) == (prefer_a[300:] > 0))
    # As a reward term: higher for the preferred direction.
    return acc, term(jnp.stack([w_true, -w_true]), None, None)

  acc, r = check(model.params)
  assert float(acc) > 0.85, float(acc)
  assert float(r[0]) > float(r[1])
  with pytest.raises(ValueError, match="prefer_a"):
    rl_rewards.fit_preference_model(fa, fb[:10], prefer_a)


# -------------------------------------------- vmap, jit, determinism


@pytest.fixture(scope="module")
def toy_batched():
  """One jitted batched refine fn shared by the tests that must not retrace."""
  generate = _tiny_generate()
  reward, _ = _toy_reward()
  refiner = rl.reinforce(population=8, learning_rate=0.1)
  batched = rl.make_refine_fn(refiner, generate_fn=generate, reward_fn=reward,
                              z_dim=Z, budget=32)
  counted = chex.assert_max_traces(lambda k, r: batched(k, r), n=1)
  yield jax.jit(counted), (refiner, generate, reward)
  chex.clear_trace_counter()


def test_vmap_over_requests_equals_python_loop(toy_batched):
  fn, (refiner, generate, reward) = toy_batched
  requests = _toy_requests(64)
  keys = jax.random.split(jax.random.key(5), 64)
  # The loop slices host copies, so it dispatches nothing but the refinement.
  single = jax.jit(lambda k, req: rl.refine(
      refiner, jax.random.wrap_key_data(k), rl.latent_objective(
          generate, reward, req), z_dim=Z, budget=32,
      context=rl.request_features(req))[0])
  key_data = np.asarray(jax.random.key_data(keys))
  host_requests = jax.device_get(requests)
  got = jax.device_get(fn(keys, requests))
  for i in range(64):
    one = single(key_data[i], jax.tree.map(lambda x, i=i: x[i], host_requests))
    np.testing.assert_allclose(got.z[i], one.z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.curve[i], one.curve, rtol=1e-5, atol=1e-5)


def test_refine_loop_compiles_once_and_is_deterministic(toy_batched):
  fn, _ = toy_batched
  # Same shapes as the other user of `fn`: every call below reuses one trace
  # (assert_max_traces raises on a second one).
  a = fn(jax.random.split(jax.random.key(0), 64), _toy_requests(64, seed=2))
  b = fn(jax.random.split(jax.random.key(0), 64), _toy_requests(64, seed=2))
  c = fn(jax.random.split(jax.random.key(1), 64), _toy_requests(64, seed=3))
  chex.assert_trees_all_equal(a, b)  # same key -> bit-identical
  assert not np.allclose(a.z, c.z)


def test_sharded_and_chunked_requests_match_unsharded(toy_batched):
  fn, (refiner, generate, reward) = toy_batched
  requests = _toy_requests(64)
  keys = jax.random.split(jax.random.key(5), 64)
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  sharded = rl.refine_requests(refiner, keys, requests, generate_fn=generate,
                               reward_fn=reward, z_dim=Z, budget=32, mesh=mesh)
  if jax.device_count() > 1:
    assert sharded.z.sharding.spec[0] == "data"
  plain = fn(keys, requests)
  np.testing.assert_allclose(sharded.z, plain.z, rtol=1e-5, atol=1e-5)
  # Chunked refinement (lax.map over chunks of 16) gives the same answers.
  chunked = rl.refine_requests(refiner, keys, requests, generate_fn=generate,
                               reward_fn=reward, z_dim=Z, budget=32,
                               chunk_size=16)
  np.testing.assert_allclose(chunked.z, plain.z, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="do not split"):
    rl.shard_requests(mesh, jnp.zeros((jax.device_count() + 1, 2)))


# ------------------------------------------------------ RL vs baselines


def test_rl_beats_best_of_n_at_equal_budget():
  z_dim = 16
  generate = _tiny_generate(z_dim, seed=7)
  targets = generate(jax.random.normal(jax.random.key(8), (16, z_dim)))

  def reward_fn(images, z, request):  # closeness to a target image, <= 0
    del z
    return -jnp.mean(jnp.square(images - request.want.reshape(8, 8, 3)),
                     axis=(1, 2, 3)) * 100

  requests = rl_rewards.Request(
      want=targets.reshape(16, -1), avoid=jnp.zeros((16, 1)),
      cond=jnp.zeros((16, 0)), bank=jnp.zeros((16, 1, 1)),
      bank_mask=jnp.zeros((16, 1)))
  keys = jax.random.split(jax.random.key(9), 16)
  budget = 512
  mean_reward = {}
  for name, refiner in (
      ("best_of_n", rl.best_of_n(population=32)),
      ("reinforce", rl.reinforce(population=32, learning_rate=0.1)),
      ("es", rl.evolution_strategies(population=32, sigma=0.5))):
    res = rl.refine_requests(refiner, keys, requests, generate_fn=generate,
                             reward_fn=reward_fn, z_dim=z_dim, budget=budget)
    assert int(res.evals[0]) == budget
    mean_reward[name] = float(jnp.mean(res.reward))
  assert mean_reward["reinforce"] > mean_reward["best_of_n"], mean_reward
  assert mean_reward["es"] > mean_reward["best_of_n"], mean_reward


def test_amortized_policy_beats_prior_one_shot_hit_rate():
  num_attributes = 4
  generate = _tiny_generate()
  _, logits_fn = _toy_reward(num_attributes=num_attributes)
  reward_fn = rl_rewards.combine(
      {"attributes": rl_rewards.attributes(logits_fn)}, {"attributes": 1.0})

  def sample_requests(key, num=16):
    idx = jax.random.randint(key, (num,), 0, num_attributes)
    want = jax.nn.one_hot(idx, num_attributes)
    return rl_rewards.Request(want, jnp.zeros_like(want), jnp.zeros((num, 0)),
                              jnp.zeros((num, 1, 1)), jnp.zeros((num, 1)))

  policy = rl.amortized(hidden=64, num_layers=2, learning_rate=3e-3,
                        samples_per_request=8)
  objective_fn = lambda z, r: rl.latent_objective(generate, reward_fn, r)(z)
  state, info = rl.train_amortized(
      policy, jax.random.key(10), z_dim=Z, context_dim=2 * num_attributes,
      sample_requests=sample_requests, objective_fn=objective_fn, steps=150)
  assert float(info["reward_mean"][-20:].mean()) > float(
      info["reward_mean"][:20].mean())

  requests = sample_requests(jax.random.key(11), 64)
  keys = jax.random.split(jax.random.key(12), 64)

  @jax.jit
  def hit_rates(params):
    def one(k, req):
      prior_z = jax.random.normal(k, (8, Z))
      amortized_z = policy.sample(params, k, rl.request_features(req), 8)
      hits = lambda z: rl_rewards.attribute_hits(logits_fn(generate(z)),
                                                 req.want, req.avoid)
      return hits(prior_z), hits(amortized_z)
    prior, amortized = jax.vmap(one)(keys, requests)
    return jnp.mean(prior), jnp.mean(amortized)

  prior, amortized = map(float, hit_rates(state.params))
  assert amortized > prior + 0.1, (prior, amortized)


# ---------------------------------------------------------------- config


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
  with pytest.raises(UserError, match="refiners.rl.reinforce.baseline"):
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
    rl_rewards.attribute_vector(["Smilling"])


# ------------------------------------------- tasks from (fake) models


class _FakeModels:
  """Stands in for inference.Models: a tiny conditional G and a linear D."""
  z_dim = Z
  attribute_names = ("Smiling", "Male")
  attribute_marginals = np.array([0.4, 0.7], np.float32)

  def __init__(self):
    self._g = _tiny_generate()
    self._w = jax.random.normal(jax.random.key(20), (8 * 8 * 3, 5)) / 8.0

  def generate(self, z, attrs=None):
    assert attrs is not None and attrs.shape == (z.shape[0], 2)
    return jnp.clip(self._g(z) + 0.1 * attrs[:, :1, None, None], -1, 1)

  def discriminate(self, images, attrs=None, return_features=False):
    h = images.reshape(images.shape[0], -1) @ self._w  # [B, 5]
    feats = [h[:, None, None, :]]  # one [B, 1, 1, 5] "block"
    return (h[:, 0], feats) if return_features else h[:, 0]


class _FakeClassifier:
  attribute_names = ("Smiling", "Eyeglasses", "Male")

  def __init__(self):
    self._w = jax.random.normal(jax.random.key(21), (8 * 8 * 3, 3 + 4)) / 4.0

  def logits(self, images):
    return (images.reshape(images.shape[0], -1) @ self._w)[:, :3]

  def features(self, images):
    return (images.reshape(images.shape[0], -1) @ self._w)[:, 3:]


def test_model_task_with_classifier():
  models, clf = _FakeModels(), _FakeClassifier()
  cfg = rl.default_config()
  cfg.bank_size = 4
  pairs = (np.random.RandomState(0).randn(6, Z), np.random.RandomState(1).randn(6, Z),
           np.array([1, 0, 1, 1, 0, 1], np.float32))
  cfg.weights.preference = 0.5
  task = rl_rewards.model_task(models, clf, cfg=cfg, key=jax.random.key(0),
                               preference_pairs=pairs)
  assert set(task.weights) == {"realism", "attributes", "uniqueness",
                               "preference"} and task.dropped == ()
  want = rl_rewards.attribute_vector(["Smiling", "Eyeglasses"])
  avoid = rl_rewards.attribute_vector(["Male"], flag="--not")
  req = task.make_requests(want, avoid, 3)
  assert req.want.shape == (3, 40) and req.bank.shape[:2] == (3, 4)
  # The conditional G gets Smiling=1 (wanted) and Male=0 (unwanted)...
  np.testing.assert_array_equal(req.cond, [[1.0, 0.0]] * 3)
  # ...and, unconstrained, the data's most frequent values (0.4 -> 0, 0.7 -> 1).
  free = task.make_requests(np.zeros(40), np.zeros(40), 1)
  np.testing.assert_array_equal(free.cond, [[0.0, 1.0]])

  z = jax.random.normal(jax.random.key(1), (3, 5, Z))
  ev = rl.evaluate_latents(task, z, req)

  @jax.jit
  def reference(z):
    images = models.generate(z.reshape(15, Z), jnp.tile(
        jnp.array([[1.0, 0.0]]), (15, 1)))
    logits = clf.logits(images).reshape(3, 5, 3)
    # Smiling, Eyeglasses wanted; Male unwanted.
    return logits, (jax.nn.log_sigmoid(logits[..., 0]) +
                    jax.nn.log_sigmoid(logits[..., 1]) +
                    jax.nn.log_sigmoid(-logits[..., 2]))

  logits, want_lp = reference(z)
  np.testing.assert_allclose(ev["terms"]["attributes"], want_lp, rtol=1e-4,
                             atol=1e-5)
  np.testing.assert_array_equal(
      ev["hits"], (logits[..., 0] > 0) & (logits[..., 1] > 0) &
      (logits[..., 2] < 0))
  total = sum(task.weights[k] * ev["terms"][k] for k in task.weights)
  np.testing.assert_allclose(ev["reward"], total, rtol=1e-4, atol=1e-5)

  # Random training requests only ask for what the classifier knows.
  rnd = task.sample_requests(jax.random.key(2), 256)
  known = rl_rewards.attribute_vector(clf.attribute_names)
  assert float(jnp.sum(rnd.want * (1 - known))) == 0.0
  assert float(jnp.sum(rnd.want * rnd.avoid)) == 0.0
  assert 1.0 < float(rnd.want.sum(1).mean()) < 2.0  # mean_wanted = 1.5

  with pytest.raises(UserError, match="classifier does not predict"):
    task.make_requests(rl_rewards.attribute_vector(["Bald"]), np.zeros(40), 1)
  with pytest.raises(UserError, match="both name"):
    task.make_requests(want, want, 1)


def test_model_task_without_classifier():
  cfg = rl.default_config()
  cfg.bank_size = 0
  task = rl_rewards.model_task(_FakeModels(), None, cfg=cfg,
                               key=jax.random.key(0))
  assert task.hit_fn is None and task.dropped == ("attributes",)
  assert "attributes" not in task.weights
  # The conditional G still steers its own attributes; others are refused.
  task.make_requests(rl_rewards.attribute_vector(["Smiling"]), np.zeros(40), 1)
  with pytest.raises(UserError, match="--classifier_workdir"):
    task.make_requests(rl_rewards.attribute_vector(["Eyeglasses"]),
                       np.zeros(40), 1)
  req = task.make_requests(np.zeros(40), np.zeros(40), 2)
  ev = rl.evaluate_latents(task, jnp.zeros((2, Z)), req)
  assert ev["hits"] is None
  np.testing.assert_array_equal(ev["terms"]["uniqueness"], [0.0, 0.0])


# ------------------------------------------------------- tool end to end


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory):
  return testing.make_tiny_workdir(str(tmp_path_factory.mktemp("rl_run")))


def _tool(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="")
  return subprocess.run([sys.executable, os.path.join(REPO, "tools",
                                                      "refine.py"), *args],
                        capture_output=True, text=True, env=env, timeout=600,
                        check=False)


def test_refine_tool_compare_json(tiny_workdir, tmp_path):
  out = tmp_path / "grid.png"
  proc = _tool(f"--workdir={tiny_workdir}", "--budget=32", "--compare",
               "--json", "--num_requests=2", "--amortized_steps=3",
               f"--out={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  assert report["budget"] == 32
  assert set(report["methods"]) == set(rl.METHODS)
  for name, m in report["methods"].items():
    assert set(m) == {"mean_reward", "attr_hit_rate", "evals"}, name
    assert m["attr_hit_rate"] is None  # no classifier
    assert 0 < m["evals"] <= 32 and np.isfinite(m["mean_reward"])
  assert "best_of_n" in proc.stdout and out.exists()


def test_refine_tool_bad_input_is_one_line(tiny_workdir):
  proc = _tool(f"--workdir={tiny_workdir}", "--attrs=Smilling")
  assert proc.returncode == 2
  assert proc.stderr.strip().startswith("error: --attrs: unknown attribute")
  assert "Traceback" not in proc.stderr
  # An unconditional run without a classifier cannot steer attributes.
  proc = _tool(f"--workdir={tiny_workdir}", "--attrs=Smiling", "--budget=32")
  assert proc.returncode == 2 and "Traceback" not in proc.stderr
  assert "--classifier_workdir" in proc.stderr

"""Tests of the reward terms and `combine` (vid_jax/refiners/rl/rewards.py): signs and scales."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rl_fakes import Z
from vid_jax.refiners import rl


def test_realism_sign_and_scale():
  logits = jnp.array([-5.0, 0.0, 5.0])
  term = rl.realism(lambda x, a: logits)
  req = rl.make_request(want=jnp.zeros(3))
  r = term(jnp.zeros((3, 2, 2, 3)), jnp.zeros((3, Z)), req)
  np.testing.assert_allclose(r, jax.nn.log_sigmoid(logits), rtol=1e-6)
  np.testing.assert_allclose(r[1], np.log(0.5), rtol=1e-6)
  assert float(r[0]) < float(r[1]) < float(r[2]) <= 0.0
  raw = rl.realism(lambda x, a: logits, kind="logit")(jnp.zeros((3, 2, 2, 3)), jnp.zeros((3, Z)), req)
  np.testing.assert_allclose(raw, logits)
  # A conditional request passes its attribute vector, broadcast, to D.
  seen = {}
  cond_req = rl.make_request(want=jnp.zeros(3), cond=jnp.array([1.0, 0.0]))
  rl.realism(lambda x, a: seen.setdefault("a", a)[:, 0])(jnp.zeros((3, 2, 2, 3)), jnp.zeros((3, Z)), cond_req)
  np.testing.assert_array_equal(seen["a"], [[1.0, 0.0]] * 3)


def test_attribute_reward_sign_and_scale():
  logits = jnp.array([
      [10.0, -10.0, 0.0],  # has a, lacks b
      [-10.0, 10.0, 0.0]
  ])  # lacks a, has b
  want = jnp.array([1.0, 0.0, 0.0])
  avoid = jnp.array([0.0, 1.0, 0.0])
  r = rl.attribute_log_prob(logits, want, avoid)
  assert float(r[0]) > -1e-3  # both facts hold with certainty: log 1 = 0
  np.testing.assert_allclose(r[1], -20.0, atol=1e-3)  # two confident misses
  # The undecided third attribute costs log 0.5 when requested.
  r3 = rl.attribute_log_prob(logits, jnp.array([1.0, 0.0, 1.0]), avoid)
  np.testing.assert_allclose(r3[0] - r[0], np.log(0.5), rtol=1e-5)
  hits = rl.attribute_hits(logits, want, avoid)
  np.testing.assert_array_equal(hits, [True, False])
  term = rl.attributes(lambda x: logits)
  req = rl.make_request(want=want, avoid=avoid)
  np.testing.assert_allclose(term(None, None, req), r)


def test_uniqueness_sign_and_scale():
  bank = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
  feats = jnp.array([
      [2.0, 0.0],  # same direction as a banked identity
      [1.0, 1.0],  # 45 degrees from two of them
      [0.0, -3.0]
  ])  # 90 degrees from the nearest
  d = rl.nearest_distance(feats, bank, jnp.ones(3))
  np.testing.assert_allclose(d, [0.0, 1 - np.sqrt(0.5), 1.0], atol=1e-6)
  # Masked rows are ignored; opposite of the only valid row gives 2.
  d = rl.nearest_distance(jnp.array([[-1.0, 0.0]]), bank, jnp.array([1.0, 0.0, 0.0]))
  np.testing.assert_allclose(d, [2.0], atol=1e-6)
  # An empty bank gives 0 (nothing to stand out from), not inf/nan.
  d = rl.nearest_distance(feats, bank, jnp.zeros(3))
  np.testing.assert_array_equal(d, [0.0, 0.0, 0.0])


def test_prior_term():
  z = jnp.stack([jnp.zeros(Z), jnp.ones(Z), 3 * jnp.ones(Z)])
  r = rl.prior(None, z, None)
  np.testing.assert_allclose(r, [0.5, 0.0, -4.0])


def test_combine_weights_and_skips_zero_terms():

  def boom(images, z, request):
    raise AssertionError("a term with weight 0 must not run")

  terms = {"a": lambda x, z, r: jnp.ones(2), "b": lambda x, z, r: 3 * jnp.ones(2), "c": boom}
  f = rl.combine(terms, {"a": 2.0, "b": -1.0, "c": 0.0})
  np.testing.assert_allclose(f(None, None, None), [-1.0, -1.0])
  total, parts = rl.combine(terms, {"a": 1.0}, return_terms=True)(None, None, None)
  assert set(parts) == {"a"}
  np.testing.assert_allclose(total, parts["a"])
  with pytest.raises(ValueError, match="unknown terms"):
    rl.combine(terms, {"zz": 1.0})
  with pytest.raises(ValueError, match="every reward weight is 0"):
    rl.combine(terms, {"a": 0.0})

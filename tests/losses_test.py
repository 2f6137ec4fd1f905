"""GAN losses against their closed forms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import losses


def test_ns_losses_match_bce():
  real = jnp.array([2.0, -1.0, 0.5])
  fake = jnp.array([-3.0, 0.0, 1.0])
  sig = jax.nn.sigmoid
  want_d = -np.mean(np.log(sig(real))) - np.mean(np.log(1 - sig(fake)))
  np.testing.assert_allclose(losses.d_loss_ns(real_logits=real, fake_logits=fake), want_d, rtol=1e-6)
  np.testing.assert_allclose(losses.g_loss_ns(fake_logits=fake), -np.mean(np.log(sig(fake))), rtol=1e-6)


def test_hinge_losses():
  real = jnp.array([2.0, 0.5])
  fake = jnp.array([-2.0, 0.5])
  np.testing.assert_allclose(losses.d_loss_hinge(real_logits=real, fake_logits=fake), 0.25 + 0.75)
  np.testing.assert_allclose(losses.g_loss_hinge(fake_logits=fake), 0.75)


def test_r1_penalty_of_linear_discriminator():
  w = jax.random.normal(jax.random.PRNGKey(0), (4, 4, 3))
  d_fn = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
  real = jnp.ones((5, 4, 4, 3))
  np.testing.assert_allclose(losses.r1_penalty(d_fn=d_fn, real=real), 0.5 * jnp.sum(w**2), rtol=1e-5)


def test_combine_sums_weighted_terms_in_order_and_skips_zero_weights():
  calls = []

  def term(name, value):

    def compute():
      calls.append(name)
      return jnp.float32(value)

    return compute

  def never():
    raise AssertionError("a term with weight 0 was computed")

  terms = {
      "a": losses.Term(term("a", 1.5)),
      "b": losses.Term(never),
      "c": losses.Term(term("c", 0.25)),
      "d": losses.Term(term("d", 3.0), losses.inverse)
  }
  total, values = losses.combine(terms, {"a": 1.0, "b": 0.0, "c": 4.0, "d": 2.0})
  assert calls == ["a", "c", "d"] and set(values) == {"a", "c", "d"}
  np.testing.assert_allclose(total, 1.5 + 4.0 * 0.25 + 2.0 / (3.0 + losses.MODE_SEEKING_EPS), rtol=1e-6)
  np.testing.assert_array_equal(values["d"], 3.0)  # the value, not its weighted share
  with pytest.raises(ValueError, match="unknown terms"):
    losses.combine(terms, {"a": 1.0, "e": 1.0})
  with pytest.raises(ValueError, match="every loss weight is 0"):
    losses.combine(terms, {"a": 0.0})


def test_aux_cross_entropies():
  y = jnp.asarray([[1.0, 0.0], [0.0, 0.0]])
  # One sigmoid per attribute, all logits 0: log 2.
  np.testing.assert_allclose(losses.aux_ce(logits=jnp.zeros((2, 2)), attributes=y), np.log(2), rtol=1e-6)
  # (source, present) classes: a head sure of class (real, y_a) has loss ~0 for source 0, large for 1.
  logits = 20.0 * jax.nn.one_hot(y.astype(jnp.int32), 4).reshape(2, 2, 2, 2)
  assert float(losses.aux_ce(logits=logits, attributes=y, source=0)) < 1e-6
  assert float(losses.aux_ce(logits=logits, attributes=y, source=1)) > 19.0

"""GAN losses against their closed forms."""
import jax
import jax.numpy as jnp
import numpy as np

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
  np.testing.assert_allclose(losses.r1_penalty(d_fn=d_fn, real=real), 0.5 * jnp.sum(w ** 2), rtol=1e-5)

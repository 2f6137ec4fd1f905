"""GAN losses: small keyword-only pure functions returning scalars (float32)."""
import jax
import jax.numpy as jnp


def d_fake_ns(fake_logits):
  """The fake half of D's BCE: -log(1 - D(.)), mean over logits [B]."""
  return jnp.mean(jax.nn.softplus(fake_logits))


def d_loss_ns(*, real_logits, fake_logits):
  """Discriminator BCE: -log D(x) - log(1 - D(G(z))), from logits [B]."""
  return jnp.mean(jax.nn.softplus(-real_logits)) + d_fake_ns(fake_logits)


def g_loss_ns(*, fake_logits):
  """Non-saturating generator loss -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


def d_fake_hinge(fake_logits):
  """The fake half of D's hinge loss: max(0, 1 + D(.)), mean over logits [B]."""
  return jnp.mean(jax.nn.relu(1.0 + fake_logits))


def d_loss_hinge(*, real_logits, fake_logits):
  """Hinge discriminator loss (Lim & Ye 2017; Miyato et al. 2018)."""
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + d_fake_hinge(fake_logits)


def g_loss_hinge(*, fake_logits):
  """Hinge generator loss: -E[D(G(z))]."""
  return -jnp.mean(fake_logits)


def r1_penalty(*, d_fn, real):
  """R1 (Mescheder et al. 2018): 0.5 * E ||grad_x D(x)||^2 on real images.

  Args:
    d_fn: images [B, H, W, C] -> logits [B]; examples must be independent.
    real: images [B, H, W, C].
  """
  grads = jax.grad(lambda x: jnp.sum(d_fn(x)))(real)  # [B, H, W, C]
  return 0.5 * jnp.mean(jnp.sum(jnp.square(grads.astype(jnp.float32)), axis=(1, 2, 3)))


LOSSES = {
    "ns": (d_loss_ns, g_loss_ns),
    "hinge": (d_loss_hinge, g_loss_hinge),
}
D_FAKE_TERMS = {"ns": d_fake_ns, "hinge": d_fake_hinge}  # D's loss on what it should call fake

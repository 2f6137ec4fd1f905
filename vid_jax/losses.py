"""GAN losses: small keyword-only pure functions returning scalars (float32), and `combine`, which
sums named terms with their weights (the train step's D and G losses)."""
from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax


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

# -- terms --------------------------------------------------------------------------------------------
MODE_SEEKING_EPS = 1e-5


def aux_ce(*, logits, attributes, source: int = 0):
  """Attribute cross-entropy of D's head, mean over examples and attributes.

  Args:
    logits: the head's output: [B, A] (AC-GAN: one sigmoid per attribute) or [B, A, 2, 2] (ADC-GAN:
      classes (source, present) per attribute).
    attributes: [B, A] in {0, 1}.
    source: for [B, A, 2, 2] logits, 0 = real, 1 = fake: the target class of attribute a is
      (source, y_a), so D learns to tell a fake's attributes from a real's and G cannot satisfy the
      head with patterns only D reads as the attribute.
  """
  if logits.ndim == 2:
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, attributes))
  b, a = attributes.shape
  labels = 2 * source + attributes.astype(jnp.int32)  # [B, A] in 0..3
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits.reshape(b, a, 4), labels))


def pair_spread(images, z):
  """Mean over adjacent pairs (2i, 2i+1) of mean |x_2i - x_2i+1| / mean |z_2i - z_2i+1|.

  Mode seeking (Mao et al. 2019, MSGAN): G minimises weight / (spread + eps), so two latents with
  the same attributes may not land on the same image (a conditional G otherwise learns to ignore z).
  images [B, H, W, C], z [B, Z] -> scalar.
  """
  b = images.shape[0] // 2 * 2
  dx = jnp.mean(jnp.abs(images[0:b:2] - images[1:b:2]).astype(jnp.float32), axis=(1, 2, 3))
  dz = jnp.mean(jnp.abs(z[0:b:2] - z[1:b:2]), axis=1)
  return jnp.mean(dx / dz)


def times(weight, value):
  """How most terms take their weight: weight * value."""
  return weight * value


def inverse(weight, value):
  """The mode-seeking term's weighting: weight / (value + eps) (MSGAN's form)."""
  return weight / (value + MODE_SEEKING_EPS)


class Term(NamedTuple):
  """A named loss term: `value()` computes its (logged) value, `weigh(weight, value)` its share."""
  value: Callable[[], jax.Array]
  weigh: Callable[[float, jax.Array], jax.Array] = times


def combine(terms: Mapping[str, Term], weights: Mapping[str, float]):
  """The weighted sum of loss terms, in the order of `terms`; a term with weight 0 is not computed.

  (The order is part of the result: float addition is not associative.)

  Args:
    terms: name -> Term.
    weights: name -> weight (a name missing from `weights` gets 0).

  Returns:
    (total scalar, {name: value} of the computed terms).

  Raises:
    ValueError: a non-zero weight names no term, or every weight is 0.
  """
  unknown = sorted(k for k, w in weights.items() if w and k not in terms)
  if unknown:
    raise ValueError(f"loss weights name unknown terms {unknown}; available: {list(terms)}")
  total, values = None, {}
  for name, term in terms.items():
    weight = weights.get(name, 0)
    if not weight:
      continue
    values[name] = term.value()
    share = term.weigh(weight, values[name])
    total = share if total is None else total + share
  if total is None:
    raise ValueError(f"every loss weight is 0; terms: {list(terms)}")
  return total, values

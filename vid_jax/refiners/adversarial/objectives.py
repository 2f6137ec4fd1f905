"""Losses for the attacks to maximise, per example `[B]`: D fooled, attributes pushed, cross-entropy."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from vid_jax.data.attributes import ATTRIBUTE_INDEX
from vid_jax.errors import UserError
from vid_jax.refiners.adversarial.attacks import Array, LossFn


def d_misclassification_loss(d_logits_fn: Callable[[Array], Array], is_real: Array) -> LossFn:
  """Pushes D to misclassify: reals toward 'fake', fakes toward 'real'.

  Args:
    d_logits_fn: images `[B, ...]` -> logits `[B]` (D in inference mode).
    is_real: `[B]` bool, the true label of each input.

  Returns:
    loss_fn(x) = log sigmoid(-logit) for reals, log sigmoid(logit) for fakes
    (minus the cross-entropy toward the wrong label).
  """
  sign = jnp.where(jnp.asarray(is_real), -1.0, 1.0)  # [B]

  def loss_fn(x):
    return jax.nn.log_sigmoid(sign * d_logits_fn(x).astype(jnp.float32))

  return loss_fn


def fakes_called_real_loss(d_logits_fn: Callable[[Array], Array]) -> LossFn:
  """loss_fn making D call its inputs real: log sigmoid(logit), `[B]`."""
  return lambda x: jax.nn.log_sigmoid(d_logits_fn(x).astype(jnp.float32))


def reals_called_fake_loss(d_logits_fn: Callable[[Array], Array]) -> LossFn:
  """loss_fn making D call its inputs fake: log sigmoid(-logit), `[B]`."""
  return lambda x: jax.nn.log_sigmoid(-d_logits_fn(x).astype(jnp.float32))


def _attribute_index(index: int | str) -> int:
  if isinstance(index, str):
    if index not in ATTRIBUTE_INDEX:
      raise UserError(f"attribute {index!r} is unknown; use a CelebA attribute name such as "
                      f"'Smiling' (see vid_jax.data.attributes.ATTRIBUTE_NAMES)")
    return ATTRIBUTE_INDEX[index]
  return index


def toward_attribute_loss(logits_fn: Callable[[Array], Array], index: int | str) -> LossFn:
  """loss_fn pushing an attribute classifier toward attribute `index`.

  Args:
    logits_fn: images `[B, ...]` -> per-attribute logits `[B, A]`
      (sigmoid(logit) = P(attribute present)).
    index: attribute column (int, possibly traced) or CelebA attribute name.

  Returns:
    loss_fn(x) = log sigmoid(logits[:, index]), `[B]`.
  """
  index = _attribute_index(index)
  return lambda x: jax.nn.log_sigmoid(logits_fn(x)[:, index].astype(jnp.float32))


def away_from_attribute_loss(logits_fn: Callable[[Array], Array], index: int | str) -> LossFn:
  """loss_fn pushing an attribute classifier away from attribute `index`.

  Returns:
    loss_fn(x) = log sigmoid(-logits[:, index]), `[B]`. Arguments as in
    `toward_attribute_loss`.
  """
  index = _attribute_index(index)
  return lambda x: jax.nn.log_sigmoid(-logits_fn(x)[:, index].astype(jnp.float32))


def cross_entropy_loss(logits_fn: Callable[[Array], Array], labels: Array) -> LossFn:
  """Untargeted classifier attack: per-example softmax cross-entropy `[B]`.

  This is the loss foolbox's gradient attacks maximize, so `pgd`/`fgsm` with
  it reproduce `foolbox.attacks.LinfPGD` / `L2PGD` / `FGSM` / `L2FGM` runs.

  Args:
    logits_fn: inputs `[B, ...]` -> class logits `[B, K]`.
    labels: `[B]` int true classes.
  """

  def loss_fn(x):
    logp = jax.nn.log_softmax(logits_fn(x).astype(jnp.float32), axis=-1)  # [B, K]
    return -jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0]

  return loss_fn

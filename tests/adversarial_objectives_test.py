"""Tests of the attack objectives (vid_jax/refiners/adversarial/objectives.py)."""
import jax
import jax.numpy as jnp
import pytest

from adversarial_fakes import d_net, net
from vid_jax.errors import UserError
from vid_jax.refiners import adversarial as adv
from vid_jax.refiners.adversarial import objectives


def test_loss_helpers_push_the_right_way():
  d = d_net(3)  # D logits [B]
  attrs = net(40, seed=4)  # attribute classifier [B, 40]
  smiling = objectives._attribute_index("Smiling")
  assert smiling == 31
  x = jax.random.uniform(jax.random.key(13), (8, 6, 6, 3), minval=-1.0, maxval=1.0)

  @jax.jit
  def moved(x):
    return [
        adv.fgsm(loss_fn, x, eps=0.1)
        for loss_fn in (adv.fakes_called_real_loss(d), adv.reals_called_fake_loss(d),
                        adv.toward_attribute_loss(attrs, "Smiling"),
                        adv.away_from_attribute_loss(attrs, smiling))
    ]

  up, down, toward, away = moved(x)
  assert bool(jnp.all(d(up) > d(x))) and bool(jnp.all(d(down) < d(x)))
  assert bool(jnp.all(attrs(toward)[:, smiling] > attrs(x)[:, smiling]))
  assert bool(jnp.all(attrs(away)[:, smiling] < attrs(x)[:, smiling]))
  with pytest.raises(UserError, match="Smilling"):
    adv.toward_attribute_loss(attrs, "Smilling")
  with pytest.raises(ValueError, match="norm"):
    adv.fgsm(adv.fakes_called_real_loss(d), x, eps=0.1, norm="l1")

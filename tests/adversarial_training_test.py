"""Tests of adversarial training of D (vid_jax/refiners/adversarial/training.py) and its config."""
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from adversarial_fakes import d_net, norms
from vid_jax import testing
from vid_jax.errors import UserError
from vid_jax.refiners import adversarial as adv


def test_perturb_d_inputs():
  d = d_net(5)  # [B]
  real = jax.random.uniform(jax.random.key(14), (5, 6, 6, 3), minval=-1.0, maxval=1.0)
  fake = jax.random.uniform(jax.random.key(15), (5, 6, 6, 3), minval=-1.0, maxval=1.0)
  hp = dict(norm="linf", eps=0.1, step_size=0.05, num_steps=3, fraction=0.5)
  hook = jax.jit(lambda r, f, k: adv.perturb_d_inputs(d, r, f, k, **hp))
  real_adv, fake_adv = hook(real, fake, jax.random.key(16))
  assert real_adv.shape == real.shape and fake_adv.shape == fake.shape
  k = adv.num_perturbed(5, 0.5)
  assert k == 3
  np.testing.assert_array_equal(real_adv[k:], real[k:])
  np.testing.assert_array_equal(fake_adv[k:], fake[k:])
  assert float(norms(real_adv[:k] - real[:k], "linf").max()) <= 0.1 + 1e-6
  assert float(norms(fake_adv[:k] - fake[:k], "linf").min()) > 0.0
  assert bool(jnp.all(d(real_adv[:k]) < d(real[:k])))  # reals pushed toward 'fake'
  assert bool(jnp.all(d(fake_adv[:k]) > d(fake[:k])))  # fakes pushed toward 'real'
  # The perturbation is a constant for differentiation.
  g = jax.jit(jax.grad(lambda r: jnp.sum(adv.perturb_d_inputs(d, r, fake, jax.random.key(0), **hp)[0])))
  np.testing.assert_array_equal(g(real), jnp.ones_like(real))
  # Conditional D: the attributes of the attacked rows, here with a sign flip per row.
  y_real = jnp.array([[1.0], [0.0], [1.0], [0.0], [1.0]])  # [5, 1]
  y_fake = 1.0 - y_real
  d_cond = lambda x, y: d(x) * (2.0 * y[:, 0] - 1.0)
  hp_all = dict(hp, fraction=1.0)  # 10 attacked rows for 5 attribute rows per side
  y_rows = adv.d_input_attributes(y_real, y_fake, hp_all["fraction"])  # [10, 1]
  real_c, fake_c = jax.jit(
      lambda r, f, k: adv.perturb_d_inputs(lambda x: d_cond(x, y_rows), r, f, k, **hp_all))(real, fake,
                                                                                            jax.random.key(1))
  assert bool(jnp.all(d_cond(real_c, y_real) < d_cond(real, y_real)))
  assert bool(jnp.all(d_cond(fake_c, y_fake) > d_cond(fake, y_fake)))
  for off in (dict(hp, fraction=0.0), dict(hp, num_steps=0)):
    r, f = adv.perturb_d_inputs(d, real, fake, jax.random.key(0), **off)
    assert r is real and f is fake


def test_config_section():
  cfg = adv.default_config()
  adv.validate_config(cfg)
  assert not cfg.enabled and cfg.num_steps == 3 and cfg.fraction == 0.5
  assert math.isclose(cfg.eps, 4 / 255)  # 2/255 of the [0, 1] range in the [-1, 1] scale
  assert adv.hparams_from_config(cfg) == dict(norm="linf", eps=cfg.eps, step_size=cfg.step_size, num_steps=3,
                                              fraction=0.5)
  for field, bad in (("norm", "l1"), ("eps", -0.1), ("num_steps", 2.5), ("num_steps", -1), ("fraction", 1.5),
                     ("enabled", "yes"), ("step_size", None)):
    broken = ml_collections.ConfigDict(dict(cfg.to_dict(), **{field: bad}))
    with pytest.raises(UserError, match=f"adversarial.{field}="):
      adv.validate_config(broken)
  del cfg.fraction
  with pytest.raises(UserError, match="fraction is missing"):
    adv.validate_config(cfg)


def test_robust_config_is_the_base_plus_adversarial_training():
  for arg in (None, "smoke"):
    base = testing.load_config_file("dcgan_avatars", arg).to_dict()
    robust = testing.load_config_file("dcgan_avatars_robust", arg).to_dict()
    section = robust["refiners"].pop("adversarial")
    base["refiners"].pop("adversarial")
    assert robust == base, arg  # `:arg` variants pass through unchanged
    assert section["enabled"] is True
    adv.validate_config(ml_collections.ConfigDict(section))

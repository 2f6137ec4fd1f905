"""Tests of D's robustness under attack (vid_jax/refiners/adversarial/robustness.py)."""
import jax
import jax.numpy as jnp
import numpy as np

from adversarial_fakes import d_net
from vid_jax.refiners import adversarial as adv


def test_robustness_curve():
  d = d_net(6)
  x = jax.random.uniform(jax.random.key(17), (32, 6, 6, 3), minval=-1.0, maxval=1.0)
  is_real = d(x) > 0  # D is right on every clean example
  curve = jax.jit(lambda x, e: adv.robustness_curve(d, x, is_real, jax.random.key(0), e, num_steps=5))(
      x, jnp.array([0.0, 0.05, 1.0]))
  assert curve["fgsm"].shape == (3, 32) and curve["pgd"].shape == (3, 32)
  assert float(curve["clean"].mean()) == 1.0
  np.testing.assert_array_equal(curve["fgsm"][0], curve["clean"])
  np.testing.assert_array_equal(curve["pgd"][0], curve["clean"])
  acc_pgd = curve["pgd"].mean(axis=1)
  assert float(acc_pgd[2]) < 0.2 and float(acc_pgd[1]) <= 1.0
  assert float(curve["pgd"][2].mean()) <= float(curve["fgsm"][2].mean())

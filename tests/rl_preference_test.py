"""Tests of the Bradley-Terry preference model (vid_jax/refiners/rl/preference.py)."""
import jax
import jax.numpy as jnp
import pytest

from vid_jax.refiners import rl


def test_fit_preference_model_recovers_choices():
  k1, k2, k3 = jax.random.split(jax.random.key(4), 3)
  w_true = jax.random.normal(k1, (6,))
  fa = jax.random.normal(k2, (400, 6))
  fb = jax.random.normal(k3, (400, 6))
  prefer_a = (fa @ w_true > fb @ w_true).astype(jnp.float32)
  # One MLP fit (the linear model is its hidden=() special case).
  model = rl.fit_preference_model(fa[:300], fb[:300], prefer_a[:300], hidden=(16,), steps=200)
  term = rl.preference(lambda x: x, model)

  @jax.jit
  def check(params):
    s = lambda f: rl.preference_score(params, f)
    acc = jnp.mean((s(fa[300:]) > s(fb[300:])) == (prefer_a[300:] > 0))
    # As a reward term: higher for the preferred direction.
    return acc, term(jnp.stack([w_true, -w_true]), None, None)

  acc, r = check(model.params)
  assert float(acc) > 0.85, float(acc)
  assert float(r[0]) > float(r[1])
  with pytest.raises(ValueError, match="prefer_a"):
    rl.fit_preference_model(fa, fb[:10], prefer_a)

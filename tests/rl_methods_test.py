"""Tests of the latent refiners (vid_jax/refiners/rl/methods.py): each reaches a known optimum."""
import jax
import jax.numpy as jnp
import numpy as np

from rl_fakes import Z, quadratic
from vid_jax.refiners import rl


def test_reinforce_converges_to_optimum_and_kl_pulls_to_prior():
  z_star = jax.random.normal(jax.random.key(1), (Z,))
  run = lambda kl: jax.jit(lambda k: rl.
                           refine(rl.reinforce(population=32, learning_rate=0.1, kl_weight=kl), k,
                                  quadratic(z_star), z_dim=Z, budget=32 * 150))(jax.random.key(0))
  result, state = run(0.0)
  assert float(jnp.linalg.norm(state.params.mean - z_star)) < 0.3
  assert float(jnp.max(jnp.exp(state.params.log_std))) < 0.3  # it committed
  assert float(result.reward) > -0.1
  assert int(result.evals) == 32 * 150
  # The best-so-far curve never decreases.
  assert bool(jnp.all(jnp.diff(result.curve) >= 0))
  # A KL to N(0, I) trades reward for a mean closer to the prior's.
  _, pulled = run(2.0)
  assert float(jnp.linalg.norm(pulled.params.mean)) < 0.8 * float(jnp.linalg.norm(state.params.mean))


def test_reinforce_ema_baseline_improves():
  z_star = jax.random.normal(jax.random.key(1), (Z,))
  refiner = rl.reinforce(population=32, learning_rate=0.1, baseline="ema")
  _, state = jax.jit(lambda k: rl.refine(refiner, k, quadratic(z_star), z_dim=Z, budget=32 * 100))(
      jax.random.key(0))
  # Started at distance |z*| (about 2.8); must have moved most of the way.
  assert float(jnp.linalg.norm(state.params.mean - z_star)) < 0.3 * float(jnp.linalg.norm(z_star))


def test_es_converges_to_optimum():
  z_star = jax.random.normal(jax.random.key(1), (Z,))
  refiner = rl.evolution_strategies(population=32, learning_rate=0.1, sigma=0.3)
  result, state = jax.jit(lambda k: rl.refine(refiner, k, quadratic(z_star), z_dim=Z, budget=32 * 150))(
      jax.random.key(0))
  assert float(jnp.linalg.norm(state.mean - z_star)) < 0.1
  assert float(result.reward) > -0.2


def test_score_function_gradient_matches_analytic():
  z_star = jnp.array([1.0, -0.5, 0.3, 2.0])
  params = rl.GaussianParams(jnp.array([0.2, 0.4, -1.0, 0.5]), jnp.log(jnp.array([0.5, 1.0, 0.8, 0.3])))
  std = jnp.exp(params.log_std)
  # E[-|z - z*|^2] = -|m - z*|^2 - sum(std^2):
  want_mean = -2.0 * (params.mean - z_star)
  want_log_std = -2.0 * jnp.square(std)
  for baseline in ("none", "loo"):
    est, se = rl.score_function_gradient(params, jax.random.key(3), quadratic(z_star), num_samples=20000,
                                         baseline=baseline)
    # 5 standard errors of the Monte-Carlo mean: a false alarm has
    # probability < 8 * 6e-7 over the 8 coordinates.
    np.testing.assert_array_less(jnp.abs(est.mean - want_mean), 5 * se.mean)
    np.testing.assert_array_less(jnp.abs(est.log_std - want_log_std), 5 * se.log_std)
    # ...and the tolerance is tight enough to catch a wrong estimator.
    assert float(jnp.max(5 * se.mean / jnp.abs(want_mean))) < 0.5
  # The baseline lowers the variance (same samples).
  _, se_none = rl.score_function_gradient(params, jax.random.key(3), quadratic(z_star), num_samples=20000)
  _, se_loo = rl.score_function_gradient(params, jax.random.key(3), quadratic(z_star), num_samples=20000,
                                         baseline="loo")
  assert float(jnp.sum(se_loo.mean)) < float(jnp.sum(se_none.mean))


def test_gradient_ascent_and_best_of_n_improve():
  z_star = jax.random.normal(jax.random.key(1), (Z,))
  obj = quadratic(z_star)
  results = {}
  for name, refiner in (("gradient", rl.gradient_ascent(chains=4,
                                                        learning_rate=0.1)), ("best_of_n",
                                                                              rl.best_of_n(population=4))):
    results[name], _ = jax.jit(lambda k, r=refiner: rl.refine(r, k, obj, z_dim=Z, budget=4 * 200))(
        jax.random.key(0))
    assert float(results[name].curve[-1]) > float(results[name].curve[0])
  # Gradient ascent on a concave objective reaches the optimum; random search
  # in 8 dimensions does not come close.
  assert float(results["gradient"].reward) > -1e-3
  assert float(results["best_of_n"].reward) < -0.5

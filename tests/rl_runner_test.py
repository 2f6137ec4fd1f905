"""Tests of the refine runner (vid_jax/refiners/rl/runner.py): vmap = loop, one trace, mesh, budget."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rl_fakes import Z, tiny_generate, toy_requests, toy_reward
from vid_jax.refiners import rl


@pytest.fixture(scope="module")
def toy_batched():
  """One jitted batched refine fn shared by the tests that must not retrace."""
  generate = tiny_generate()
  reward, _ = toy_reward()
  refiner = rl.reinforce(population=8, learning_rate=0.1)
  batched = rl.make_refine_fn(refiner, generate_fn=generate, reward_fn=reward, z_dim=Z, budget=32)
  counted = chex.assert_max_traces(lambda k, r: batched(k, r), n=1)
  yield jax.jit(counted), (refiner, generate, reward)
  chex.clear_trace_counter()


def test_vmap_over_requests_equals_python_loop(toy_batched):
  fn, (refiner, generate, reward) = toy_batched
  requests = toy_requests(64)
  keys = jax.random.split(jax.random.key(5), 64)
  # The loop slices host copies, so it dispatches nothing but the refinement.
  single = jax.jit(
      lambda k, req: rl.refine(refiner, jax.random.wrap_key_data(k), rl.latent_objective(
          generate, reward, req), z_dim=Z, budget=32, context=rl.request_features(req))[0])
  key_data = np.asarray(jax.random.key_data(keys))
  host_requests = jax.device_get(requests)
  got = jax.device_get(fn(keys, requests))
  for i in range(64):
    one = single(key_data[i], jax.tree.map(lambda x, i=i: x[i], host_requests))
    np.testing.assert_allclose(got.z[i], one.z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.curve[i], one.curve, rtol=1e-5, atol=1e-5)


def test_refine_loop_compiles_once_and_is_deterministic(toy_batched):
  fn, _ = toy_batched
  # Same shapes as the other user of `fn`: every call below reuses one trace
  # (assert_max_traces raises on a second one).
  a = fn(jax.random.split(jax.random.key(0), 64), toy_requests(64, seed=2))
  b = fn(jax.random.split(jax.random.key(0), 64), toy_requests(64, seed=2))
  c = fn(jax.random.split(jax.random.key(1), 64), toy_requests(64, seed=3))
  chex.assert_trees_all_equal(a, b)  # same key -> bit-identical
  assert not np.allclose(a.z, c.z)


def test_sharded_and_chunked_requests_match_unsharded(toy_batched):
  fn, (refiner, generate, reward) = toy_batched
  requests = toy_requests(64)
  keys = jax.random.split(jax.random.key(5), 64)
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  sharded = rl.refine_requests(refiner, keys, requests, generate_fn=generate, reward_fn=reward, z_dim=Z,
                               budget=32, mesh=mesh)
  if jax.device_count() > 1:
    assert sharded.z.sharding.spec[0] == "data"
  plain = fn(keys, requests)
  np.testing.assert_allclose(sharded.z, plain.z, rtol=1e-5, atol=1e-5)
  # Chunked refinement (lax.map over chunks of 16) gives the same answers.
  chunked = rl.refine_requests(refiner, keys, requests, generate_fn=generate, reward_fn=reward, z_dim=Z,
                               budget=32, chunk_size=16)
  np.testing.assert_allclose(chunked.z, plain.z, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="do not split"):
    rl.shard_requests(mesh, jnp.zeros((jax.device_count() + 1, 2)))


# ------------------------------------------------------ RL vs baselines


def test_rl_beats_best_of_n_at_equal_budget():
  z_dim = 16
  generate = tiny_generate(z_dim, seed=7)
  targets = generate(jax.random.normal(jax.random.key(8), (16, z_dim)))

  def reward_fn(images, z, request):  # closeness to a target image, <= 0
    del z
    return -jnp.mean(jnp.square(images - request.want.reshape(8, 8, 3)), axis=(1, 2, 3)) * 100

  requests = rl.Request(want=targets.reshape(16, -1), avoid=jnp.zeros((16, 1)), cond=jnp.zeros((16, 0)),
                        bank=jnp.zeros((16, 1, 1)), bank_mask=jnp.zeros((16, 1)))
  keys = jax.random.split(jax.random.key(9), 16)
  budget = 512
  mean_reward = {}
  for name, refiner in (("best_of_n", rl.best_of_n(population=32)),
                        ("reinforce", rl.reinforce(population=32, learning_rate=0.1)),
                        ("es", rl.evolution_strategies(population=32, sigma=0.5))):
    res = rl.refine_requests(refiner, keys, requests, generate_fn=generate, reward_fn=reward_fn, z_dim=z_dim,
                             budget=budget)
    assert int(res.evals[0]) == budget
    mean_reward[name] = float(jnp.mean(res.reward))
  assert mean_reward["reinforce"] > mean_reward["best_of_n"], mean_reward
  assert mean_reward["es"] > mean_reward["best_of_n"], mean_reward

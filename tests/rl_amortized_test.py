"""Tests of the amortised policy (vid_jax/refiners/rl/amortized.py)."""
import jax
import jax.numpy as jnp

from rl_fakes import Z, tiny_generate, toy_reward
from vid_jax.refiners import rl


def test_amortized_policy_beats_prior_one_shot_hit_rate():
  num_attributes = 4
  generate = tiny_generate()
  _, logits_fn = toy_reward(num_attributes=num_attributes)
  reward_fn = rl.combine({"attributes": rl.attributes(logits_fn)}, {"attributes": 1.0})

  def sample_requests(key, num=16):
    idx = jax.random.randint(key, (num,), 0, num_attributes)
    want = jax.nn.one_hot(idx, num_attributes)
    return rl.Request(want, jnp.zeros_like(want), jnp.zeros((num, 0)), jnp.zeros((num, 1, 1)),
                      jnp.zeros((num, 1)))

  policy = rl.amortized(hidden=64, num_layers=2, learning_rate=3e-3, samples_per_request=8)
  objective_fn = lambda z, r: rl.latent_objective(generate, reward_fn, r)(z)
  state, info = rl.train_amortized(policy, jax.random.key(10), z_dim=Z, context_dim=2 * num_attributes,
                                   sample_requests=sample_requests, objective_fn=objective_fn, steps=150)
  assert float(info["reward_mean"][-20:].mean()) > float(info["reward_mean"][:20].mean())

  requests = sample_requests(jax.random.key(11), 64)
  keys = jax.random.split(jax.random.key(12), 64)

  @jax.jit
  def hit_rates(params):

    def one(k, req):
      prior_z = jax.random.normal(k, (8, Z))
      amortized_z = policy.sample(params, k, rl.request_features(req), 8)
      hits = lambda z: rl.attribute_hits(logits_fn(generate(z)), req.want, req.avoid)
      return hits(prior_z), hits(amortized_z)

    prior, amortized = jax.vmap(one)(keys, requests)
    return jnp.mean(prior), jnp.mean(amortized)

  prior, amortized = map(float, hit_rates(state.params))
  assert amortized > prior + 0.1, (prior, amortized)

"""Tests of the attacks (vid_jax/refiners/adversarial/attacks.py): ball, strength, foolbox parity, jit."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adversarial_fakes import NORMS, net, norms
from vid_jax.refiners import adversarial as adv


@pytest.fixture(scope="module")
def classifier():
  return net(3)


@pytest.fixture(scope="module")
def batch():
  x = jax.random.uniform(jax.random.key(1), (16, 6, 6, 3), minval=-1.0, maxval=1.0)
  # Put some coordinates on the box boundary so clipping is exercised.
  return x.at[:, 0, 0, :].set(1.0).at[:, 1, 1, :].set(-1.0)  # [16, 6, 6, 3]


def _predicted_labels(fn, x):
  return jnp.argmax(fn(x), axis=-1)


@pytest.mark.parametrize("norm", NORMS)
def test_inside_ball_and_clip_range(classifier, batch, norm):
  eps = 0.3 if norm == "linf" else 2.0
  loss_fn = adv.cross_entropy_loss(classifier, _predicted_labels(classifier, batch))
  # Clip bounds traced: one compilation serves both boxes.
  attack = jax.jit(
      lambda x, lo, hi: {
          "pgd":
              adv.pgd(loss_fn, x, jax.random.key(2), eps=eps, step_size=eps / 2, num_steps=5, norm=norm,
                      clip_min=lo, clip_max=hi),
          "fgsm":
              adv.fgsm(loss_fn, x, eps=eps, norm=norm, clip_min=lo, clip_max=hi),
      })
  for clip_min, clip_max in ((-1.0, 1.0), (-0.5, 0.5)):
    x = jnp.clip(batch, clip_min, clip_max)
    outs = attack(x, clip_min, clip_max)
    for name, x_adv in outs.items():
      assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
      delta_norms = norms(x_adv - x, norm)
      assert float(delta_norms.max()) <= eps * (1 + 1e-5), name
      assert float(delta_norms.min()) > 0.1 * eps, name  # it did move every example
      assert float(x_adv.min()) >= clip_min and float(x_adv.max()) <= clip_max, name
      assert float(jnp.mean(x_adv == clip_max)) > 0.01, name  # the box was active


@pytest.mark.parametrize("norm", NORMS)
def test_eps_zero_is_identity(classifier, batch, norm):
  loss_fn = adv.cross_entropy_loss(classifier, jnp.zeros(batch.shape[0], jnp.int32))
  x_pgd = adv.pgd(loss_fn, batch, jax.random.key(3), eps=0.0, step_size=0.1, num_steps=3, norm=norm)
  x_fgsm = adv.fgsm(loss_fn, batch, eps=0.0, norm=norm)
  np.testing.assert_array_equal(np.asarray(x_pgd), np.asarray(batch))
  np.testing.assert_array_equal(np.asarray(x_fgsm), np.asarray(batch))


def test_success_rises_with_eps(classifier):
  x = jax.random.uniform(jax.random.key(4), (64, 6, 6, 3), minval=-1.0, maxval=1.0)
  labels = _predicted_labels(classifier, x)
  loss_fn = adv.cross_entropy_loss(classifier, labels)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def success(eps):  # eps traced: one compilation for the whole grid
    x_adv = adv.pgd(loss_fn, x, jax.random.key(5), eps=eps, step_size=eps / 4, num_steps=8)
    return jnp.mean(_predicted_labels(classifier, x_adv) != labels)

  rates = [float(success(e)) for e in (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)]
  assert rates[0] == 0.0
  assert all(b >= a for a, b in zip(rates, rates[1:])), rates
  assert rates[-1] >= 0.9, rates


def test_pgd_at_least_as_strong_as_fgsm(classifier):
  sharp = lambda x: classifier(8.0 * x)  # high gain: curved within the ball, FGSM is not optimal
  x = jax.random.uniform(jax.random.key(6), (64, 6, 6, 3), minval=-1.0, maxval=1.0)
  labels = _predicted_labels(sharp, x)
  loss_fn = adv.cross_entropy_loss(sharp, labels)
  for norm, eps in (("linf", 0.05), ("l2", 0.3)):
    x_f = adv.fgsm(loss_fn, x, eps=eps, norm=norm)
    x_p = adv.pgd(loss_fn, x, jax.random.key(7), eps=eps, step_size=eps / 4, num_steps=10, norm=norm)
    loss_f, loss_p = loss_fn(x_f), loss_fn(x_p)
    assert float(loss_p.mean()) > float(loss_f.mean()) + 0.01, norm
    assert float(jnp.mean(loss_p >= loss_f)) >= 0.9, norm
    success_f = jnp.sum(_predicted_labels(sharp, x_f) != labels)
    success_p = jnp.sum(_predicted_labels(sharp, x_p) != labels)
    assert int(success_p) >= int(success_f), norm


@pytest.mark.parametrize("norm", NORMS)
def test_fgsm_is_optimal_on_linear_model(norm):
  w = jax.random.normal(jax.random.key(8), (8, 4, 4, 3))  # one weight vector per example
  loss_fn = lambda x: jnp.sum(w * x, axis=(1, 2, 3))  # [B], linear
  x = jax.random.uniform(jax.random.key(9), (8, 4, 4, 3), minval=-1.0, maxval=1.0)
  eps = 0.2
  box = dict(clip_min=-10.0, clip_max=10.0)  # far away: the ball is the only constraint
  x_f = adv.fgsm(loss_fn, x, eps=eps, norm=norm, **box)
  flat_w = w.reshape(8, -1)
  if norm == "linf":
    expected = x + eps * jnp.sign(w)
    best = loss_fn(x) + eps * jnp.sum(jnp.abs(flat_w), axis=1)
  else:
    expected = x + eps * w / jnp.linalg.norm(flat_w, axis=1)[:, None, None, None]
    best = loss_fn(x) + eps * jnp.linalg.norm(flat_w, axis=1)
  np.testing.assert_allclose(x_f, expected, atol=1e-6)
  np.testing.assert_allclose(loss_fn(x_f), best, rtol=1e-5)
  for seed in range(3):  # PGD from random starts cannot beat the closed-form optimum
    x_p = adv.pgd(loss_fn, x, jax.random.key(seed), eps=eps, step_size=eps / 3, num_steps=6, norm=norm, **box)
    assert bool(jnp.all(loss_fn(x_p) <= best + 1e-4))


# ------------------------------------------------------------- foolbox parity


def _mismatch_fraction(a, b, atol=1e-5):
  return float(np.mean(np.abs(np.asarray(a) - np.asarray(b)) > atol))


@pytest.mark.parametrize("norm", NORMS)
def test_matches_foolbox(classifier, batch, norm):
  foolbox = pytest.importorskip("foolbox")
  fmodel = foolbox.JAXModel(classifier, bounds=(-1.0, 1.0))
  labels = _predicted_labels(classifier, batch)
  loss_fn = adv.cross_entropy_loss(classifier, labels)
  eps, step, steps = (0.1, 0.03, 5) if norm == "linf" else (1.0, 0.3, 5)
  if norm == "linf":
    fb_pgd = foolbox.attacks.LinfPGD(rel_stepsize=None, abs_stepsize=step, steps=steps, random_start=False)
    fb_fgsm = foolbox.attacks.FGSM()
  else:
    fb_pgd = foolbox.attacks.L2PGD(rel_stepsize=None, abs_stepsize=step, steps=steps, random_start=False)
    fb_fgsm = foolbox.attacks.FGM()
  ref_pgd, _, _ = fb_pgd(fmodel, batch, labels, epsilons=eps)
  ref_fgsm, _, _ = fb_fgsm(fmodel, batch, labels, epsilons=eps)
  ours_pgd = adv.pgd(loss_fn, batch, None, eps=eps, step_size=step, num_steps=steps, norm=norm,
                     random_start=False)
  ours_fgsm = adv.fgsm(loss_fn, batch, eps=eps, norm=norm)
  # Both runs move every coordinate (the comparison is not vacuous) ...
  assert float(jnp.mean(jnp.abs(ref_pgd - batch) > 1e-4)) > 0.5
  # ... and agree elementwise up to coordinates where a ~zero gradient's sign flips.
  assert _mismatch_fraction(ours_pgd, ref_pgd) <= 0.005
  assert _mismatch_fraction(ours_fgsm, ref_fgsm) <= 0.005


# --------------------------------------------------- jit, vmap and sharding


def test_jit_equals_eager(classifier, batch):
  x = batch[:2]
  loss_fn = adv.cross_entropy_loss(classifier, _predicted_labels(classifier, x))
  key = jax.random.key(10)
  for norm in NORMS:
    kw = dict(step_size=0.03, num_steps=2, norm=norm)
    with jax.disable_jit():  # fori_loop becomes a Python loop, every op runs eagerly
      eager = adv.pgd(loss_fn, x, key, eps=0.1, **kw)
    static = jax.jit(lambda x, k, kw=kw: adv.pgd(loss_fn, x, k, eps=0.1, **kw))(x, key)
    assert float(jnp.mean(jnp.abs(eager - x) > 1e-4)) > 0.5, norm
    assert _mismatch_fraction(static, eager) <= 0.005, norm
  # Traced eps and an unrolled loop compute the same thing (last norm: l2).
  traced = jax.jit(lambda x, k, e: adv.pgd(loss_fn, x, k, eps=e, **kw))(x, key, 0.1)
  np.testing.assert_array_equal(np.asarray(static), np.asarray(traced))
  unrolled = jax.jit(lambda x, k: adv.pgd(loss_fn, x, k, eps=0.1, unroll=True, **kw))(x, key)
  assert _mismatch_fraction(unrolled, static) <= 0.005


def test_vmap_over_keys_and_eps(classifier, batch):
  loss_fn = adv.cross_entropy_loss(classifier, _predicted_labels(classifier, batch))
  keys = jax.random.split(jax.random.key(11), 3)
  eps = jnp.array([0.02, 0.05, 0.1])
  attack = lambda k, e: adv.pgd(loss_fn, batch, k, eps=e, step_size=e / 2, num_steps=3)
  stacked = jax.jit(jax.vmap(attack))(keys, eps)  # [3, B, 6, 6, 3]
  for i in range(3):
    single = jax.jit(attack)(keys[i], eps[i])
    np.testing.assert_allclose(stacked[i], single, atol=1e-6)
  # A per-example [B] eps gives per-example balls.
  per_example = jnp.linspace(0.0, 0.1, batch.shape[0])
  x_adv = adv.pgd(loss_fn, batch, keys[0], eps=per_example, step_size=0.05, num_steps=3)
  assert bool(jnp.all(norms(x_adv - batch, "linf") <= per_example * (1 + 1e-5) + 1e-7))


def test_sharded_batch_matches_unsharded(classifier, batch):
  if jax.device_count() < 8:
    pytest.skip("needs 8 (fake) devices; conftest sets them up")
  mesh = jax.make_mesh((8,), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  labels = _predicted_labels(classifier, batch)
  attack = jax.jit(lambda x, y, k: adv.pgd(adv.cross_entropy_loss(classifier, y), x, k, eps=0.1, step_size=
                                           0.03, num_steps=3))
  key = jax.random.key(12)
  sharded = attack(jax.device_put(batch, sharding), jax.device_put(labels, sharding), key)
  assert sharded.sharding.is_equivalent_to(sharding, sharded.ndim)
  plain = attack(batch, labels, key)
  assert _mismatch_fraction(sharded, plain) <= 0.005

"""Tests of vid_jax.refiners.adversarial: attack properties, foolbox parity, uses."""
import functools
import importlib.util
import json
import math
import os

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from vid_jax import testing, train
from vid_jax.errors import UserError
from vid_jax.refiners import adversarial as adv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NORMS = ("linf", "l2")


class TinyNet(nn.Module):
  """[B, 6, 6, 3] -> logits [B, K]; smooth (tanh) so gradients are rarely zero."""
  num_outputs: int = 3

  @nn.compact
  def __call__(self, x):
    h = jnp.tanh(nn.Conv(4, (3, 3))(x))  # [B, 6, 6, 4]
    h = jnp.tanh(nn.Dense(16)(h.reshape(h.shape[0], -1)))  # [B, 16]
    return nn.Dense(self.num_outputs)(h)  # [B, K]


def _net(num_outputs=3, seed=0):
  model = TinyNet(num_outputs)
  params = jax.jit(model.init)(jax.random.key(seed), jnp.zeros((1, 6, 6, 3)))
  return jax.jit(lambda x: model.apply(params, x))  # inlined when called inside jit


def _d_net(seed):
  net = _net(1, seed=seed)
  return lambda x: net(x)[:, 0]  # D logits [B]


@pytest.fixture(scope="module")
def classifier():
  return _net(3)


@pytest.fixture(scope="module")
def batch():
  x = jax.random.uniform(jax.random.key(1), (16, 6, 6, 3), minval=-1.0, maxval=1.0)
  # Put some coordinates on the box boundary so clipping is exercised.
  return x.at[:, 0, 0, :].set(1.0).at[:, 1, 1, :].set(-1.0)  # [16, 6, 6, 3]


def _norms(delta, norm):
  flat = delta.reshape(delta.shape[0], -1)
  return jnp.max(jnp.abs(flat), axis=1) if norm == "linf" else jnp.linalg.norm(flat, axis=1)


def _predicted_labels(fn, x):
  return jnp.argmax(fn(x), axis=-1)


@pytest.mark.parametrize("norm", NORMS)
def test_inside_ball_and_clip_range(classifier, batch, norm):
  eps = 0.3 if norm == "linf" else 2.0
  loss_fn = adv.cross_entropy_loss(classifier, _predicted_labels(classifier, batch))
  # Clip bounds traced: one compilation serves both boxes.
  attack = jax.jit(lambda x, lo, hi: {
      "pgd": adv.pgd(loss_fn, x, jax.random.key(2), eps=eps, step_size=eps / 2, num_steps=5,
                     norm=norm, clip_min=lo, clip_max=hi),
      "fgsm": adv.fgsm(loss_fn, x, eps=eps, norm=norm, clip_min=lo, clip_max=hi),
  })
  for clip_min, clip_max in ((-1.0, 1.0), (-0.5, 0.5)):
    x = jnp.clip(batch, clip_min, clip_max)
    outs = attack(x, clip_min, clip_max)
    for name, x_adv in outs.items():
      assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
      delta_norms = _norms(x_adv - x, norm)
      assert float(delta_norms.max()) <= eps * (1 + 1e-5), name
      assert float(delta_norms.min()) > 0.1 * eps, name  # it did move every example
      assert float(x_adv.min()) >= clip_min and float(x_adv.max()) <= clip_max, name
      assert float(jnp.mean(x_adv == clip_max)) > 0.01, name  # the box was active


@pytest.mark.parametrize("norm", NORMS)
def test_eps_zero_is_identity(classifier, batch, norm):
  loss_fn = adv.cross_entropy_loss(classifier, jnp.zeros(batch.shape[0], jnp.int32))
  x_pgd = adv.pgd(loss_fn, batch, jax.random.key(3), eps=0.0, step_size=0.1, num_steps=3,
                  norm=norm)
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
    x_p = adv.pgd(loss_fn, x, jax.random.key(7), eps=eps, step_size=eps / 4, num_steps=10,
                  norm=norm)
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
    x_p = adv.pgd(loss_fn, x, jax.random.key(seed), eps=eps, step_size=eps / 3, num_steps=6,
                  norm=norm, **box)
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
    fb_pgd = foolbox.attacks.LinfPGD(rel_stepsize=None, abs_stepsize=step, steps=steps,
                                     random_start=False)
    fb_fgsm = foolbox.attacks.FGSM()
  else:
    fb_pgd = foolbox.attacks.L2PGD(rel_stepsize=None, abs_stepsize=step, steps=steps,
                                   random_start=False)
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
  assert bool(jnp.all(_norms(x_adv - batch, "linf") <= per_example * (1 + 1e-5) + 1e-7))


def test_sharded_batch_matches_unsharded(classifier, batch):
  if jax.device_count() < 8:
    pytest.skip("needs 8 (fake) devices; conftest sets them up")
  mesh = jax.make_mesh((8,), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  labels = _predicted_labels(classifier, batch)
  attack = jax.jit(lambda x, y, k: adv.pgd(adv.cross_entropy_loss(classifier, y), x, k,
                                           eps=0.1, step_size=0.03, num_steps=3))
  key = jax.random.key(12)
  sharded = attack(jax.device_put(batch, sharding), jax.device_put(labels, sharding), key)
  assert sharded.sharding.is_equivalent_to(sharding, sharded.ndim)
  plain = attack(batch, labels, key)
  assert _mismatch_fraction(sharded, plain) <= 0.005


# -------------------------------------------------------------- loss helpers


def test_loss_helpers_push_the_right_way():
  d = _d_net(3)  # D logits [B]
  attrs = _net(40, seed=4)  # attribute classifier [B, 40]
  smiling = adv._attribute_index("Smiling")
  assert smiling == 31
  x = jax.random.uniform(jax.random.key(13), (8, 6, 6, 3), minval=-1.0, maxval=1.0)

  @jax.jit
  def moved(x):
    return [adv.fgsm(loss_fn, x, eps=0.1) for loss_fn in (
        adv.fakes_called_real_loss(d), adv.reals_called_fake_loss(d),
        adv.toward_attribute_loss(attrs, "Smiling"), adv.away_from_attribute_loss(attrs, smiling))]

  up, down, toward, away = moved(x)
  assert bool(jnp.all(d(up) > d(x))) and bool(jnp.all(d(down) < d(x)))
  assert bool(jnp.all(attrs(toward)[:, smiling] > attrs(x)[:, smiling]))
  assert bool(jnp.all(attrs(away)[:, smiling] < attrs(x)[:, smiling]))
  with pytest.raises(UserError, match="Smilling"):
    adv.toward_attribute_loss(attrs, "Smilling")
  with pytest.raises(ValueError, match="norm"):
    adv.fgsm(adv.fakes_called_real_loss(d), x, eps=0.1, norm="l1")


# --------------------------------------------------------- training hook


def test_perturb_d_inputs():
  d = _d_net(5)  # [B]
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
  assert float(_norms(real_adv[:k] - real[:k], "linf").max()) <= 0.1 + 1e-6
  assert float(_norms(fake_adv[:k] - fake[:k], "linf").min()) > 0.0
  assert bool(jnp.all(d(real_adv[:k]) < d(real[:k])))  # reals pushed toward 'fake'
  assert bool(jnp.all(d(fake_adv[:k]) > d(fake[:k])))  # fakes pushed toward 'real'
  # The perturbation is a constant for differentiation.
  g = jax.jit(jax.grad(
      lambda r: jnp.sum(adv.perturb_d_inputs(d, r, fake, jax.random.key(0), **hp)[0])))
  np.testing.assert_array_equal(g(real), jnp.ones_like(real))
  # Conditional D: the attributes of the attacked rows, here with a sign flip per row.
  y_real = jnp.array([[1.0], [0.0], [1.0], [0.0], [1.0]])  # [5, 1]
  y_fake = 1.0 - y_real
  d_cond = lambda x, y: d(x) * (2.0 * y[:, 0] - 1.0)
  hp_all = dict(hp, fraction=1.0)  # 10 attacked rows for 5 attribute rows per side
  y_rows = adv.d_input_attributes(y_real, y_fake, hp_all["fraction"])  # [10, 1]
  real_c, fake_c = jax.jit(lambda r, f, k: adv.perturb_d_inputs(
      lambda x: d_cond(x, y_rows), r, f, k, **hp_all))(real, fake, jax.random.key(1))
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
  assert adv.hparams_from_config(cfg) == dict(norm="linf", eps=cfg.eps, step_size=cfg.step_size,
                                              num_steps=3, fraction=0.5)
  for field, bad in (("norm", "l1"), ("eps", -0.1), ("num_steps", 2.5), ("num_steps", -1),
                     ("fraction", 1.5), ("enabled", "yes"), ("step_size", None)):
    broken = ml_collections.ConfigDict(dict(cfg.to_dict(), **{field: bad}))
    with pytest.raises(UserError, match=f"adversarial.{field}="):
      adv.validate_config(broken)
  del cfg.fraction
  with pytest.raises(UserError, match="fraction is missing"):
    adv.validate_config(cfg)


# ----------------------------------------------------------- robustness


def test_robustness_curve():
  d = _d_net(6)
  x = jax.random.uniform(jax.random.key(17), (32, 6, 6, 3), minval=-1.0, maxval=1.0)
  is_real = d(x) > 0  # D is right on every clean example
  curve = jax.jit(lambda x, e: adv.robustness_curve(d, x, is_real, jax.random.key(0), e,
                                                    num_steps=5))(x, jnp.array([0.0, 0.05, 1.0]))
  assert curve["fgsm"].shape == (3, 32) and curve["pgd"].shape == (3, 32)
  assert float(curve["clean"].mean()) == 1.0
  np.testing.assert_array_equal(curve["fgsm"][0], curve["clean"])
  np.testing.assert_array_equal(curve["pgd"][0], curve["clean"])
  acc_pgd = curve["pgd"].mean(axis=1)
  assert float(acc_pgd[2]) < 0.2 and float(acc_pgd[1]) <= 1.0
  assert float(curve["pgd"][2].mean()) <= float(curve["fgsm"][2].mean())


@functools.cache
def _robustness_tool():
  # Loaded once: the module defines absl flags, which may be defined only once per process.
  path = os.path.join(REPO, "tools", "robustness.py")
  spec = importlib.util.spec_from_file_location("vid_jax_tool_robustness", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_robustness_eps_flag_parsing():
  tool = _robustness_tool()
  assert tool.parse_eps_list("0,1/255, 0.5/255,8/255") == pytest.approx(
      [0.0, 2 / 255, 1 / 255, 16 / 255])
  for bad in ("", "1/0", "abc", "-1/255", "1/255,,2/255", "300/255"):
    with pytest.raises(UserError, match="--eps"):
      tool.parse_eps_list(bad)


# ------------------------------------------- robust config, training and report


@pytest.fixture(scope="module")
def robust_workdir(tmp_path_factory):
  config = testing.load_config_file("dcgan_avatars_robust", "smoke")
  for field in ("num_steps", "log_every", "checkpoint_every", "sample_every"):
    config.train[field] = 2
  path = str(tmp_path_factory.mktemp("robust"))
  train.train_and_evaluate(config, path)
  return path


def test_robust_config_is_the_base_plus_adversarial_training():
  for arg in (None, "smoke"):
    base = testing.load_config_file("dcgan_avatars", arg).to_dict()
    robust = testing.load_config_file("dcgan_avatars_robust", arg).to_dict()
    section = robust["refiners"].pop("adversarial")
    base["refiners"].pop("adversarial")
    assert robust == base, arg  # `:arg` variants pass through unchanged
    assert section["enabled"] is True
    adv.validate_config(ml_collections.ConfigDict(section))


def test_robust_config_trains_and_reports(robust_workdir, tmp_path):
  with open(os.path.join(robust_workdir, "config.json"), encoding="utf-8") as f:
    assert json.load(f)["refiners"]["adversarial"]["enabled"] is True
  with open(os.path.join(robust_workdir, "metrics.jsonl"), encoding="utf-8") as f:
    rows = [json.loads(line) for line in f if line.strip()]
  assert rows and rows[-1]["step"] == 2
  assert all(math.isfinite(rows[-1][k]) for k in ("d_loss", "g_loss"))

  tool = _robustness_tool()
  out = str(tmp_path / "robustness.json")
  report = tool.run(robust_workdir, eps_text="0,8/255,1", num=4, steps=2, rel_step=2.5,
                    norm="linf", batch_size=8, seed=0, json_out=out)
  with open(out, encoding="utf-8") as f:
    written = json.load(f)
  assert written == json.loads(json.dumps(report))
  assert written["adversarially_trained"] and written["num_real"] == 4
  assert written["eps"] == pytest.approx([0.0, 16 / 255, 2.0])
  assert written["fgsm"]["all"][0] == written["clean"]["all"]
  assert written["pgd"]["all"][0] == written["clean"]["all"]
  # eps=1 in pixel units can turn any image into any other: D is always fooled.
  assert written["pgd"]["all"][2] == 0.0
  assert len(tool.format_table(report).splitlines()) == 2 + 3

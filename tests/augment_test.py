"""DiffAugment (vid_jax.augment) and its use in the train step (optim.diffaugment)."""
import copy
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import augment
from vid_jax import testing
from vid_jax import train
from vid_jax import train_state as ts_lib
from vid_jax import train_step
from vid_jax import validation
from vid_jax.errors import UserError
from vid_jax.models import build_gan

POLICY = ("translation", "color", "cutout")


def _images(b=4, h=16, w=16, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), (b, h, w, 3), jnp.float32, -1.0, 1.0)


@pytest.mark.parametrize("name", [*augment.AUGMENTATIONS, "all"])
def test_shapes_range_and_change(name):
  x = _images(b=6, h=16, w=12)
  policy = POLICY if name == "all" else (name,)
  y = augment.diff_augment(jax.random.PRNGKey(1), x, policy)
  assert y.shape == x.shape and y.dtype == x.dtype
  assert bool(jnp.all(jnp.isfinite(y)))
  assert float(jnp.max(jnp.abs(y - x))) > 0.1
  if name in ("translation", "cutout"):  # they move or replace pixels: the range is kept
    assert float(jnp.min(y)) >= -1.0 and float(jnp.max(y)) <= 1.0


def test_identity_at_zero_strength():
  x, key = _images(), jax.random.PRNGKey(3)
  np.testing.assert_array_equal(augment.translation(key, x, ratio=0.0), x)
  np.testing.assert_array_equal(augment.cutout(key, x, ratio=0.0), x)
  np.testing.assert_allclose(augment.color(key, x, brightness=0.0, saturation=0.0, contrast=0.0), x,
                             atol=1e-6)
  assert augment.diff_augment(key, x, ()) is x


def test_shift_moves_content_by_whole_pixels():
  x = _images(b=3, h=8, w=8)
  offsets = jnp.array([[2, -1], [0, 0], [-3, 3]])
  y = np.asarray(augment.shift(x, offsets, fill=-1.0))
  x = np.asarray(x)
  np.testing.assert_array_equal(y[0, 2:, :-1], x[0, :-2, 1:])
  assert np.all(y[0, :2] == -1.0) and np.all(y[0, :, -1:] == -1.0)
  np.testing.assert_array_equal(y[1], x[1])
  np.testing.assert_array_equal(y[2, :-3, 3:], x[2, 3:, :-3])
  assert np.all(y[2, -3:] == -1.0) and np.all(y[2, :, :3] == -1.0)


def test_translation_is_an_integer_shift_within_an_eighth():
  # Each output image is its input shifted by some (dy, dx) with |dy|, |dx| <= 16 / 8 = 2.
  x = _images(b=16, h=16, w=16)
  y = np.asarray(augment.translation(jax.random.PRNGKey(4), x))
  candidates = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
  shifted = {c: np.asarray(augment.shift(x, jnp.tile(jnp.array([c]), (16, 1)))) for c in candidates}
  found = []
  for b in range(x.shape[0]):
    matches = [c for c in candidates if np.array_equal(y[b], shifted[c][b])]
    assert len(matches) == 1, (b, matches)
    found.append(matches[0])
  assert len(set(found)) > 1  # per-sample shifts


def test_cutout_sets_a_half_size_square_per_sample():
  x = _images(b=8, h=16, w=16) * 0.5 + 0.5  # in (0, 1]: no pixel is 0 before the cut
  y = np.asarray(augment.cutout(jax.random.PRNGKey(5), x))
  cut = np.all(y == 0.0, axis=-1)  # [B, H, W]
  np.testing.assert_array_equal(y[~cut], np.asarray(x)[~cut])
  for b in range(8):
    rows, cols = np.nonzero(cut[b])
    # a rectangle, at most 8 x 8, clipped at the border
    assert 0 < rows.size <= 64 and rows.size == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
  assert len({int(cut[b].sum()) for b in range(8)} | {tuple(np.argwhere(cut[b])[0]) for b in range(8)}) > 2


def test_color_ranges():
  x, key = _images(b=64), jax.random.PRNGKey(6)
  bright = augment.color(key, x, saturation=0.0, contrast=0.0)
  offset = np.asarray(jnp.mean(bright - x, axis=(1, 2, 3)))
  assert np.all(np.abs(offset) <= 0.5 + 1e-6) and np.ptp(offset) > 0.3
  gray = jnp.mean(x, axis=-1, keepdims=True)
  saturated = augment.color(key, x, brightness=0.0, contrast=0.0)
  factor = np.asarray(
      jnp.sum((saturated - gray) * (x - gray), axis=(1, 2, 3)) / jnp.sum((x - gray)**2, axis=(1, 2, 3)))
  assert np.all(factor >= -1e-5) and np.all(factor <= 2 + 1e-5) and np.ptp(factor) > 1.0
  contrasted = augment.color(key, x, brightness=0.0, saturation=0.0)
  factor = np.asarray(jnp.std(contrasted, axis=(1, 2, 3)) / jnp.std(x, axis=(1, 2, 3)))
  assert np.all(factor >= 0.5 - 1e-5) and np.all(factor <= 1.5 + 1e-5) and np.ptp(factor) > 0.5


def test_differentiable_jittable_vmappable():
  x, key = _images(), jax.random.PRNGKey(7)
  weights = _images(seed=1)
  policies = [*((n,) for n in augment.AUGMENTATIONS), POLICY]

  @jax.jit
  def grads(x):  # d sum(weights * augment(x)) / dx for each policy
    return [jax.grad(lambda x, p=p: jnp.sum(augment.diff_augment(key, x, p) * weights))(x) for p in policies]

  for policy, grad in zip(policies, grads(x)):
    assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.max(jnp.abs(grad))) > 0, policy
  # jit equals eager; vmapped over keys, each row is the policy with that key.
  eager = augment.diff_augment(key, x, POLICY)
  np.testing.assert_allclose(
      jax.jit(augment.diff_augment, static_argnums=2)(key, x, POLICY), eager, atol=1e-6)
  keys = jnp.stack([jax.random.PRNGKey(0), key])
  batched = jax.vmap(lambda k: augment.diff_augment(k, x, POLICY))(keys)
  np.testing.assert_allclose(batched[1], eager, atol=1e-6)


def test_unknown_names():
  with pytest.raises(ValueError, match="zoom"):
    augment.diff_augment(jax.random.PRNGKey(0), _images(), ("translation", "zoom"))
  assert augment.parse_policy(" translation, color ,") == ("translation", "color")
  assert augment.parse_policy("") == ()
  config = testing.tiny_config()
  config.optim.diffaugment = "translation,zoom"
  with pytest.raises(UserError, match=r"optim\.diffaugment.*zoom.*translation, color, cutout"):
    validation.validate(config, device_count=1)
  config.optim.diffaugment = "cutout, translation"
  validation.validate(config, device_count=1)


def _batch(config, seed=0):
  rng = np.random.default_rng(seed)
  b, r = config.train.batch_size, config.model.resolution
  return {
      "image": rng.integers(0, 256, (b, r, r, 3), dtype=np.uint8),
      "attributes": rng.integers(0, 2, (b, 40)).astype(np.uint8)
  }


def _two_steps(config, state, options):
  g, d = build_gan(config)
  step = jax.jit(train_step.make_train_step(generator=g, discriminator=d, options=options))
  metrics = []
  for seed in range(2):
    state, m = step(state, _batch(config, seed))
    metrics.append(m)
  return jax.device_get((state, metrics))


@pytest.fixture(scope="module", params=[False, True], ids=["unconditional", "conditional"])
def config_and_state(request):
  """The tiny config (conditional: with the mismatched reals and R1, every image D sees) and a
  fresh train state, shared by the step tests (compiling init is a third of their time)."""
  config = testing.tiny_config(conditional=request.param)
  if request.param:
    config.optim.mismatch_weight, config.optim.r1_gamma = 1.0, 1.0
  g, d = build_gan(config)
  return config, jax.device_get(jax.jit(ts_lib.make_init_fn(config, g, d))(jax.random.PRNGKey(0)))


def _options(config, diffaugment: str):
  config = copy.deepcopy(config)  # the fixture's config is shared
  config.optim.diffaugment = diffaugment
  return train.step_options(config)


def test_empty_policy_is_the_step_without_the_option(config_and_state):
  config, state = config_and_state
  off = _options(config, "")
  assert off.diffaugment == ()
  absent = train_step.StepOptions(  # the option left at StepOptions' default
      **{f.name: getattr(off, f.name) for f in dataclasses.fields(off) if f.name != "diffaugment"})
  off_state, off_metrics = _two_steps(config, state, off)
  absent_state, absent_metrics = _two_steps(config, state, absent)
  for off_m, absent_m in zip(off_metrics, absent_metrics):
    assert off_m.keys() == absent_m.keys()
    for name in off_m:
      np.testing.assert_array_equal(off_m[name], absent_m[name], err_msg=name)
  for a, b in zip(jax.tree.leaves(off_state), jax.tree.leaves(absent_state), strict=True):
    np.testing.assert_array_equal(a, b)


def test_step_with_policy(config_and_state, monkeypatch):
  config, state = config_and_state
  on = _options(config, "translation, color,cutout")
  assert on.diffaugment == POLICY
  on_state, on_metrics = _two_steps(config, state, on)
  # Without a policy the step never reaches the augmentation (no key drawn, no op).
  monkeypatch.setattr(train_step.augment, "diff_augment", lambda *a: pytest.fail("augmented"))
  off_state, off_metrics = _two_steps(config, state, _options(config, ""))
  for metrics in (on_metrics, off_metrics):
    assert all(np.isfinite(v) for m in metrics for v in m.values()), metrics
  assert on_metrics[0]["d_loss"] != off_metrics[0]["d_loss"]
  assert any(not np.array_equal(a, b)
             for a, b in zip(jax.tree.leaves(on_state.d_params), jax.tree.leaves(off_state.d_params)))

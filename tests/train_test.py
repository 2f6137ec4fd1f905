"""End-to-end training: smoke run, exact resume, sharding, bad configs, non-finite stop."""
import json
import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vid_jax import checkpoint as ckpt_lib
from vid_jax import inference
from vid_jax import sharding as shard_lib
from vid_jax import testing
from vid_jax import train
from vid_jax import train_state
from vid_jax import train_step
from vid_jax.data.loader import to_float
from vid_jax.errors import NonFiniteLossError, UserError
from vid_jax.models import build_gan

REPO = testing.REPO



def _first_batches(config, parts):
  """The first train.steps_per_dispatch batches a run of `config` trains on, on parts' mesh."""
  loader = train.make_loader(config, train.make_source(config))
  return train.next_batches(loader, k=config.train.steps_per_dispatch, sharding=parts.batch_sharding)

def _leaves(state):
  fields = ("g_params", "g_batch_stats", "d_params", "d_batch_stats", "g_opt_state", "d_opt_state",
            "ema_params", "step", "rng")
  return jax.device_get([getattr(state, f) for f in fields])


def test_smoke_run_writes_checkpoint_samples_and_metrics(tmp_path):
  config = testing.tiny_config(steps=2)
  result = train.train_and_evaluate(config, str(tmp_path))
  assert result["step"] == 2
  assert {"state", "start_step", "wall_s", "compile_s", "d_loss", "steps_per_sec"} <= set(result)
  assert result["start_step"] == 0 and int(result["state"].step) == 2
  assert os.listdir(tmp_path / "checkpoints") == ["2"]
  assert (tmp_path / "samples" / "step_000002.png").exists()
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path))
  lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert lines[-1]["step"] == 2
  for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm", "steps_per_sec",
              "images_per_sec"):
    assert np.isfinite(lines[-1][key]), key
  assert json.load(open(tmp_path / "config.json"))["model"]["resolution"] == 32


def test_interrupted_and_resumed_run_is_bitwise_identical(tmp_path, monkeypatch):
  config = testing.tiny_config(steps=5)
  config.train.checkpoint_every = 2
  config.train.log_every = 1
  config.train.sample_every = 0
  straight = train.train_and_evaluate(config, str(tmp_path / "a"))["state"]

  # A SIGTERM after step 3, between checkpoints; then rerun the same command.
  original, calls = train.next_batches, []

  def next_batches(loader, **kw):
    if len(calls) == 3:
      os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler only sets its stop flag
    calls.append(1)
    return original(loader, **kw)

  monkeypatch.setattr(train, "next_batches", next_batches)
  stopped = train.train_and_evaluate(config, str(tmp_path / "b"))
  assert stopped["step"] == 4  # the step in flight finishes, then a checkpoint is written
  assert ckpt_lib.Checkpointer(str(tmp_path / "b")).latest_step() == 4
  monkeypatch.setattr(train, "next_batches", original)
  resumed = train.train_and_evaluate(config, str(tmp_path / "b"))
  assert resumed["start_step"] == 4 and resumed["step"] == 5
  for a, b in zip(jax.tree.leaves(_leaves(straight)), jax.tree.leaves(_leaves(resumed["state"]))):
    np.testing.assert_array_equal(a, b)
  steps = [json.loads(l)["step"] for l in open(tmp_path / "b" / "metrics.jsonl")]
  assert steps == sorted(set(steps)) == [1, 2, 3, 4, 5]


def _steps_on_one_batch(trainer, batches, devices, steps):
  """`steps` jitted train steps of `trainer` on `batches` (host arrays) over a mesh of `devices`."""
  mesh = shard_lib.make_mesh(devices)
  rep, bsh = shard_lib.replicated(mesh), shard_lib.batch_sharding(mesh, leading_axes=1)
  state_sh = jax.tree.map(lambda _: rep, trainer.abstract_state)
  fn = jax.jit(trainer.step_fn, in_shardings=(state_sh, bsh), out_shardings=(state_sh, rep))
  state = jax.jit(trainer.init_fn, out_shardings=state_sh)(trainer.init_key)
  batch = shard_lib.global_batch(batches, bsh)
  for _ in range(steps):
    state, metrics = fn(state, batch)
  return state, metrics


def test_sharded_step_matches_single_device():
  assert jax.device_count() == 8
  config = testing.tiny_config()
  trainer = train.create_parts(config)
  batches = jax.device_get(_first_batches(config, trainer))

  s8, m8 = _steps_on_one_batch(trainer, batches, jax.devices(), 2)
  s1, m1 = _steps_on_one_batch(trainer, batches, jax.devices()[:1], 2)
  assert len(s8.g_params["ConvT4_0"]["kernel"].sharding.device_set) == 8
  for a, b in zip(jax.tree.leaves(_leaves(s8)), jax.tree.leaves(_leaves(s1))):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
  np.testing.assert_allclose(m8["d_loss"], m1["d_loss"], rtol=1e-5)


@pytest.mark.parametrize("mode,classes,net", [("ac", 2, 0), ("adc", 4, 0), ("adc_ratio", 4, 0),
                                               ("adc", 4, 8)])
def test_auxiliary_attribute_loss_trains_the_head(tmp_path, mode, classes, net):
  # AC-GAN on top of the projection D: D's head learns the real attributes, G gets their loss.
  # ADC: the head has (real, fake) x (absent, present) classes per attribute. net > 0: the head
  # reads its own CNN (model.aux_net_width) instead of D's features.
  # 24 steps. After 6, the AC head's loss was 0.097 / 0.074 / 0.059 below log 2 for train.seed
  # 0 / 1 / 2 (learning the 12 attributes' marginals alone gives 0.11), so whether the 0.09 below
  # held depended on the seed and the CPU, and G's adc loss had risen 0.12-0.23. After 24: the AC
  # head 0.17-0.21 below log 2, G's adc loss up 1.4-1.6; the other heads' drops >= 0.41, rises >= 1.6.
  config = testing.tiny_config(conditional=True, steps=24)
  # The linear attribute embedding these thresholds were set with: G with the MLP embedding
  # answers D faster (its (real, y) loss rose 0.089 over six steps, not > 0.1).
  config.model.g_cond_hidden = 0
  # And without mode seeking: its pairs halve the distinct attribute vectors G is judged on, and
  # its term pulls G's steps elsewhere (over six steps the adc loss rose 0.064, not > 0.1).
  config.optim.mode_seeking = 0.0
  config.optim.aux_weight = 1.0
  config.optim.aux_mode = mode
  config.model.aux_net_width = net
  config.optim.d_lr = 1e-3
  config.train.log_every = 1
  train.train_and_evaluate(config, str(tmp_path))
  models = inference.load_models(str(tmp_path))
  num_attrs = len(config.model.attributes.split(","))
  assert models.d_variables["params"]["aux"]["kernel"].shape[-1] == num_attrs * (classes // 2) ** 2
  assert ("aux_net" in models.d_variables["params"]) == bool(net)
  lines = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  d_aux = [l["d_aux"] for l in lines]
  g_aux = [l["g_aux"] for l in lines]
  assert all(np.isfinite(d_aux)) and all(np.isfinite(g_aux))
  # The zero-initialised head starts at log(classes); Adam steps on its cross-entropy lower it.
  assert abs(d_aux[0] - np.log(classes)) < 1e-4 and d_aux[-1] < np.log(classes) - 0.09, d_aux
  # G steps after D's update in each step, and D learns to call fakes fake, so G's loss rises:
  if mode == "adc":  # the cross-entropy of (real, y) from above log 4
    assert g_aux[0] < g_aux[-1] - 0.1, g_aux
    # After D's first update the head on D's features already calls fakes fake; the separate CNN's
    # random features may start either side of log 4 (measured 1.372), so only the rise counts.
    assert net or np.log(4) < g_aux[0], g_aux
  if mode == "adc_ratio":  # log C(fake, y) - log C(real, y), 0 for the zero-initialised head
    assert 0 < g_aux[0] < g_aux[-1] - 0.1, g_aux


def test_mode_seeking_pairs_the_fakes_attributes_and_measures_their_spread():
  y = jnp.arange(8.0)[:, None] * jnp.ones((1, 3))
  key = jax.random.PRNGKey(0)
  plain = np.asarray(train_step.fake_attributes(y, key))
  assert sorted(plain[:, 0]) == list(range(8))  # a permutation of the batch's vectors
  paired = np.asarray(train_step.fake_attributes(y, key, paired=True))
  np.testing.assert_array_equal(paired[0::2], paired[1::2])
  np.testing.assert_array_equal(paired[0::2], plain[0::2])  # four of the batch's vectors, twice each
  rng = np.random.default_rng(0)
  x, z = rng.normal(size=(6, 4, 4, 3)), rng.normal(size=(6, 5))
  want = np.mean([np.abs(x[i] - x[i + 1]).mean() / np.abs(z[i] - z[i + 1]).mean() for i in (0, 2, 4)])
  np.testing.assert_allclose(train_step.pair_spread(jnp.asarray(x), jnp.asarray(z)), want, rtol=1e-5)
  x[1::2] = x[0::2]  # each pair the same image: no spread, whatever the latents
  assert float(train_step.pair_spread(jnp.asarray(x), jnp.asarray(z))) == 0.0


def test_mode_seeking_term_spreads_the_pairs(tmp_path):
  # Six steps with a heavy mode-seeking weight: G's images of the same attributes move apart.
  config = testing.tiny_config(conditional=True, steps=6)
  config.optim.mode_seeking = 5.0
  config.optim.g_lr = 1e-3
  config.train.log_every = 1
  train.train_and_evaluate(config, str(tmp_path))
  spread = [json.loads(l)["g_spread"] for l in open(tmp_path / "metrics.jsonl")]
  assert len(spread) == 6 and all(np.isfinite(spread)), spread
  assert spread[-1] > 1.5 * spread[0], spread


def test_spatial_conditioning_and_stage_projection_train_and_reload(tmp_path):
  # model.g_cond_spatial: G's attribute maps, model.d_stage_projection: D's projections of the
  # earlier stages, and model.d_cond_shift: D's attribute shifts, leave their zero init in
  # training, and the run loads back (tools/generate.py's path) with their params.
  config = testing.tiny_config(conditional=True, steps=2)
  config.model.g_cond_spatial = 2
  config.model.d_stage_projection = True
  config.model.d_cond_shift = True
  train.train_and_evaluate(config, str(tmp_path))
  models = inference.load_models(str(tmp_path))
  bns = {k: v for k, v in models.g_variables["params"].items() if k.startswith("ConditionalBatchNorm")}
  assert bns and all(v["spatial_maps"]["kernel"].shape[-1] == 4 * 4 * 2 for v in bns.values())
  assert all(float(jnp.max(jnp.abs(v["spatial_beta"]["kernel"]))) > 0 for v in bns.values())
  staged = [k for k in models.d_variables["params"] if k.startswith("stage_projection")]
  assert len(staged) == 2  # 32x32: three stages, the last projected as before
  assert all(float(jnp.max(jnp.abs(models.d_variables["params"][k]["kernel"]))) > 0 for k in staged)
  shifts = [k for k in models.d_variables["params"] if k.startswith("cond_shift")]
  assert len(shifts) == 3 and all(float(jnp.max(jnp.abs(models.d_variables["params"][k]["kernel"]))) > 0
                                  for k in shifts)
  images = models.generate(jax.random.normal(jax.random.PRNGKey(0), (3, config.model.z_dim)),
                           jnp.ones((3, len(models.attribute_names))))
  assert images.shape == (3, 32, 32, 3) and bool(jnp.all(jnp.isfinite(images)))


def test_mode_seeking_needs_an_even_batch():
  config = testing.tiny_config(conditional=True)
  config.optim.mode_seeking = 1.0
  config.train.batch_size = 9
  with pytest.raises(UserError, match="optim.mode_seeking.*must be even"):
    train.train_and_evaluate(config, "/nonexistent-unused")


def test_mismatched_attributes_are_wrong_in_exactly_one_place():
  y = (jax.random.uniform(jax.random.PRNGKey(0), (400, 12)) < 0.3).astype(jnp.float32)
  wrong = np.asarray(train_step.flip_one_attribute(y, jax.random.PRNGKey(1)))
  assert set(np.unique(wrong)) <= {0.0, 1.0}
  diff = wrong != np.asarray(y)
  np.testing.assert_array_equal(diff.sum(axis=1), 1)
  assert diff.sum(axis=0).min() > 10  # every attribute gets flipped (400 rows, 12 columns)


def test_matching_aware_discriminator_learns_to_reject_wrong_attributes():
  # D sees the reals twice in one batch; BatchNorm's batch statistics of a batch and of it twice
  # are the same, so the doubled pass gives each real the logit a single pass gives it.
  config = testing.tiny_config(conditional=True)
  trainer = train.create_parts(config)
  disc = trainer.discriminator
  batches = jax.device_get(_first_batches(config, trainer))
  x = to_float(jnp.asarray(batches["image"]).reshape((-1,) + batches["image"].shape[-3:]))
  idx = jnp.asarray(train.step_options(config).attribute_indices)
  y = jnp.asarray(batches["attributes"]).reshape(x.shape[0], -1)[:, idx].astype(jnp.float32)
  variables = disc.init(jax.random.PRNGKey(4), x, y, train=False)
  variables = jax.tree.map(lambda v: v + 0.05 * jax.random.normal(jax.random.PRNGKey(5), v.shape), variables)
  apply = lambda v, x, y: disc.apply(v, x, y, train=True, mutable=["batch_stats"])[0]
  np.testing.assert_allclose(apply(variables, jnp.concatenate([x, x]), jnp.concatenate([y, y]))[:8],
                             apply(variables, x, y), rtol=1e-4, atol=1e-5)

  def gap_after_steps(weight, steps=120):
    # D's logit for the right attributes minus its logit with each one flipped, on the batch it
    # trained on (one batch, so that 120 tiny steps are enough to learn it). With 60 steps the
    # margin depended on the CPU: on an AMD EPYC the gaps were 0.96 with the term, 0.74 without
    # (Xeon: passed); with 120 steps, 1.45 against 0.48.
    config.optim.mismatch_weight = weight
    config.optim.d_lr = 1e-3
    state, metrics = _steps_on_one_batch(train.create_parts(config), batches,
                                         jax.devices()[:1], steps)
    if weight:  # D's mean belief in the mismatched pairs: logged, and below its belief in the right ones
      m = jax.device_get(metrics)
      assert np.mean(m["d_mismatch"]) < np.mean(m["d_real"]), m
    v = {"params": state.d_params, "batch_stats": state.d_batch_stats}
    right = apply(v, x, y)
    gaps = np.array([right - apply(v, x, y.at[:, a].set(1 - y[:, a])) for a in range(y.shape[1])])
    return gaps.mean(), (gaps > 0).mean()

  # Without the term D learns the attributes only from fakes with other images' attributes.
  (gap0, _), (gap1, right1) = gap_after_steps(0.0), gap_after_steps(1.0)
  assert gap1 > 0.5 and right1 > 0.8 and gap1 > gap0 + 0.3, (gap0, gap1, right1)


@pytest.mark.parametrize("aux_weight,mismatch_weight", [(0.0, 0.0), (1.0, 1.0)])
def test_joint_d_batch_shares_batchnorm_statistics_between_reals_and_fakes(aux_weight, mismatch_weight):
  # The same step on two batches with the same attributes and other real images: G, z and the
  # fakes' attributes are the same, so D's logged belief in the fakes before its update
  # (d_fake) differs only if the reals reach the fakes' logits, through shared BatchNorm statistics.
  config = testing.tiny_config(conditional=True)
  config.optim.aux_weight, config.optim.aux_mode = aux_weight, "adc"
  config.optim.mismatch_weight = mismatch_weight
  batches = jax.device_get(_first_batches(config, train.create_parts(config)))
  other = dict(batches, image=np.ascontiguousarray(batches["image"][..., ::-1, :]))  # mirrored reals

  def step_and_state(d_batch):  # one compiled step of a fresh trainer, and its initial state
    config.optim.d_batch = d_batch
    trainer = train.create_parts(config)
    return jax.jit(trainer.step_fn), jax.jit(trainer.init_fn)(trainer.init_key)

  d_fake = lambda step, state, b: float(jax.device_get(step(state, b)[1]["d_fake"]).ravel()[0])
  step, state = step_and_state("separate")
  assert d_fake(step, state, batches) == d_fake(step, state, other)
  step, state = step_and_state("joint")
  assert abs(d_fake(step, state, batches) - d_fake(step, state, other)) > 1e-4
  # And the joint step learns: a few more steps keep every logged loss finite.
  for _ in range(3):
    state, metrics = step(state, batches)
  assert all(np.all(np.isfinite(v)) for v in jax.device_get(metrics).values())


def test_linear_lr_decay_schedules_both_optimizers():
  config = testing.tiny_config()
  config.optim.g_lr, config.optim.d_lr, config.optim.n_critic = 4e-4, 1e-4, 2
  assert train_state.learning_rate(4e-4, decay_start=0, num_steps=100) == 4e-4  # off: a float
  config.optim.lr_decay_start = 60
  g_tx, d_tx = train_state.make_optimizers(config.optim, num_steps=100)
  const_tx = optax.adam(4e-4, b1=config.optim.b1, b2=config.optim.b2)
  params = {"w": jnp.arange(3.0)}
  grads = {"w": jnp.array([0.5, -1.0, 2.0])}

  def update(tx, count):  # the update Adam makes as its `count`-th step (same moments each time)
    state = tx.init(params)
    state = jax.tree.map(lambda l: jnp.asarray(count, l.dtype) if l.dtype == jnp.int32 else l, state,
                         is_leaf=lambda l: isinstance(l, jax.Array))
    return tx.update(grads, state, params)[0]["w"]

  ref = lambda count: update(const_tx, count)  # Adam's bias correction depends on the count too
  np.testing.assert_allclose(update(g_tx, 30), ref(30), rtol=1e-6)   # before the decay: the constant lr
  np.testing.assert_allclose(update(g_tx, 60), ref(60), rtol=1e-6)   # decay starts at 1x
  np.testing.assert_allclose(update(g_tx, 80), 0.5 * ref(80), rtol=1e-5)  # halfway: half
  np.testing.assert_array_equal(update(g_tx, 100), 0.0)  # num_steps: zero
  assert float(jnp.abs(ref(100)).min()) > 1e-4
  # D updates n_critic=2 times per G step: its count 160 is G step 80, half of D's lr (1/4 of G's).
  np.testing.assert_allclose(update(d_tx, 160), 0.5 * 0.25 * ref(160), rtol=1e-5)


def test_aux_lr_moves_only_the_attribute_head_at_its_rate():
  """optim.aux_lr: Adam's first step moves each param by ~lr, so head params move by aux_lr."""
  config = testing.tiny_config()
  config.model.conditional, config.model.attributes = True, "Smiling,Eyeglasses"
  config.optim.aux_weight, config.optim.aux_mode, config.model.aux_net_width = 1.0, "adc", 4
  config.optim.d_lr = 1e-4
  generator, discriminator = build_gan(config)

  def first_step_sizes(aux_lr):
    config.optim.aux_lr = aux_lr
    _, d_tx = train_state.make_optimizers(config.optim, num_steps=10)
    state = train_state.make_init_fn(config, generator, discriminator)(jax.random.PRNGKey(0))
    grads = jax.tree.map(jnp.ones_like, state.d_params)
    updates = d_tx.update(grads, d_tx.init(state.d_params), state.d_params)[0]
    return {k: float(jnp.max(jnp.abs(jnp.concatenate([u.ravel() for u in jax.tree.leaves(v)]))))
            for k, v in updates.items()}

  plain, fast = first_step_sizes(0.0), first_step_sizes(1e-3)
  assert set(train_state.HEAD_PARAMS) <= set(fast) and "projection" in fast
  for name, size in fast.items():
    want = 1e-3 if name in train_state.HEAD_PARAMS else 1e-4
    np.testing.assert_allclose(size, want, rtol=1e-3, err_msg=name)
    np.testing.assert_allclose(plain[name], 1e-4, rtol=1e-3, err_msg=name)


@pytest.mark.parametrize("field,value,message", [
    ("train.batch_size", 12, "multiple of the device count"),
    ("optim.loss", "wasserstein", "unknown loss"),
    ("model.resolution", 48, "use one of 32, 64, 128"),
    ("data.source", "folder:/no/such/folder", "folder does not exist"),
    ("model.conv_impl", "cudnn", "use one of auto, native, fast"),
    ("optim.aux_weight", 1.0, "needs model.conditional=True"),
    ("optim.aux_weight", -1.0, "must be >= 0"),
    ("model.projection", "max", "use one of pooled, spatial"),
    ("optim.aux_mode", "tac", "use one of ac, adc, adc_ratio"),
    ("optim.lr_decay_start", -5, "must be 0 .constant lrs. or a G step before"),
    ("optim.lr_decay_start", 10_000, "a G step before train.num_steps"),
    ("model.g_cond_hidden", -1, "must be 0 .linear attribute embedding. or a positive width"),
    ("model.d_cond_hidden", -2, "must be 0 .linear attribute embedding. or a positive width"),
    ("model.g_cond_spatial", -1, "must be 0 .per-channel conditional BatchNorm. or a positive number of maps"),
    ("optim.mode_seeking", -1.0, "must be >= 0"),
    ("model.aux_net_width", -1, "must be 0 .the head reads D's features. or a positive stem width"),
    ("model.aux_net_width", 8, "the attribute head, which is off; set optim.aux_weight > 0"),
    ("optim.mismatch_weight", -0.5, "must be >= 0"),
    ("optim.mismatch_weight", 1.0, "need model.conditional=True"),
    ("model.d_cond_shift", True, "attribute shifts need model.conditional=True"),
    ("optim.d_batch", "mixed", "use one of separate, joint"),
    ("optim.aux_lr", -1e-3, "must be >= 0 .0 = D's lr."),
    ("optim.aux_lr", 1e-3, "the attribute head's lr, which is off; set optim.aux_weight > 0"),
])
def test_bad_config_fails_before_compiling(field, value, message):
  config = testing.tiny_config()
  section, name = field.split(".")
  config[section][name] = value
  with pytest.raises(UserError, match=message):
    train.train_and_evaluate(config, "/nonexistent-unused")


def test_missing_cache_is_one_clear_line(tmp_path):
  proc = subprocess.run(
      [sys.executable, "launch.py", "--config=configs/dcgan_avatars.py:smoke",
       f"--workdir={tmp_path}", f"--config.data.cache_dir={tmp_path}/nocache"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2
  assert "Traceback" not in proc.stderr
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors) == 1 and "prepare_data.py" in errors[0], proc.stderr[-2000:]


def test_resuming_with_a_config_that_does_not_fit_the_checkpoint_is_one_clear_line(tmp_path):
  # A learning-rate decay adds a schedule count to Adam's state: the step-2 checkpoint of a
  # constant-lr run cannot be restored into it. One line, and the run's config.json is kept.
  launch = [sys.executable, "launch.py", "--config=configs/dcgan_avatars.py:smoke", f"--workdir={tmp_path}"]
  subprocess.run(launch + ["--config.train.num_steps=2"], cwd=REPO, check=True, capture_output=True,
                 timeout=300)
  before = (tmp_path / "config.json").read_text()
  proc = subprocess.run(launch + ["--config.train.num_steps=4", "--config.optim.lr_decay_start=3"],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors) == 1 and "does not fit this config" in errors[0] and "step 2" in errors[0], errors
  assert (tmp_path / "config.json").read_text() == before


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  config = testing.tiny_config(steps=2)
  train.train_and_evaluate(config, str(tmp_path))
  config = testing.tiny_config(steps=8)
  config.optim.g_lr = config.optim.d_lr = float("inf")
  with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step [3-8] .*last good checkpoint \(step 2\)"):
    train.train_and_evaluate(config, str(tmp_path))
  assert ckpt_lib.Checkpointer(str(tmp_path)).latest_step() == 2

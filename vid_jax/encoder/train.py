"""The encoder's training loop (self-supervised: no labels), in the classifier's skeleton.

  python tools/train_encoder.py --config=configs/encoder_avatars.py --workdir=runs/encoder \
      --gan_workdir=zoo:avatar_gan --classifier_workdir=zoo:classifier

Stage 1 (encoder.stage1_steps) on the frozen generator's samples x = G(z, y), z and y known; stage
2 (encoder.stage2_steps) on real images, y the classifier's reading. One Adam (cosine-decayed over
both stages), the jitted step on a data-parallel mesh, orbax checkpoints every
encoder.checkpoint_every steps (params, optimizer, loader position: a killed run resumes where it
stopped). At the end: InterFaceGAN directions, the held-out evaluation (metrics.json) and the final
checkpoint that `load_encoder` reads.
"""
from __future__ import annotations

import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging

from vid_jax import data as data_lib
from vid_jax import paths
from vid_jax import sharding as shard_lib
from vid_jax import writer as writer_lib
from vid_jax.encoder import bundle as bundle_lib
from vid_jax.encoder import evaluate as evaluate_lib
from vid_jax.encoder.directions import fit_directions
from vid_jax.encoder.frozen import load_frozen
from vid_jax.encoder.losses import TERMS, encoder_loss
from vid_jax.errors import UserError
from vid_jax.models.classifier import uncommitted
from vid_jax.models.encoder import Encoder
from vid_jax.models.layers import resolve_conv_impl


@dataclasses.dataclass(frozen=True)
class Options:
  """The typed view of an encoder config (validated once, before compiling)."""
  config: dict  # the whole config as JSON (recorded in the meta)
  width: int
  batch_size: int
  lr: float
  stage1_steps: int
  stage2_steps: int
  log_every: int
  checkpoint_every: int
  stage1: dict
  stage2: dict
  seed: int

  @property
  def steps(self) -> int:
    return self.stage1_steps + self.stage2_steps


def options_from_config(config, *, device_count: int) -> Options:
  """Reads and checks the fields the loop uses; one UserError per bad field."""

  def err(field, value, fix):
    return UserError(f"config.{field}={value!r}: {fix}")

  e = config.encoder
  if e.width < 1:
    raise err("encoder.width", e.width, "must be a positive integer")
  if e.batch_size < 1 or e.batch_size % device_count:
    raise err("encoder.batch_size", e.batch_size,
              f"must be a positive multiple of the device count ({device_count})")
  if not e.lr > 0:
    raise err("encoder.lr", e.lr, "must be > 0")
  for f in ("stage1_steps", "stage2_steps", "log_every"):
    if e[f] < 0:
      raise err(f"encoder.{f}", e[f], "must be >= 0")
  if e.stage1_steps + e.stage2_steps < 1:
    raise err("encoder.stage1_steps", e.stage1_steps, "the two stages need at least one step between them")
  if e.checkpoint_every < 1:
    raise err("encoder.checkpoint_every", e.checkpoint_every, "must be >= 1")
  for stage in ("stage1", "stage2"):
    w = dict(e[stage])
    unknown = sorted(set(w) - set(TERMS))
    if unknown:
      raise err(f"encoder.{stage}", unknown, f"unknown terms; use {', '.join(TERMS)}")
    if any(not v >= 0 for v in w.values()) or not any(w.values()):
      raise err(f"encoder.{stage}", w, "weights must be >= 0 and not all 0")
  if e.stage2.get("latent", 0):
    raise err("encoder.stage2.latent", e.stage2.latent, "real images have no known z; set it to 0")
  inv = config.inversion
  if inv.steps < 0 or not inv.lr > 0 or min(inv.pixel, inv.d_feature, inv.encoder) < 0:
    raise err("inversion", inv.to_dict(), "steps >= 0, lr > 0 and weights >= 0")
  return Options(config=config.to_dict(), width=int(e.width), batch_size=int(e.batch_size), lr=float(e.lr),
                 stage1_steps=int(e.stage1_steps), stage2_steps=int(e.stage2_steps),
                 log_every=int(e.log_every), checkpoint_every=int(e.checkpoint_every), stage1=dict(e.stage1),
                 stage2=dict(e.stage2), seed=int(config.train.seed))


def make_steps(module: Encoder, tx, frozen, opts: Options):
  """(stage-1 step, stage-2 step), each (params, opt_state, fvars, key, images) -> (params, opt_state,
  metrics); stage 1 ignores `images` and draws its own batch from G."""
  b = opts.batch_size

  def update(params, opt_state, loss_fn):
    (loss, values), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, {"loss": loss, **values}

  def stage1(params, opt_state, fvars, key, images):
    del images
    k_z, k_y, k_q = jax.random.split(key, 3)
    z = jax.random.normal(k_z, (b, frozen.z_dim))
    y = frozen.gan.sample_attributes(k_y, b)
    x = frozen.generate(fvars, z, y)
    return update(
        params, opt_state, lambda p: encoder_loss(p, encoder=module, frozen=frozen, fvars=fvars, key=k_q, x=x,
                                                  y=y, z_true=z, weights=opts.stage1))

  def stage2(params, opt_state, fvars, key, images):
    x = data_lib.to_float(images)
    y = frozen.g_attributes(frozen.classify(fvars, x)[0])
    return update(
        params, opt_state, lambda p: encoder_loss(p, encoder=module, frozen=frozen, fvars=fvars, key=key, x=x,
                                                  y=y, weights=opts.stage2))

  return stage1, stage2


def _meta(opts: Options, *, frozen_sources: dict, step: int, final: bool, data_state=None, **extra) -> dict:
  return dict(version=bundle_lib.META_VERSION, step=int(step), final=final,
              resolution=opts.config["resolution"], width=opts.width, z_dim=opts.config["z_dim"],
              inversion=opts.config["inversion"], config=opts.config, data=data_state or {}, **frozen_sources,
              **extra)


def reevaluate(config, workdir: str) -> dict:
  """The held-out evaluation of a finished encoder again (config.eval), e.g. after the evaluation changed;
  rewrites metrics.json, keeping its training figures (train_s, steps, directions)."""
  models = bundle_lib.load_encoder(workdir)
  old = json.loads(paths.workdir_file(workdir, "metrics.json").read_text(encoding="utf-8"))
  metrics = evaluate_lib.evaluate(models, **dict(config.eval))
  metrics |= {k: old[k] for k in ("directions", "train_s", "wall_s", "steps") if k in old}
  paths.workdir_file(workdir, "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
  return metrics


def train_and_evaluate(config, workdir: str, *, gan_workdir: str, classifier_workdir: str) -> dict:
  """Trains the encoder of `config` for the GAN and classifier given; returns the held-out metrics.

  A workdir with a finished encoder returns its metrics.json; one with a partial run resumes (with the
  GAN and classifier it started with: others are refused).
  """
  opts = options_from_config(config, device_count=jax.device_count())
  t_start = time.perf_counter()
  sources = {
      "gan": bundle_lib.source_ref(gan_workdir),
      "classifier": bundle_lib.source_ref(classifier_workdir)
  }
  previous = bundle_lib.latest_meta(workdir)
  if previous is not None:
    if (previous.get("gan"), previous.get("classifier")) != (sources["gan"], sources["classifier"]):
      raise UserError(f"{workdir} holds an encoder of --gan_workdir={previous.get('gan')} "
                      f"--classifier_workdir={previous.get('classifier')}; give those, or a new --workdir")
    if previous.get("final"):
      logging.info("the encoder in %s is finished (step %d); nothing to train", workdir, previous["step"])
      return json.loads(paths.workdir_file(workdir, "metrics.json").read_text(encoding="utf-8"))
  frozen = load_frozen(gan_workdir=gan_workdir, classifier_workdir=classifier_workdir)
  opts = dataclasses.replace(opts, config=opts.config | {
      "resolution": frozen.resolution,
      "z_dim": frozen.z_dim
  })
  module = Encoder(resolution=frozen.resolution, width=opts.width, z_dim=frozen.z_dim,
                   conv_impl=resolve_conv_impl("auto"))
  tx = optax.adam(optax.cosine_decay_schedule(opts.lr, opts.steps, alpha=0.05), b1=0.5)
  mesh = shard_lib.make_mesh()
  rep, data_sharding = shard_lib.replicated(mesh), shard_lib.batch_sharding(mesh)
  stage1, stage2 = (jax.jit(f, in_shardings=(rep, rep, rep, rep, data_sharding),
                            out_shardings=(rep, rep, rep), donate_argnums=(0, 1))
                    for f in make_steps(module, tx, frozen, opts))
  c = config.data
  source = data_lib.make_source(c.source, size=frozen.resolution, seed=c.seed, num_examples=c.num_examples or
                                None, cache_dir=c.cache_dir or None)
  loader = data_lib.make_loader(source, global_batch_size=opts.batch_size, seed=opts.seed, shuffle=True,
                                process_index=jax.process_index(), process_count=jax.process_count())

  def init(key):
    params = module.init(key, jnp.zeros((1, frozen.resolution, frozen.resolution, 3)))["params"]
    return params, tx.init(params)

  params, opt_state = jax.jit(init, out_shardings=rep)(jax.random.key(opts.seed, impl="rbg"))
  manager = bundle_lib.checkpoint_manager(workdir, read_only=False)
  start = 0
  if previous is not None:
    start = int(previous["step"])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep),
                            (params, opt_state))
    got = manager.restore(
        start, args=ocp.args.Composite(params=ocp.args.StandardRestore(abstract[0]),
                                       opt_state=ocp.args.StandardRestore(abstract[1])))
    params, opt_state = got["params"], got["opt_state"]
    loader.set_state(previous["data"])
    logging.info("encoder: resumed at step %d", start)
  fvars = jax.device_put(frozen.variables(), rep)
  blank = jax.device_put(jnp.zeros((opts.batch_size, 1, 1, 3), jnp.uint8), data_sharding)
  writer = writer_lib.MetricWriter(workdir, enabled=jax.process_index() == 0)
  base_key, pending, t_log, step_log = jax.random.key(opts.seed + 1), [], time.perf_counter(), start

  def save(step, *, final=False, **extra):
    meta = _meta(opts, frozen_sources=sources, step=step, final=final, data_state=loader.get_state(), **extra)
    manager.save(
        step, args=ocp.args.Composite(params=ocp.args.StandardSave(params),
                                      opt_state=ocp.args.StandardSave(opt_state),
                                      meta=ocp.args.JsonSave(meta)), force=True)
    manager.wait_until_finished()

  try:
    for step in range(start + 1, opts.steps + 1):
      key = jax.random.fold_in(base_key, step)
      if step <= opts.stage1_steps:
        params, opt_state, metrics = stage1(params, opt_state, fvars, key, blank)
      else:
        images = shard_lib.global_batch(next(loader)["image"], data_sharding)
        params, opt_state, metrics = stage2(params, opt_state, fvars, key, images)
      pending.append(metrics)
      if (opts.log_every and step % opts.log_every == 0) or step in (opts.stage1_steps, opts.steps):
        host, pending = jax.device_get(pending), []
        stage = 1 if step <= opts.stage1_steps else 2
        logged = {f"encoder/stage{stage}/{k}": float(np.mean([m[k] for m in host])) for k in host[0]}
        now = time.perf_counter()
        logged["encoder/steps_per_sec"] = (step - step_log) / max(now - t_log, 1e-9)
        t_log, step_log = now, step
        loss = logged[f"encoder/stage{stage}/loss"]
        if not np.isfinite(loss):
          raise UserError(f"encoder loss is {loss} at step {step}; lower config.encoder.lr")
        writer.scalars(step, logged)
        logging.info("encoder step %d/%d (stage %d) loss %.4f (%.2f steps/s)", step, opts.steps, stage, loss,
                     logged["encoder/steps_per_sec"])
      if step % opts.checkpoint_every == 0 and step < opts.steps:
        save(step)
    train_s = time.perf_counter() - t_start
    d = config.directions
    directions, direction_report = fit_directions(frozen=frozen, key=jax.random.key(opts.seed + 2),
                                                  samples=d.samples, steps=d.steps,
                                                  min_positive=d.min_positive)
    meta = _meta(opts, frozen_sources=sources, step=opts.steps, final=True, directions=directions.to_json())
    models = bundle_lib.EncoderModels(module=module, params=uncommitted(params), frozen=frozen,
                                      directions=directions, inversion=dict(config.inversion), meta=meta)
    metrics = evaluate_lib.evaluate(models, **dict(config.eval))
    metrics |= {
        "directions": direction_report,
        "train_s": round(train_s, 1),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "steps": opts.steps
    }
    writer.scalars(opts.steps, {f"heldout/{k}": v for k, v in evaluate_lib.flat_scalars(metrics).items()})
    save(opts.steps, final=True, directions=directions.to_json(), metrics=metrics)
    if jax.process_index() == 0:
      paths.workdir_file(workdir, "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics
  finally:
    manager.close()
    writer.close()

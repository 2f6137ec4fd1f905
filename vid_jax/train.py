"""The training loop: data -> sharded jitted steps -> logs, samples, checkpoints, resume."""
import functools
import json
import os
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from vid_jax import checkpoint as ckpt_lib
from vid_jax import data as data_lib
from vid_jax import sharding as shard_lib
from vid_jax import train_state as ts_lib
from vid_jax import validation
from vid_jax import writer as writer_lib
from vid_jax.data.attributes import ATTRIBUTE_INDEX, attribute_names
from vid_jax.metrics import evaluate as eval_lib
from vid_jax.errors import NonFiniteLossError, UserError
from vid_jax.models import build_gan
from vid_jax.train_step import StepOptions, make_multi_step, make_train_step


def step_options(config) -> StepOptions:
  """The static train-step settings of a run config."""
  names = attribute_names(config)
  adv = config.refiners.adversarial
  adversarial = None
  if adv.enabled:
    adversarial = tuple(sorted(dict(norm=adv.norm, eps=float(adv.eps), step_size=float(adv.step_size),
                                    num_steps=int(adv.num_steps), fraction=float(adv.fraction)).items()))
  return StepOptions(loss=config.optim.loss, n_critic=config.optim.n_critic,
                     r1_gamma=float(config.optim.r1_gamma), ema_decay=float(config.optim.ema_decay),
                     z_dim=config.model.z_dim,
                     attribute_indices=tuple(ATTRIBUTE_INDEX[n] for n in names),
                     adversarial=adversarial, aux_weight=float(config.optim.aux_weight),
                     aux_mode=config.optim.aux_mode,
                     mode_seeking=float(config.optim.mode_seeking),
                     mismatch_weight=float(config.optim.mismatch_weight),
                     d_batch=config.optim.d_batch)


def make_source(config):
  """The run's data source (raises UserError with a fix when the data is missing)."""
  d = config.data
  return data_lib.make_source(d.source, size=config.model.resolution, seed=d.seed,
                              on_bad_file=d.on_bad_file, num_examples=d.num_examples or None,
                              cache_dir=d.cache_dir or None, data_dir=d.data_dir or None)


class Trainer:
  """Builds everything a run needs; `run()` trains to `train.num_steps`, resuming if possible."""

  def __init__(self, config, workdir: str):
    validation.validate(config, device_count=jax.device_count(), process_count=jax.process_count())
    self.config = config
    self.workdir = workdir
    self.is_main = jax.process_index() == 0
    t = config.train
    self.k = t.steps_per_dispatch
    self.names = attribute_names(config)
    self.source = make_source(config)
    if self.names and not self.source.has_attributes:
      raise UserError(f"config.model.conditional=True but data.source={config.data.source!r} has no "
                      "attribute labels; add list_attr_celeba.txt to the folder or train unconditionally")
    self.generator, self.discriminator = build_gan(config)
    self.mesh = shard_lib.make_mesh()
    self.rep = shard_lib.replicated(self.mesh)
    self.batch_sharding = shard_lib.batch_sharding(self.mesh, leading_axes=1)
    self.init_fn = ts_lib.make_init_fn(config, self.generator, self.discriminator)
    self.init_key = jax.random.PRNGKey(t.seed)
    self.abstract_state = jax.eval_shape(self.init_fn, self.init_key)
    self.state_sharding = jax.tree.map(lambda _: self.rep, self.abstract_state)
    step_fn = make_multi_step(make_train_step(generator=self.generator, discriminator=self.discriminator,
                                              options=step_options(config)), self.k)
    self.step_impl = step_fn  # unjitted, for tests and tools that pick their own shardings
    self.step_fn = jax.jit(step_fn, in_shardings=(self.state_sharding, self.batch_sharding),
                           out_shardings=(self.state_sharding, self.rep), donate_argnums=0)
    self.loader = data_lib.make_loader(
        self.source, global_batch_size=t.batch_size, seed=t.seed, shuffle=True, flip=config.data.flip,
        process_index=jax.process_index(), process_count=jax.process_count())
    self._stop_requested = False

  @functools.cached_property
  def checkpointer(self) -> ckpt_lib.Checkpointer:
    return ckpt_lib.Checkpointer(self.workdir, keep=self.config.train.keep)

  # -- state ---------------------------------------------------------------------------------------
  def initial_state(self):
    """The latest checkpoint of the workdir (with the loader's position), or a fresh state."""
    step = self.checkpointer.latest_step()
    if step is None:
      return jax.jit(self.init_fn, out_shardings=self.state_sharding)(self.init_key)
    abstract = ckpt_lib.abstract_with_sharding(self.abstract_state, self.rep)
    state, data_state = self.checkpointer.restore(abstract, step)
    self.loader.set_state(data_state)
    if self.is_main:
      _truncate_metrics(os.path.join(self.workdir, "metrics.jsonl"), step)
    logging.info("resumed from %s at step %d", self.checkpointer.directory, step)
    return state

  def next_batches(self):
    """k local batches stacked on a leading axis, as global sharded arrays."""
    local = [next(self.loader) for _ in range(self.k)]
    stacked = {key: np.stack([b[key] for b in local]) for key in local[0]}
    return shard_lib.global_batch(stacked, self.batch_sharding)

  # -- samples ---------------------------------------------------------------------------------------
  def _attribute_rows(self, n: int):
    """The first n data rows' conditioned attributes [n, A] (cycled), or None."""
    if not self.names:
      return None
    attrs = self.source.get_batch(np.arange(min(n, len(self.source))))["attributes"]
    attrs = np.resize(attrs, (n, attrs.shape[1]))
    return jnp.asarray(attrs[:, [ATTRIBUTE_INDEX[a] for a in self.names]], jnp.float32)

  def _sample_inputs(self):
    n = self.config.train.num_samples_grid
    z = jax.random.normal(jax.random.PRNGKey(self.config.train.seed + 1), (n, self.config.model.z_dim))
    return z, self._attribute_rows(n)

  @functools.cached_property
  def _standing_inputs(self):
    z = jax.random.normal(jax.random.PRNGKey(self.config.train.seed + 3),
                          (ts_lib.STANDING_SAMPLES, self.config.model.z_dim))
    return z, self._attribute_rows(ts_lib.STANDING_SAMPLES)

  @functools.cached_property
  def _standing_fn(self):
    g = self.generator
    return jax.jit(lambda params, z, y: ts_lib.standing_batch_stats(g, params, z, y), out_shardings=self.rep)

  def ema_variables(self, state):
    """The EMA generator's variables: EMA params with their own (standing) BatchNorm statistics."""
    return {"params": state.ema_params, "batch_stats": self._standing_fn(state.ema_params, *self._standing_inputs)}

  @functools.cached_property
  def _sample_fn(self):
    g = self.generator
    return jax.jit(lambda variables, z, y: g.apply(variables, z, y, train=False), out_shardings=self.rep)

  def samples(self, state):
    """EMA-generator samples from the fixed z: uint8 [N, R, R, 3]."""
    z, y = self._sample_inputs()
    return writer_lib.to_uint8(jax.device_get(self._sample_fn(self.ema_variables(state), z, y)))

  # -- run -------------------------------------------------------------------------------------------
  def _write_run_files(self):
    if not self.is_main:
      return
    os.makedirs(self.workdir, exist_ok=True)
    with open(os.path.join(self.workdir, "config.json"), "w", encoding="utf-8") as f:
      f.write(self.config.to_json_best_effort(indent=2))
    stats = {"attribute_names": list(self.names), "marginals": None}
    if self.source.has_attributes:
      marg = np.asarray(self.source.attribute_marginals(), np.float64)
      stats["marginals"] = [float(marg[ATTRIBUTE_INDEX[a]]) for a in self.names]
      stats["all_marginals"] = marg.tolist()
    with open(os.path.join(self.workdir, "data_stats.json"), "w", encoding="utf-8") as f:
      json.dump(stats, f, indent=2)

  def _on_sigterm(self, signum, frame):  # pylint: disable=unused-argument
    logging.warning("SIGTERM: saving a checkpoint after the current step, then stopping")
    self._stop_requested = True

  def run(self) -> dict:
    """Trains to train.num_steps; returns the last logged metrics (with compile_s, wall_s)."""
    try:  # a checkpoint that does not fit this config stops here, before config.json is rewritten
      state = self.initial_state()
    except BaseException:
      self.checkpointer.close()
      raise
    self._write_run_files()
    writer = writer_lib.MetricWriter(self.workdir, enabled=self.is_main)
    previous = None
    if threading_main():
      previous = signal.signal(signal.SIGTERM, self._on_sigterm)
    try:
      return self._loop(writer, state)
    finally:
      self.checkpointer.close()
      writer.close()
      if previous is not None:
        signal.signal(signal.SIGTERM, previous)

  def _loop(self, writer, state) -> dict:
    t = self.config.train
    step = int(jax.device_get(state.step))
    start_step, last_good = step, self.checkpointer.latest_step()
    t_start = time.perf_counter()
    compile_s = None
    pending = []  # (first step, device metrics [k]) since the last host sync
    last_logged = {}
    t_log, step_log = time.perf_counter(), step
    batch_images = t.batch_size
    while step < t.num_steps and not self._stop_requested:
      batches = self.next_batches()
      if compile_s is None:
        t0 = time.perf_counter()
        compiled = self.step_fn.lower(state, batches).compile()
        compile_s = time.perf_counter() - t0
        logging.info("compiled the train step in %.1f s", compile_s)
        t_log = time.perf_counter()
      state, metrics = compiled(state, batches)
      pending.append((step + 1, metrics))
      step += self.k
      done = step >= t.num_steps or self._stop_requested
      will_save = done or (t.checkpoint_every and step % t.checkpoint_every == 0)
      will_log = done or (t.log_every and step % t.log_every == 0)
      if will_save or will_log:
        host = _check_finite(pending, last_good, self.checkpointer.directory)
        pending = []
        if will_log:
          now = time.perf_counter()
          sps = (step - step_log) / max(now - t_log, 1e-9)
          last_logged = {k: float(np.mean(v)) for k, v in host.items()}
          last_logged.update(steps_per_sec=sps, images_per_sec=sps * batch_images)
          writer.scalars(step, last_logged)
          eta = (t.num_steps - step) / max(sps, 1e-9)
          logging.info("step %d/%d | %.2f steps/s %.0f img/s | ETA %s | d_loss %.3f g_loss %.3f "
                       "D(x) %.3f D(G(z)) %.3f", step, t.num_steps, sps, sps * batch_images,
                       _fmt_eta(eta), last_logged["d_loss"], last_logged["g_loss"],
                       last_logged["d_real"], last_logged["d_fake"])
          t_log, step_log = time.perf_counter(), step
      t_side = time.perf_counter()
      if t.sample_every and (step % t.sample_every == 0 or done):
        path = writer.image_grid(step, self.samples(state))
        if path:
          logging.info("samples: %s", path)
      if self._eval_due(step, done):
        writer.scalars(step, self.evaluate(state))
      if will_save:
        self.checkpointer.save(step, state, self.loader.get_state())
        last_good = step
      t_log += time.perf_counter() - t_side  # steps/s counts training time only
    if self._stop_requested:
      logging.warning("stopped at step %d by SIGTERM; rerun the same command to resume", step)
    self.checkpointer.wait()
    wall = time.perf_counter() - t_start
    return dict(last_logged, step=step, start_step=start_step, compile_s=compile_s or 0.0, wall_s=wall,
                state=state)

  # -- evaluation -------------------------------------------------------------------------------------
  def _eval_due(self, step, done):
    every = self.config.train.eval_every
    return bool(every) and (step % every == 0 or done)

  def evaluate(self, state) -> dict:
    """Quality metrics of the EMA generator (see vid_jax.metrics)."""
    return eval_lib.evaluate_in_training(self, state)


def _truncate_metrics(path: str, step: int) -> None:
  """Drops metrics.jsonl lines logged after `step` (written before an interruption)."""
  if not os.path.exists(path):
    return
  with open(path, encoding="utf-8") as f:
    lines = [l for l in f if l.strip() and json.loads(l).get("step", 0) <= step]
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(lines)


def threading_main() -> bool:
  return threading.current_thread() is threading.main_thread()


def _fmt_eta(seconds: float) -> str:
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _check_finite(pending, last_good, directory) -> dict:
  """Fetches pending metrics; raises NonFiniteLossError naming the first bad step."""
  host = jax.device_get([m for _, m in pending])
  for (first, _), metrics in zip(pending, host):
    for i in range(len(metrics["d_loss"])):
      bad = {k: float(metrics[k][i]) for k in ("d_loss", "g_loss") if not np.isfinite(metrics[k][i])}
      if bad:
        where = (f"the last good checkpoint (step {last_good}) in {directory} is intact"
                 if last_good is not None else "no checkpoint was written")
        raise NonFiniteLossError(
            f"non-finite loss at step {first + i} ({', '.join(f'{k}={v}' for k, v in bad.items())}); "
            f"training stopped; {where}; lower the learning rates or try optim.loss=hinge")
  return {k: np.concatenate([np.asarray(m[k]) for m in host]) for k in host[0]}


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains `config` in `workdir` (resuming from its latest checkpoint); returns final metrics."""
  return Trainer(config, workdir).run()

"""The training loop, in the shape of flax's examples: `train_and_evaluate(config, workdir)`.

config -> data source and loader -> G, D, init and the k-steps-per-dispatch step, jitted on a
Mesh -> the workdir's latest checkpoint or a fresh state -> steps -> metrics (TensorBoard and
metrics.jsonl), EMA sample grids, evaluators (vid_jax.evaluators), checkpoints. SIGTERM saves
after the step in flight and stops; the same command resumes from the workdir.
"""
import contextlib
import dataclasses
import json
import signal
import threading
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from vid_jax import checkpoint as ckpt_lib
from vid_jax import data as data_lib
from vid_jax import evaluators as evaluators_lib
from vid_jax import inference
from vid_jax import paths
from vid_jax import sharding as shard_lib
from vid_jax import train_state as ts_lib
from vid_jax import validation
from vid_jax import writer as writer_lib
from vid_jax.augment import parse_policy
from vid_jax.data.attributes import ATTRIBUTE_INDEX, attribute_names, exclusive_columns
from vid_jax.errors import NonFiniteLossError, UserError
from vid_jax.models import build_gan
from vid_jax.train_step import StepOptions, make_multi_step, make_train_step


def step_options(config) -> StepOptions:
  """The static train-step settings of a run config."""
  names = attribute_names(config)
  adv = config.refiners.adversarial
  adversarial = None
  if adv.enabled:
    adversarial = tuple(
        sorted(
            dict(norm=adv.norm, eps=float(adv.eps), step_size=float(adv.step_size),
                 num_steps=int(adv.num_steps), fraction=float(adv.fraction)).items()))
  return StepOptions(loss=config.optim.loss, n_critic=config.optim.n_critic,
                     r1_gamma=float(config.optim.r1_gamma), ema_decay=float(config.optim.ema_decay),
                     z_dim=config.model.z_dim, attribute_indices=tuple(ATTRIBUTE_INDEX[n] for n in names),
                     adversarial=adversarial, aux_weight=float(config.optim.aux_weight),
                     aux_mode=config.optim.aux_mode, mode_seeking=float(config.optim.mode_seeking),
                     mismatch_weight=float(config.optim.mismatch_weight), d_batch=config.optim.d_batch,
                     diffaugment=parse_policy(config.optim.diffaugment))


def make_source(config):
  """The run's data source (raises UserError with a fix when the data is missing)."""
  d = config.data
  return data_lib.make_source(d.source, size=config.model.resolution, seed=d.seed, on_bad_file=d.on_bad_file,
                              num_examples=d.num_examples or None, cache_dir=d.cache_dir or None,
                              data_dir=d.data_dir or None)


def make_loader(config, source):
  """This process's shuffled batches of `source` (global batch train.batch_size), resumable."""
  t = config.train
  return data_lib.make_loader(source, global_batch_size=t.batch_size, seed=t.seed, shuffle=True,
                              flip=config.data.flip, process_index=jax.process_index(),
                              process_count=jax.process_count())


def next_batches(loader, *, k: int, sharding):
  """k local batches stacked on a leading axis, as global sharded arrays ([k, B, ...])."""
  local = [next(loader) for _ in range(k)]
  stacked = {key: np.stack([b[key] for b in local]) for key in local[0]}
  return shard_lib.global_batch(stacked, sharding)


def data_marginals(config, source):
  """np.float32 [A]: the data's marginals of the run's conditioned attributes; None when
  unconditional (or the source has no labels)."""
  names = attribute_names(config)
  if not names or not source.has_attributes:
    return None
  marg = np.asarray(source.attribute_marginals(), np.float32)
  return marg[[ATTRIBUTE_INDEX[a] for a in names]]


@dataclasses.dataclass(frozen=True)
class Parts:
  """What a run builds from its config before the first step (models, shardings, init, step).

  Attributes:
    generator, discriminator: the Flax modules.
    mesh: the device mesh; replicated / state_sharding / batch_sharding its shardings (the
      state is replicated, batches [k, B, ...] split on B).
    init_fn: key -> TrainState; init_key its key (train.seed).
    abstract_state: the TrainState's shapes (jax.eval_shape of init_fn).
    step_fn: (state, batches [k, B, ...]) -> (state, metrics {name: [k]}), unjitted (k =
      train.steps_per_dispatch; `jit_step` compiles it on the mesh).
  """
  generator: Any
  discriminator: Any
  mesh: Any
  replicated: Any
  state_sharding: Any
  batch_sharding: Any
  init_fn: Callable
  init_key: Any
  abstract_state: Any
  step_fn: Callable


def create_parts(config) -> Parts:
  """Models, mesh, init and step of a (validated) run config."""
  generator, discriminator = build_gan(config)
  mesh = shard_lib.make_mesh()
  rep = shard_lib.replicated(mesh)
  init_fn = ts_lib.make_init_fn(config, generator, discriminator)
  init_key = jax.random.PRNGKey(config.train.seed)
  abstract_state = jax.eval_shape(init_fn, init_key)
  step_fn = make_multi_step(
      make_train_step(generator=generator, discriminator=discriminator, options=step_options(config)),
      config.train.steps_per_dispatch)
  return Parts(generator=generator, discriminator=discriminator, mesh=mesh, replicated=rep,
               state_sharding=jax.tree.map(lambda _: rep, abstract_state),
               batch_sharding=shard_lib.batch_sharding(mesh, leading_axes=1), init_fn=init_fn,
               init_key=init_key, abstract_state=abstract_state, step_fn=step_fn)


def jit_step(parts: Parts):
  """The step on the mesh, the state donated."""
  return jax.jit(parts.step_fn, in_shardings=(parts.state_sharding, parts.batch_sharding),
                 out_shardings=(parts.state_sharding, parts.replicated), donate_argnums=0)


def create_train_state(parts: Parts):
  """A fresh TrainState, replicated on the mesh."""
  return jax.jit(parts.init_fn, out_shardings=parts.state_sharding)(parts.init_key)


def restore_or_create_state(parts: Parts, checkpointer, loader, *, workdir: str):
  """The workdir's latest checkpoint (and the loader's position), or a fresh state.

  On resume, metrics.jsonl lines logged after that checkpoint (before an interruption) go.
  """
  step = checkpointer.latest_step()
  if step is None:
    return create_train_state(parts)
  abstract = ckpt_lib.abstract_with_sharding(parts.abstract_state, parts.replicated)
  state, data_state = checkpointer.restore(abstract, step)
  loader.set_state(data_state)
  if jax.process_index() == 0:
    _truncate_metrics(paths.workdir_file(workdir, "metrics.jsonl"), step)
  logging.info("resumed from %s at step %d", checkpointer.directory, step)
  return state


def write_run_files(config, workdir: str, source) -> None:
  """WORKDIR/config.json and data_stats.json (the attributes' marginals tools sample from)."""
  names = attribute_names(config)
  paths.workdir_file(workdir).mkdir(parents=True, exist_ok=True)
  with paths.workdir_file(workdir, "config.json").open("w", encoding="utf-8") as f:
    f.write(config.to_json_best_effort(indent=2))
  stats = {"attribute_names": list(names), "marginals": None}
  if source.has_attributes:
    marg = np.asarray(source.attribute_marginals(), np.float64)
    stats["marginals"] = [float(marg[ATTRIBUTE_INDEX[a]]) for a in names]
    stats["all_marginals"] = marg.tolist()
  with paths.workdir_file(workdir, "data_stats.json").open("w", encoding="utf-8") as f:
    json.dump(stats, f, indent=2)


def make_grid_sampler(config, parts: Parts, source, ema_variables):
  """`state -> uint8 [N, R, R, 3]`: EMA samples of train.num_samples_grid fixed latents (and,
  for conditional runs, the first data rows' attributes), the same at every step."""
  n, names = config.train.num_samples_grid, attribute_names(config)
  z = jax.random.normal(jax.random.PRNGKey(config.train.seed + 1), (n, config.model.z_dim))
  y = None
  if names:
    attrs = source.get_batch(np.arange(min(n, len(source))))["attributes"]
    attrs = np.resize(attrs, (n, attrs.shape[1]))
    y = jnp.asarray(attrs[:, [ATTRIBUTE_INDEX[a] for a in names]], jnp.float32)
  g = parts.generator
  apply = jax.jit(lambda variables, z, y: g.apply(variables, z, y, train=False),
                  out_shardings=parts.replicated)
  return lambda state: writer_lib.to_uint8(jax.device_get(apply(ema_variables(state.ema_params), z, y)))


def make_evaluate_fn(config, parts: Parts, marginals, ema_variables):
  """`state -> {metric: float}`: the config's evaluators (built at the first call) on the EMA
  generator, as tools/evaluate.py scores the same checkpoint."""
  evaluators = None  # built at the first evaluation: real images and their features take a while

  def evaluate(state):
    nonlocal evaluators
    if evaluators is None:
      evaluators = evaluators_lib.from_config(config, generator=parts.generator, marginals=marginals)
    return evaluators_lib.evaluate(evaluators, ema_variables(state.ema_params))

  return evaluate


@contextlib.contextmanager
def stop_on_sigterm():
  """Yields an Event that SIGTERM sets (in the main thread; elsewhere it is never set)."""
  stop = threading.Event()
  previous = None
  if threading_main():

    def on_sigterm(signum, frame):  # pylint: disable=unused-argument
      logging.warning("SIGTERM: saving a checkpoint after the current step, then stopping")
      stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
  try:
    yield stop
  finally:
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains `config` in `workdir` to train.num_steps, resuming from its latest checkpoint.

  Returns:
    The last logged metrics with "step", "start_step", "compile_s", "wall_s" and the final
    "state".
  """
  validation.validate(config, device_count=jax.device_count(), process_count=jax.process_count())
  source = make_source(config)
  if attribute_names(config) and not source.has_attributes:
    raise UserError(f"config.model.conditional=True but data.source={config.data.source!r} has no "
                    "attribute labels; add list_attr_celeba.txt to the folder or train unconditionally")
  parts = create_parts(config)
  loader = make_loader(config, source)
  is_main = jax.process_index() == 0
  checkpointer = ckpt_lib.Checkpointer(workdir, keep=config.train.keep)
  try:  # a checkpoint that does not fit this config stops here, before config.json is rewritten
    state = restore_or_create_state(parts, checkpointer, loader, workdir=workdir)
  except BaseException:
    checkpointer.close()
    raise
  if is_main:
    write_run_files(config, workdir, source)
  names = attribute_names(config)
  marginals = inference.sampling_marginals(names, data_marginals(config, source))
  ema_variables = inference.make_ema_variables_fn(parts.generator, z_dim=config.model.z_dim,
                                                  marginals=marginals, exclusive=exclusive_columns(names))
  writer = writer_lib.MetricWriter(workdir, enabled=is_main)
  try:
    with stop_on_sigterm() as stop:
      return train_loop(config, parts=parts, state=state, loader=loader, checkpointer=checkpointer,
                        writer=writer, stop=stop, samples=make_grid_sampler(config, parts, source,
                                                                            ema_variables),
                        evaluate=make_evaluate_fn(config, parts, marginals, ema_variables))
  finally:
    checkpointer.close()
    writer.close()


def train_loop(config, *, parts: Parts, state, loader, checkpointer, writer, stop: threading.Event,
               samples: Callable, evaluate: Callable) -> dict:
  """Steps from `state` to train.num_steps (or until `stop` is set); see train_and_evaluate.

  Args:
    samples: state -> uint8 sample grid images, every train.sample_every steps.
    evaluate: state -> {metric: float}, every train.eval_every steps.
  """
  t = config.train
  k = t.steps_per_dispatch
  step_fn = jit_step(parts)
  step = int(jax.device_get(state.step))
  start_step, last_good = step, checkpointer.latest_step()
  t_start = time.perf_counter()
  compile_s = None
  pending = []  # (first step, device metrics [k]) since the last host sync
  last_logged = {}
  t_log, step_log = time.perf_counter(), step
  while step < t.num_steps and not stop.is_set():
    batches = next_batches(loader, k=k, sharding=parts.batch_sharding)
    if compile_s is None:
      t0 = time.perf_counter()
      compiled = step_fn.lower(state, batches).compile()
      compile_s = time.perf_counter() - t0
      logging.info("compiled the train step in %.1f s", compile_s)
      t_log = time.perf_counter()
    state, metrics = compiled(state, batches)
    pending.append((step + 1, metrics))
    step += k
    done = step >= t.num_steps or stop.is_set()
    will_save = done or (t.checkpoint_every and step % t.checkpoint_every == 0)
    will_log = done or (t.log_every and step % t.log_every == 0)
    if will_save or will_log:
      host = _check_finite(pending, last_good, checkpointer.directory)
      pending = []
      if will_log:
        sps = (step - step_log) / max(time.perf_counter() - t_log, 1e-9)
        last_logged = _log(writer, step, host, sps=sps, num_steps=t.num_steps, batch_size=t.batch_size)
        t_log, step_log = time.perf_counter(), step
    t_side = time.perf_counter()
    if t.sample_every and (step % t.sample_every == 0 or done):
      path = writer.image_grid(step, samples(state))
      if path:
        logging.info("samples: %s", path)
    if t.eval_every and (step % t.eval_every == 0 or done):
      writer.scalars(step, evaluate(state))
    if will_save:
      checkpointer.save(step, state, loader.get_state())
      last_good = step
    t_log += time.perf_counter() - t_side  # steps/s counts training time only
  if stop.is_set():
    logging.warning("stopped at step %d by SIGTERM; rerun the same command to resume", step)
  checkpointer.wait()
  wall = time.perf_counter() - t_start
  return dict(last_logged, step=step, start_step=start_step, compile_s=compile_s or 0.0, wall_s=wall,
              state=state)


def _log(writer, step: int, host: dict, *, sps: float, num_steps: int, batch_size: int) -> dict:
  """Writes the means of the host metrics {name: [n]} and the speed; returns what it wrote."""
  logged = {k: float(np.mean(v)) for k, v in host.items()}
  logged.update(steps_per_sec=sps, images_per_sec=sps * batch_size)
  writer.scalars(step, logged)
  eta = (num_steps - step) / max(sps, 1e-9)
  logging.info(
      "step %d/%d | %.2f steps/s %.0f img/s | ETA %s | d_loss %.3f g_loss %.3f "
      "D(x) %.3f D(G(z)) %.3f", step, num_steps, sps, sps * batch_size, _fmt_eta(eta), logged["d_loss"],
      logged["g_loss"], logged["d_real"], logged["d_fake"])
  return logged


def _truncate_metrics(path, step: int) -> None:
  """Drops metrics.jsonl lines logged after `step` (written before an interruption).

  Args:
    path: an epath.Path (local or a URL: the file is rewritten whole, as object stores need).
  """
  if not path.exists():
    return
  with path.open("r", encoding="utf-8") as f:
    lines = [l for l in f if l.strip() and json.loads(l).get("step", 0) <= step]
  with path.open("w", encoding="utf-8") as f:
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

"""The attribute classifier's training loop, in the GAN's skeleton (vid_jax/train.py).

  python tools/train_classifier.py --config=configs/classifier_avatars.py --workdir=runs/classifier

`train_and_evaluate(config, workdir)`: options checked once, a train / held-out
split of the source, a grain loader (each process its share of each global
batch), the jitted step on a data-parallel mesh, scalars through the metric
writer, held-out accuracy at the end and an orbax checkpoint (models/classifier.py).
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from vid_jax import data as data_lib
from vid_jax import paths
from vid_jax import sharding as shard_lib
from vid_jax import writer as writer_lib
from vid_jax.classifier_step import make_train_step
from vid_jax.data.attributes import ATTRIBUTE_NAMES, NUM_ATTRIBUTES
from vid_jax.errors import UserError
from vid_jax.models.classifier import (BLUR_RADIUS, AttributeClassifier, Classifier, save_classifier,
                                       uncommitted)


@dataclasses.dataclass(frozen=True)
class ClassifierOptions:
  """The typed view of a classifier config (validated once, before compiling)."""
  source: str
  num_examples: int | None
  cache_dir: str | None
  resolution: int
  width: int
  feature_dim: int
  steps: int
  batch_size: int
  lr: float
  holdout: float
  eval_batch_size: int
  log_every: int
  seed: int
  blur_max: float = 0.0
  noise_max: float = 0.0


def options_from_config(config, *, device_count: int) -> ClassifierOptions:
  """Reads and checks the fields train_and_evaluate uses; one UserError per bad field."""

  def err(field, value, fix):
    return UserError(f"config.{field}={value!r}: {fix}")

  c, d = config.classifier, config.data
  res = config.model.resolution
  if res < 8 or res & (res - 1):
    raise err("model.resolution", res, "must be a power of two >= 8 (e.g. 32 or 64)")
  for field in ("width", "feature_dim", "steps", "eval_batch_size"):
    if c[field] < 1:
      raise err(f"classifier.{field}", c[field], "must be a positive integer")
  if c.batch_size < 1 or c.batch_size % device_count:
    raise err("classifier.batch_size", c.batch_size,
              f"must be a positive multiple of the device count ({device_count})")
  if not c.lr > 0:
    raise err("classifier.lr", c.lr, "must be > 0")
  if not c.holdout > 0:
    raise err("classifier.holdout", c.holdout,
              "must be a fraction in (0, 1) or a count >= 1 of held-out examples")
  if c.log_every < 0:
    raise err("classifier.log_every", c.log_every, "must be >= 0")
  if not 0 <= c.blur_max <= BLUR_RADIUS / 2:
    raise err("classifier.blur_max", c.blur_max, f"must be in [0, {BLUR_RADIUS / 2}] pixels (0 = off)")
  if not 0 <= c.noise_max <= 1:
    raise err("classifier.noise_max", c.noise_max, "must be in [0, 1] (0 = off)")
  return ClassifierOptions(source=d.source, num_examples=d.num_examples or None, cache_dir=d.cache_dir or
                           None, resolution=res, width=c.width, feature_dim=c.feature_dim, steps=c.steps,
                           batch_size=c.batch_size, lr=float(c.lr), holdout=float(c.holdout),
                           eval_batch_size=c.eval_batch_size, log_every=c.log_every, seed=config.train.seed,
                           blur_max=float(c.blur_max), noise_max=float(c.noise_max))


class _Subset:
  """A random-access view of `source` restricted to `indices` (train / held-out split)."""

  def __init__(self, source, indices):
    self.source = source
    self.indices = np.asarray(indices, np.int64)

  def __len__(self):
    return len(self.indices)

  def __getitem__(self, i):
    return self.source[int(self.indices[i])]

  def get_batch(self, indices):
    return self.source.get_batch(self.indices[np.asarray(indices, np.int64)])

  def __getattr__(self, name):  # spec, size, has_attributes, ... of the underlying source
    if name in ("source", "indices"):  # not set yet (e.g. while unpickling in a worker)
      raise AttributeError(name)
    return getattr(self.source, name)


def split_indices(n: int, holdout: float) -> tuple[np.ndarray, np.ndarray]:
  """(train, held-out) indices: the last `holdout` examples (a fraction if < 1) are held out."""
  h = int(round(holdout * n)) if holdout < 1 else int(holdout)
  if not 1 <= h < n:
    raise UserError(f"config.classifier.holdout={holdout!r} holds out {h} of the {n} examples; "
                    f"give a count from 1 to {n - 1} or a fraction in (0, 1)")
  return np.arange(n - h), np.arange(n - h, n)


def evaluate_accuracy(classifier: Classifier, source, *, batch_size: int) -> dict:
  """Per-attribute accuracy of `classifier` on every example of `source`.

  Returns:
    {"accuracy": float64 [A], "majority": float64 [A] (accuracy of always
    answering the held-out majority label), "positive_rate": float64 [A],
    "feature_rms": RMS of `classifier.features`, "count": int}.
  """
  n = len(source)
  correct = np.zeros(len(classifier.attribute_names), np.int64)
  positives = np.zeros_like(correct)
  sum_squares = 0.0
  for start in range(0, n, batch_size):
    idx = np.arange(start, min(n, start + batch_size))
    batch = source.get_batch(idx)
    images = batch["image"]
    if len(idx) < batch_size:  # pad to one compiled shape
      images = np.concatenate([images, np.zeros((batch_size - len(idx),) + images.shape[1:], images.dtype)])
    logits, feats = classifier.logits_and_features(images)
    pred = np.asarray(logits)[:len(idx)] > 0
    sum_squares += float(np.sum(np.square(np.asarray(feats, np.float64)[:len(idx)])))
    labels = np.asarray(batch["attributes"], bool)
    correct += (pred == labels).sum(0)
    positives += labels.sum(0)
  rate = positives / n
  feature_dim = classifier.module.feature_dim
  return {
      "accuracy": correct / n,
      "majority": np.maximum(rate, 1 - rate),
      "positive_rate": rate,
      "feature_rms": float(np.sqrt(sum_squares / (n * feature_dim))),
      "count": n
  }


@dataclasses.dataclass(frozen=True)
class Parts:
  """What a classifier run is built from (the GAN's train.Parts, for the classifier)."""
  module: AttributeClassifier
  tx: optax.GradientTransformation
  replicated: jax.sharding.NamedSharding
  data_sharding: jax.sharding.NamedSharding
  step_fn: Callable  # jitted (variables, opt_state, images, labels, key) -> (variables, opt_state, metrics)


def make_sources(opts: ClassifierOptions) -> tuple[_Subset, _Subset]:
  """(train, held-out) views of the configured source; the last `holdout` examples are held out."""
  source = data_lib.make_source(opts.source, size=opts.resolution, seed=opts.seed,
                                num_examples=opts.num_examples, cache_dir=opts.cache_dir)
  if not source.has_attributes:
    raise UserError(f"config.data.source={opts.source!r} has no attribute labels; the classifier "
                    "needs them (avatars, tfds:celeb_a, or a folder with list_attr_celeba.txt)")
  train_idx, held_idx = split_indices(len(source), opts.holdout)
  return _Subset(source, train_idx), _Subset(source, held_idx)


def make_loader(opts: ClassifierOptions, train_source):
  """This process's shuffled batches of the training split (global batch classifier.batch_size)."""
  return data_lib.make_loader(train_source, global_batch_size=opts.batch_size, seed=opts.seed, shuffle=True,
                              process_index=jax.process_index(), process_count=jax.process_count())


def create_parts(opts: ClassifierOptions) -> Parts:
  """The module, Adam with a cosine-decayed lr, the mesh's shardings and the jitted step."""
  module = AttributeClassifier(num_attributes=NUM_ATTRIBUTES, width=opts.width, feature_dim=opts.feature_dim)
  schedule = optax.cosine_decay_schedule(opts.lr, opts.steps, alpha=0.05)
  tx = optax.adam(schedule)
  mesh = shard_lib.make_mesh()
  rep = shard_lib.replicated(mesh)
  data_sharding = shard_lib.batch_sharding(mesh)
  step_fn = jax.jit(make_train_step(module, tx, blur_max=opts.blur_max, noise_max=opts.noise_max),
                    in_shardings=(rep, rep, data_sharding, data_sharding, rep), out_shardings=(rep, rep, rep),
                    donate_argnums=(0, 1))
  return Parts(module=module, tx=tx, replicated=rep, data_sharding=data_sharding, step_fn=step_fn)


def create_state(opts: ClassifierOptions, parts: Parts):
  """Fresh (variables, opt_state) from train.seed, replicated on every device."""

  def init(key):
    x = jnp.zeros((1, opts.resolution, opts.resolution, 3), jnp.float32)
    variables = parts.module.init(key, x, train=False)
    return variables, parts.tx.init(variables["params"])

  # The rbg PRNG for init only: threefry's random-bits code makes this init
  # compile ~5x slower on XLA:CPU (~25 s against ~5 s on two busy cores).
  init_key = jax.random.key(opts.seed, impl="rbg")
  return jax.jit(init, out_shardings=parts.replicated)(init_key)


def train_loop(opts: ClassifierOptions, *, parts: Parts, variables, opt_state, loader, writer):
  """classifier.steps steps from (variables, opt_state); returns the trained variables.

  The step's augmentation key is fold_in(key(train.seed + 1), step); scalars are fetched and
  written every classifier.log_every steps and at the end.
  """
  aug_key = jax.random.key(opts.seed + 1)
  pending = []
  t_log, step_log = time.perf_counter(), 0
  for step in range(1, opts.steps + 1):
    batch = next(loader)
    images, labels = shard_lib.global_batch((batch["image"], batch["attributes"]), parts.data_sharding)
    variables, opt_state, metrics = parts.step_fn(variables, opt_state, images, labels,
                                                  jax.random.fold_in(aug_key, step))
    pending.append(metrics)
    if (opts.log_every and step % opts.log_every == 0) or step == opts.steps:
      host = jax.device_get(pending)
      pending = []
      logged = {f"classifier/{k}": float(np.mean([m[k] for m in host])) for k in host[0]}
      now = time.perf_counter()  # the first interval includes compilation
      logged["classifier/steps_per_sec"] = (step - step_log) / max(now - t_log, 1e-9)
      t_log, step_log = now, step
      if not np.isfinite(logged["classifier/loss"]):
        raise UserError(f"classifier loss is {logged['classifier/loss']} at step {step}; "
                        "lower config.classifier.lr")
      writer.scalars(step, logged)
      logging.info("classifier step %d/%d loss %.4f accuracy %.4f (%.2f steps/s)", step, opts.steps,
                   logged["classifier/loss"], logged["classifier/accuracy"],
                   logged["classifier/steps_per_sec"])
  return variables


def evaluate_and_save(opts: ClassifierOptions, *, parts: Parts, variables, held_source, train_examples: int,
                      workdir: str, writer, t_start: float, train_s: float) -> dict:
  """Held-out accuracy and feature scale; writes the checkpoint and WORKDIR/classifier.json."""
  classifier = Classifier(module=parts.module, variables=uncommitted(variables),
                          attribute_names=ATTRIBUTE_NAMES, resolution=opts.resolution)
  held = evaluate_accuracy(classifier, held_source, batch_size=opts.eval_batch_size)
  classifier = dataclasses.replace(classifier, feature_scale=max(held["feature_rms"], 1e-12))
  drawn = [i for i, r in enumerate(held["positive_rate"]) if 0 < r < 1]
  results = {name: float(acc) for name, acc in zip(ATTRIBUTE_NAMES, held["accuracy"])}
  results["mean_drawn"] = float(np.mean(held["accuracy"][drawn])) if drawn else float("nan")
  results["steps"] = opts.steps
  results["wall_s"] = time.perf_counter() - t_start
  summary = {
      "source": opts.source,
      "resolution": opts.resolution,
      "steps": opts.steps,
      "train_examples": train_examples,
      "heldout_examples": held["count"],
      "train_s": train_s,
      "wall_s": results["wall_s"],
      "heldout_accuracy": {
          n: results[n] for n in ATTRIBUTE_NAMES
      },
      "heldout_majority_baseline": {
          n: float(m) for n, m in zip(ATTRIBUTE_NAMES, held["majority"])
      },
      "heldout_positive_rate": {
          n: float(r) for n, r in zip(ATTRIBUTE_NAMES, held["positive_rate"])
      },
      "mean_drawn": results["mean_drawn"],
      "feature_scale": classifier.feature_scale,
  }
  writer.scalars(opts.steps, {f"heldout_accuracy/{n}": results[n] for n in ATTRIBUTE_NAMES} |
                 {"heldout_accuracy/mean_drawn": results["mean_drawn"]})
  save_classifier(
      workdir,
      classifier,
      step=opts.steps,  # every process: orbax coordinates
      extra={
          "heldout_accuracy": summary["heldout_accuracy"],
          "source": opts.source
      })
  if jax.process_index() == 0:
    with paths.workdir_file(workdir, "classifier.json").open("w", encoding="utf-8") as f:
      json.dump(summary, f, indent=2)
  return results


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains the attribute classifier of `config` and checkpoints it in `workdir`.

  Args:
    config: ConfigDict with data.{source, num_examples, cache_dir},
      model.resolution, classifier.{width, feature_dim, steps, batch_size, lr,
      holdout, eval_batch_size, log_every, blur_max, noise_max}, train.seed.
    workdir: output folder (checkpoints, classifier.json, metrics).

  Returns:
    {attribute name: held-out accuracy} for every attribute, plus
    "mean_drawn" (mean over attributes with both labels among held-out
    examples), "wall_s" and "steps".
  """
  opts = options_from_config(config, device_count=jax.device_count())
  t_start = time.perf_counter()
  train_source, held_source = make_sources(opts)
  loader = make_loader(opts, train_source)
  parts = create_parts(opts)
  variables, opt_state = create_state(opts, parts)
  writer = writer_lib.MetricWriter(workdir, enabled=jax.process_index() == 0)
  try:
    variables = train_loop(opts, parts=parts, variables=variables, opt_state=opt_state, loader=loader,
                           writer=writer)
    return evaluate_and_save(opts, parts=parts, variables=variables, held_source=held_source,
                             train_examples=len(train_source), workdir=workdir, writer=writer,
                             t_start=t_start, train_s=time.perf_counter() - t_start)
  finally:
    writer.close()

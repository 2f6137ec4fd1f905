"""Attribute classifier: a small CNN predicting CelebA's 40 attributes, plus a feature vector.

Used to check that conditioned samples show the requested attributes and as the
feature space of "domain" FID/KID (vid_jax.metrics), which, unlike Inception
features, is trained on the data the GAN models (avatars, faces).

  python tools/train_classifier.py --config=configs/classifier_avatars.py --workdir=runs/classifier

Workdir layout: WORKDIR/checkpoints (orbax: "variables" + "meta"),
WORKDIR/classifier.json (held-out accuracies), metrics.jsonl and TensorBoard events.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging

from vid_jax import data as data_lib
from vid_jax import sharding as shard_lib
from vid_jax import writer as writer_lib
from vid_jax.data.attributes import ATTRIBUTE_NAMES, NUM_ATTRIBUTES
from vid_jax.errors import UserError
from vid_jax.models.layers import max_pool_2x2

# Bump when AttributeClassifier's parameters change meaning or shape: older
# checkpoints are then refused with a "retrain" message instead of a shape error.
META_VERSION = 2


class AttributeClassifier(nn.Module):
  """CNN: 3x3 conv stem, (2x2 max pool, two 3x3 convs) stages down to 4x4, flatten, two heads.

  Attributes:
    num_attributes: number of binary attributes (logits).
    width: channels of the stem; stages double it up to 8x.
    feature_dim: size of the feature vector (the pre-activation of the hidden
      dense layer), used for domain FID/KID.
    dtype: compute dtype (params stay float32).
  """
  num_attributes: int = NUM_ATTRIBUTES
  width: int = 32
  feature_dim: int = 256
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool, return_features: bool = False):
    """Logits of each attribute.

    Args:
      x: [B, R, R, 3] images in [-1, 1], R a power of two >= 8.
      train: batch statistics (True) or running averages (False) in BatchNorm.
      return_features: also return the feature vector.

    Returns:
      logits [B, num_attributes] float32, or (logits, features [B, feature_dim] float32).
    """
    if x.shape[1] != x.shape[2] or x.shape[1] < 8 or x.shape[1] & (x.shape[1] - 1):
      raise ValueError(f"AttributeClassifier needs square power-of-two images >= 8, got {x.shape}")
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                dtype=self.dtype)
    conv = lambda c: nn.Conv(c, (3, 3), padding=1, use_bias=False,
                             dtype=self.dtype)  # BatchNorm follows: no bias
    x = x.astype(self.dtype)
    x = nn.relu(norm()(conv(self.width)(x)))  # [B, R, R, w]
    channels = self.width
    while x.shape[1] > 4:
      # 2x2 max pooling, then stride-1 convs. Against stride-2 convs, the
      # forward + backward pass ran ~1.8x faster on XLA:CPU (whose input
      # gradient of a strided conv is an input-dilated conv); against mean
      # pooling, small dark strokes (glasses, mouth) were learnt faster.
      x = max_pool_2x2(x)  # [B, h/2, w/2, c]
      channels = min(channels * 2, self.width * 8)
      x = nn.relu(norm()(conv(channels)(x)))
      x = nn.relu(norm()(conv(channels)(x)))
    # Flatten rather than global-average-pool: faces are aligned, so where a
    # feature sits matters (a moustache is hair under the nose). Measured at
    # 32x32 after 600 steps: Eyeglasses 0.90 vs 0.77 held-out accuracy.
    x = x.reshape(x.shape[0], -1)  # [B, 4 * 4 * C]
    features = nn.Dense(self.feature_dim, dtype=self.dtype)(x)  # [B, feature_dim]
    logits = nn.Dense(self.num_attributes, dtype=self.dtype)(nn.relu(features))
    logits = logits.astype(jnp.float32)
    if return_features:
      return logits, features.astype(jnp.float32)
    return logits


def images_to_float(images, resolution: int):
  """uint8 [0, 255] or float [-1, 1] images [B, H, W, 3] -> float32 [-1, 1] at `resolution`.

  Other sizes are resized bilinearly (antialiased when shrinking).
  """
  x = jnp.asarray(images)
  if x.dtype == jnp.uint8:
    x = x.astype(jnp.float32) / 127.5 - 1.0
  x = x.astype(jnp.float32)
  if x.shape[1] != resolution or x.shape[2] != resolution:
    x = jax.image.resize(x, (x.shape[0], resolution, resolution, x.shape[3]), "bilinear")
  return x


@functools.partial(jax.jit, static_argnames=("module", "resolution", "return_features"))
def _inference(variables, images, *, module, resolution, return_features):
  # Compiled once per (module, resolution, input shape), also when called eagerly.
  x = images_to_float(images, resolution)
  return module.apply(variables, x, train=False, return_features=return_features)


@dataclasses.dataclass(frozen=True)
class Classifier:
  """A trained classifier in inference mode. All methods are jittable.

  Attributes:
    module: the AttributeClassifier.
    variables: {"params", "batch_stats"}.
    attribute_names: names of the logits, in order (CelebA's 40 in tfds order).
    resolution: the training resolution; other inputs are resized to it.
    feature_scale: `features` are the network's divided by this: their RMS over
      the held-out real images at the end of training, so domain features have
      unit scale (like KID's kernel (x.y/d + 1)^3 expects) whatever the training.
  """
  module: AttributeClassifier
  variables: Any
  attribute_names: tuple[str, ...]
  resolution: int
  feature_scale: float = 1.0

  def _apply(self, images, return_features):
    return _inference(self.variables, images, module=self.module, resolution=self.resolution,
                      return_features=return_features)

  def logits(self, images):
    """images [B, H, W, 3] (uint8, or float in [-1, 1]) -> logits [B, A]."""
    return self._apply(images, False)

  def features(self, images):
    """images [B, H, W, 3] -> features [B, feature_dim] (domain FID/KID space)."""
    return self._apply(images, True)[1] / self.feature_scale

  def logits_and_features(self, images):
    """images [B, H, W, 3] -> (logits [B, A], features [B, feature_dim]) in one pass."""
    logits, features = self._apply(images, True)
    return logits, features / self.feature_scale

  def probabilities(self, images):
    """images [B, H, W, 3] -> attribute probabilities [B, A]."""
    return jax.nn.sigmoid(self.logits(images))


# ----------------------------------------------------------------------------
# Checkpoints.


def _checkpoint_manager(workdir: str, *, read_only: bool) -> ocp.CheckpointManager:
  directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
  options = ocp.CheckpointManagerOptions(max_to_keep=1, create=not read_only,
                                         read_only=read_only,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(directory, options=options, item_names=("variables", "meta"))


def _module_from_meta(meta: dict) -> AttributeClassifier:
  return AttributeClassifier(num_attributes=len(meta["attribute_names"]),
                             width=int(meta["width"]), feature_dim=int(meta["feature_dim"]))


def _abstract_variables(module: AttributeClassifier, resolution: int):
  x = jax.ShapeDtypeStruct((1, resolution, resolution, 3), jnp.float32)
  return jax.eval_shape(lambda k, x: module.init(k, x, train=False), jax.random.key(0), x)


def _uncommitted(tree):
  # Uncommitted arrays follow the other arguments of a jitted call, so the
  # classifier can score images that live on any device(s), e.g. a sharded batch.
  return jax.tree.map(lambda a: jnp.asarray(np.asarray(jax.device_get(a))), tree)


def save_classifier(workdir: str, classifier: Classifier, *, step: int, extra: dict) -> None:
  """Writes WORKDIR/checkpoints/<step> (orbax) with the variables and metadata."""
  meta = dict(version=META_VERSION, attribute_names=list(classifier.attribute_names),
              resolution=classifier.resolution, width=classifier.module.width,
              feature_dim=classifier.module.feature_dim,
              feature_scale=float(classifier.feature_scale), **extra)
  manager = _checkpoint_manager(workdir, read_only=False)
  manager.save(int(step), args=ocp.args.Composite(
      variables=ocp.args.StandardSave(classifier.variables), meta=ocp.args.JsonSave(meta)),
      force=True)
  manager.wait_until_finished()
  manager.close()


def load_classifier(workdir: str) -> Classifier:
  """Restores the classifier trained by tools/train_classifier.py in `workdir`.

  Raises:
    UserError: no classifier checkpoint in `workdir`.
  """
  hint = (f"train one with: python tools/train_classifier.py "
          f"--config=configs/classifier_avatars.py --workdir={workdir}")
  if not workdir or not os.path.isdir(os.path.join(workdir, "checkpoints")):
    raise UserError(f"no attribute classifier in {workdir!r} (no checkpoints/ folder); {hint}")
  manager = _checkpoint_manager(workdir, read_only=True)
  try:
    step = manager.latest_step()
    if step is None:
      raise UserError(f"no classifier checkpoint in {workdir}/checkpoints; {hint}")
    meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    if not {"feature_dim", "attribute_names", "feature_scale"} <= set(meta):
      raise UserError(f"{workdir} holds a checkpoint that is not an attribute classifier's; {hint}")
    if meta.get("version") != META_VERSION:
      raise UserError(f"the classifier in {workdir} was made by another version of "
                      f"AttributeClassifier ({meta.get('version')}, now {META_VERSION}); "
                      f"retrain it: {hint[len('train one with: '):]}")
    module = _module_from_meta(meta)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                            _abstract_variables(module, int(meta["resolution"])))
    variables = manager.restore(step, args=ocp.args.Composite(
        variables=ocp.args.StandardRestore(abstract)))["variables"]
  finally:
    manager.close()
  return Classifier(module=module, variables=_uncommitted(variables),
                    attribute_names=tuple(meta["attribute_names"]),
                    resolution=int(meta["resolution"]),
                    feature_scale=float(meta["feature_scale"]))


# ----------------------------------------------------------------------------
# Training.


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
  """Reads and checks the fields train_classifier uses; one UserError per bad field."""
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
  return ClassifierOptions(
      source=d.source, num_examples=d.num_examples or None,
      cache_dir=d.cache_dir or None, resolution=res, width=c.width,
      feature_dim=c.feature_dim, steps=c.steps, batch_size=c.batch_size, lr=float(c.lr),
      holdout=float(c.holdout), eval_batch_size=c.eval_batch_size, log_every=c.log_every,
      seed=config.train.seed, blur_max=float(c.blur_max), noise_max=float(c.noise_max))


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


def _bce(logits, labels):
  return optax.sigmoid_binary_cross_entropy(logits, labels).mean()


BLUR_RADIUS = 4  # taps each side of the blur kernel: sigma up to ~2 px keeps its tails inside


def gaussian_blur(x, sigma):
  """Separable Gaussian blur of x [B, H, W, C] with a per-image sigma [B] in pixels (0 = copy).

  Reflect-padded; the kernel has 2 * BLUR_RADIUS + 1 taps, normalised to sum 1.
  """
  taps = jnp.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, dtype=jnp.float32)
  s = jnp.maximum(sigma.astype(jnp.float32), 1e-3)[:, None]
  w = jnp.exp(-0.5 * jnp.square(taps[None, :] / s))
  w = w / jnp.sum(w, axis=1, keepdims=True)  # [B, taps]; sigma 1e-3 is a unit impulse
  r = BLUR_RADIUS
  for axis in (1, 2):
    pad = [(0, 0)] * 4
    pad[axis] = (r, r)
    xp = jnp.pad(x, pad, mode="reflect")
    n = x.shape[axis]
    x = sum(w[:, k, None, None, None] * jax.lax.slice_in_dim(xp, k, k + n, axis=axis)
            for k in range(2 * r + 1))
  return x


def augment(key, x, *, blur_max: float, noise_max: float):
  """The degradations GAN samples show, for a classifier that judges them: per image a Gaussian
  blur with sigma ~ U(0, blur_max) px and Gaussian noise with std ~ U(0, noise_max); x in [-1, 1]."""
  k_blur, k_std, k_noise = jax.random.split(key, 3)
  b = x.shape[0]
  if blur_max > 0:
    x = gaussian_blur(x, jax.random.uniform(k_blur, (b,), maxval=blur_max))
  if noise_max > 0:
    std = jax.random.uniform(k_std, (b, 1, 1, 1), maxval=noise_max)
    x = jnp.clip(x + std * jax.random.normal(k_noise, x.shape), -1.0, 1.0)
  return x


def make_train_step(module: AttributeClassifier, tx: optax.GradientTransformation, *,
                    blur_max: float = 0.0, noise_max: float = 0.0):
  """(variables, opt_state, images uint8 [B,R,R,3], labels bool [B,A], key) -> (variables, opt_state, metrics).

  With `blur_max` / `noise_max` > 0 the training images are augmented (`augment`) with `key`.
  """
  def step(variables, opt_state, images, labels, key):
    x = augment(key, images.astype(jnp.float32) / 127.5 - 1.0, blur_max=blur_max, noise_max=noise_max)
    y = labels.astype(jnp.float32)

    def loss_fn(params):
      logits, updates = module.apply({"params": params, "batch_stats": variables["batch_stats"]},
                                     x, train=True, mutable=["batch_stats"])
      return _bce(logits, y), (logits, updates["batch_stats"])

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        variables["params"])
    updates, opt_state = tx.update(grads, opt_state, variables["params"])
    params = optax.apply_updates(variables["params"], updates)
    accuracy = jnp.mean((logits > 0) == labels)
    return {"params": params, "batch_stats": batch_stats}, opt_state, {"loss": loss,
                                                                       "accuracy": accuracy}
  return step


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
      images = np.concatenate([images, np.zeros((batch_size - len(idx),) + images.shape[1:],
                                                images.dtype)])
    logits, feats = classifier.logits_and_features(images)
    pred = np.asarray(logits)[:len(idx)] > 0
    sum_squares += float(np.sum(np.square(np.asarray(feats, np.float64)[:len(idx)])))
    labels = np.asarray(batch["attributes"], bool)
    correct += (pred == labels).sum(0)
    positives += labels.sum(0)
  rate = positives / n
  feature_dim = classifier.module.feature_dim
  return {"accuracy": correct / n, "majority": np.maximum(rate, 1 - rate),
          "positive_rate": rate, "feature_rms": float(np.sqrt(sum_squares / (n * feature_dim))),
          "count": n}


def train_classifier(config, workdir: str) -> dict:
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
  source = data_lib.make_source(opts.source, size=opts.resolution, seed=opts.seed,
                                num_examples=opts.num_examples, cache_dir=opts.cache_dir)
  if not source.has_attributes:
    raise UserError(f"config.data.source={opts.source!r} has no attribute labels; the classifier "
                    "needs them (avatars, tfds:celeb_a, or a folder with list_attr_celeba.txt)")
  train_idx, held_idx = split_indices(len(source), opts.holdout)
  train_src, held_src = _Subset(source, train_idx), _Subset(source, held_idx)
  loader = data_lib.make_loader(train_src, global_batch_size=opts.batch_size, seed=opts.seed,
                                shuffle=True, process_index=jax.process_index(),
                                process_count=jax.process_count())

  module = AttributeClassifier(num_attributes=NUM_ATTRIBUTES, width=opts.width,
                               feature_dim=opts.feature_dim)
  schedule = optax.cosine_decay_schedule(opts.lr, opts.steps, alpha=0.05)
  tx = optax.adam(schedule)
  mesh = shard_lib.make_mesh()
  rep = shard_lib.replicated(mesh)
  data_sharding = shard_lib.batch_sharding(mesh)

  def init(key):
    x = jnp.zeros((1, opts.resolution, opts.resolution, 3), jnp.float32)
    variables = module.init(key, x, train=False)
    return variables, tx.init(variables["params"])

  # The rbg PRNG for init only: threefry's random-bits code makes this init
  # compile ~5x slower on XLA:CPU (~25 s against ~5 s on two busy cores).
  init_key = jax.random.key(opts.seed, impl="rbg")
  aug_key = jax.random.key(opts.seed + 1)
  variables, opt_state = jax.jit(init, out_shardings=rep)(init_key)
  step_fn = jax.jit(make_train_step(module, tx, blur_max=opts.blur_max, noise_max=opts.noise_max),
                    in_shardings=(rep, rep, data_sharding, data_sharding, rep),
                    out_shardings=(rep, rep, rep), donate_argnums=(0, 1))
  writer = writer_lib.MetricWriter(workdir, enabled=jax.process_index() == 0)
  pending = []
  t_log, step_log = time.perf_counter(), 0
  try:
    for step in range(1, opts.steps + 1):
      batch = next(loader)
      images, labels = shard_lib.global_batch((batch["image"], batch["attributes"]), data_sharding)
      variables, opt_state, metrics = step_fn(variables, opt_state, images, labels,
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
        logging.info("classifier step %d/%d loss %.4f accuracy %.4f (%.2f steps/s)", step,
                     opts.steps, logged["classifier/loss"], logged["classifier/accuracy"],
                     logged["classifier/steps_per_sec"])
    train_s = time.perf_counter() - t_start
    classifier = Classifier(module=module, variables=_uncommitted(variables),
                            attribute_names=ATTRIBUTE_NAMES, resolution=opts.resolution)
    held = evaluate_accuracy(classifier, held_src, batch_size=opts.eval_batch_size)
    classifier = dataclasses.replace(classifier, feature_scale=max(held["feature_rms"], 1e-12))
    drawn = [i for i, r in enumerate(held["positive_rate"]) if 0 < r < 1]
    results = {name: float(acc) for name, acc in zip(ATTRIBUTE_NAMES, held["accuracy"])}
    results["mean_drawn"] = float(np.mean(held["accuracy"][drawn])) if drawn else float("nan")
    results["steps"] = opts.steps
    results["wall_s"] = time.perf_counter() - t_start
    summary = {
        "source": opts.source, "resolution": opts.resolution, "steps": opts.steps,
        "train_examples": len(train_idx), "heldout_examples": held["count"],
        "train_s": train_s, "wall_s": results["wall_s"],
        "heldout_accuracy": {n: results[n] for n in ATTRIBUTE_NAMES},
        "heldout_majority_baseline": {n: float(m) for n, m in
                                      zip(ATTRIBUTE_NAMES, held["majority"])},
        "heldout_positive_rate": {n: float(r) for n, r in
                                  zip(ATTRIBUTE_NAMES, held["positive_rate"])},
        "mean_drawn": results["mean_drawn"], "feature_scale": classifier.feature_scale,
    }
    writer.scalars(opts.steps, {f"heldout_accuracy/{n}": results[n] for n in ATTRIBUTE_NAMES}
                   | {"heldout_accuracy/mean_drawn": results["mean_drawn"]})
    save_classifier(workdir, classifier, step=opts.steps,  # every process: orbax coordinates
                    extra={"heldout_accuracy": summary["heldout_accuracy"],
                           "source": opts.source})
    if jax.process_index() == 0:
      with open(os.path.join(workdir, "classifier.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
  finally:
    writer.close()
  return results

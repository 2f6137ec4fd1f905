"""Attribute classifier: a small CNN predicting CelebA's 40 attributes, plus a feature vector.

Used to check that conditioned samples show the requested attributes and as the
feature space of "domain" FID/KID (vid_jax.metrics), which, unlike Inception
features, is trained on the data the GAN models (avatars, faces). Training lives
in vid_jax/classifier_train.py (the loop) and vid_jax/classifier_step.py (the step):

  python tools/train_classifier.py --config=configs/classifier_avatars.py --workdir=runs/classifier

Workdir layout: WORKDIR/checkpoints (orbax: "variables" + "meta"),
WORKDIR/classifier.json (held-out accuracies), metrics.jsonl and TensorBoard events.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from vid_jax import paths
from vid_jax import zoo
from vid_jax.data import avatars
from vid_jax.data.attributes import NUM_ATTRIBUTES
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
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)
    conv = lambda c: nn.Conv(c, (3, 3), padding=1, use_bias=False, dtype=self.dtype
                            )  # BatchNorm follows: no bias
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
  directory = paths.checkpoint_directory(workdir)
  options = ocp.CheckpointManagerOptions(max_to_keep=1, create=not read_only, read_only=read_only,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(directory, options=options, item_names=("variables", "meta"))


def _module_from_meta(meta: dict) -> AttributeClassifier:
  return AttributeClassifier(num_attributes=len(meta["attribute_names"]), width=int(meta["width"]),
                             feature_dim=int(meta["feature_dim"]))


def _abstract_variables(module: AttributeClassifier, resolution: int):
  x = jax.ShapeDtypeStruct((1, resolution, resolution, 3), jnp.float32)
  return jax.eval_shape(lambda k, x: module.init(k, x, train=False), jax.random.key(0), x)


def uncommitted(tree):
  """`tree`'s arrays copied to uncommitted arrays on the default device.

  Uncommitted arrays follow the other arguments of a jitted call, so the
  classifier can score images that live on any device(s), e.g. a sharded batch.
  """
  return jax.tree.map(lambda a: jnp.asarray(np.asarray(jax.device_get(a))), tree)


def save_classifier(workdir: str, classifier: Classifier, *, step: int, extra: dict) -> None:
  """Writes WORKDIR/checkpoints/<step> (orbax) with the variables and metadata."""
  meta = dict(version=META_VERSION, attribute_names=list(classifier.attribute_names),
              resolution=classifier.resolution, width=classifier.module.width,
              feature_dim=classifier.module.feature_dim, feature_scale=float(classifier.feature_scale),
              **extra)
  manager = _checkpoint_manager(workdir, read_only=False)
  manager.save(
      int(step), args=ocp.args.Composite(variables=ocp.args.StandardSave(classifier.variables),
                                         meta=ocp.args.JsonSave(meta)), force=True)
  manager.wait_until_finished()
  manager.close()


def load_classifier(source: str) -> Classifier:
  """Restores the classifier trained by tools/train_classifier.py in a workdir, or a zoo entry
  (`zoo:classifier` or its folder; vid_jax.zoo).

  Raises:
    UserError: no classifier checkpoint in the workdir, or an entry that fails its card.
  """
  if zoo.is_entry(source):
    return _load_entry(source)
  meta, variables, _ = _restore(source)
  return _classifier(meta, variables)


def _classifier(meta: dict, variables) -> Classifier:
  return Classifier(module=_module_from_meta(meta), variables=uncommitted(variables),
                    attribute_names=tuple(meta["attribute_names"]), resolution=int(meta["resolution"]),
                    feature_scale=float(meta["feature_scale"]))


def _check_meta(meta: dict, where: str, hint: str) -> None:
  if not {"feature_dim", "attribute_names", "feature_scale"} <= set(meta):
    raise UserError(f"{where} holds a checkpoint that is not an attribute classifier's; {hint}")
  if meta.get("version") != META_VERSION:
    raise UserError(f"the classifier in {where} was made by another version of "
                    f"AttributeClassifier ({meta.get('version')}, now {META_VERSION}); "
                    f"retrain it: {hint[len('train one with: '):]}")


def _restore(workdir: str):
  """(meta, variables, step) of the latest checkpoint in `workdir`."""
  hint = (f"train one with: python tools/train_classifier.py "
          f"--config=configs/classifier_avatars.py --workdir={workdir}")
  if not workdir or not paths.workdir_file(workdir, "checkpoints").is_dir():
    raise UserError(f"no attribute classifier in {workdir!r} (no checkpoints/ folder); {hint}")
  manager = _checkpoint_manager(workdir, read_only=True)
  try:
    step = manager.latest_step()
    if step is None:
      raise UserError(f"no classifier checkpoint in {workdir}/checkpoints; {hint}")
    meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    _check_meta(meta, workdir, hint)
    module = _module_from_meta(meta)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                            _abstract_variables(module, int(meta["resolution"])))
    variables = manager.restore(
        step, args=ocp.args.Composite(variables=ocp.args.StandardRestore(abstract)))["variables"]
  finally:
    manager.close()
  return meta, variables, int(step)


def _load_entry(source: str) -> Classifier:
  entry = zoo.open_entry(source, "classifier")
  meta = entry.read_json("meta.json")
  _check_meta(meta, entry.path, "train one with: make models")
  module = _module_from_meta(meta)
  variables = zoo.restore(entry.weights(), _abstract_variables(module, int(meta["resolution"])),
                          where=entry.path)
  return _classifier(meta, variables)


PROBE_IMAGES = 64  # built-in avatars (seed PROBE_SEED) the float16 check of an export measures on
PROBE_SEED = 1
LOGIT_TOLERANCE = 1e-2  # of logits and of the (unit-RMS) features


def export_payload(workdir: str) -> zoo.ExportPayload:
  """What a zoo entry of the classifier in `workdir` stores (tools/export_zoo.py): its variables,
  meta.json (the checkpoint's metadata) and classifier.json; the float16 check measures logits and
  features on PROBE_IMAGES built-in avatars."""
  if zoo.is_entry(workdir):
    raise UserError(f"{workdir} is a zoo entry already; export from the training workdir")
  meta, variables, step = _restore(workdir)
  classifier = _classifier(meta, variables)
  files = {"meta.json": json.dumps(meta, indent=2).encode()}
  summary = paths.workdir_file(workdir, "classifier.json")
  if summary.exists():
    files["classifier.json"] = summary.read_bytes()
  images, _ = avatars.render_batch(range(PROBE_IMAGES), seed=PROBE_SEED, size=classifier.resolution)
  images = jnp.asarray(images)

  def outputs(flat):
    variables = zoo.unflatten({k: jnp.asarray(v) for k, v in flat.items()}, classifier.variables)
    c = dataclasses.replace(classifier, variables=variables)
    logits, features = c.logits_and_features(images)
    return {"logits": np.asarray(logits), "features": np.asarray(features)}

  arrays = {k: np.asarray(v) for k, v in zoo.flatten(classifier.variables).items()}
  return zoo.ExportPayload(kind="classifier", step=step, arrays=arrays, files=files, outputs=outputs,
                           tolerance={
                               "logits": LOGIT_TOLERANCE,
                               "features": LOGIT_TOLERANCE
                           }, probe=f"{PROBE_IMAGES} built-in avatars (seed {PROBE_SEED})")


# ----------------------------------------------------------------------------
# The degradation GAN samples show (training augmentation, robustness checks).

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
    x = sum(
        w[:, k, None, None, None] * jax.lax.slice_in_dim(xp, k, k + n, axis=axis) for k in range(2 * r + 1))
  return x

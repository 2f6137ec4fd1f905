"""A trained encoder with the GAN and classifier it was trained with: its checkpoints and loading.

Workdir layout: WORKDIR/checkpoints (orbax items "params", "opt_state", "meta"), metrics.json (the
held-out evaluation), metrics.jsonl and TensorBoard events. The meta records the GAN and classifier
(zoo names as given, workdirs as absolute paths), so `load_encoder(WORKDIR)` needs nothing else.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from vid_jax import paths
from vid_jax import zoo
from vid_jax.data import avatars
from vid_jax.encoder.directions import Directions
from vid_jax.encoder.frozen import Frozen, load_frozen
from vid_jax.errors import UserError
from vid_jax.models.classifier import images_to_float, uncommitted
from vid_jax.models.encoder import Encoder
from vid_jax.models.layers import resolve_conv_impl

META_VERSION = 1
INVERSION_FIELDS = ("steps", "lr", "pixel", "d_feature", "encoder")
_HINT = ("train one with: python tools/train_encoder.py --config=configs/encoder_avatars.py --workdir=W "
         "--gan_workdir=zoo:avatar_gan --classifier_workdir=zoo:classifier")


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: compiled functions are cached per bundle
class EncoderModels:
  """The encoder in inference mode, the frozen GAN and classifier, edit directions, inversion settings.

  Attributes:
    module: the Encoder; `params` its parameters.
    frozen: `encoder.frozen.Frozen` (G, D, classifier).
    directions: InterFaceGAN directions for attributes G is not conditioned on.
    inversion: {"steps", "lr", "pixel", "d_feature", "encoder"} (configs/encoder_avatars.py).
    meta: the checkpoint's metadata (sources, step, config, metrics).
  """
  module: Encoder
  params: Any
  frozen: Frozen
  directions: Directions
  inversion: dict
  meta: dict

  @property
  def step(self) -> int:
    return int(self.meta["step"])

  def encode(self, images):
    """images [B, H, W, 3] (uint8 or float in [-1, 1]) -> (mean [B, Z], log_var [B, Z])."""
    return _encode(self.params, jnp.asarray(images), module=self.module, resolution=self.frozen.resolution)

  def read_attributes(self, images):
    """images -> G's attribute vector [B, A] as the classifier reads them (Frozen.g_attributes)."""
    return self._read_fn(self.frozen.variables(), jnp.asarray(images))

  @functools.cached_property
  def _read_fn(self):
    frozen = self.frozen
    return jax.jit(lambda v, x: frozen.g_attributes(frozen.classify(v, x)[0]))


@functools.partial(jax.jit, static_argnames=("module", "resolution"))
def _encode(params, images, *, module, resolution):
  return module.apply({"params": params}, images_to_float(images, resolution))


def source_ref(source: str) -> str:
  """How the meta records a model source: zoo names as given, workdirs as absolute paths."""
  return source if zoo.is_entry(source) and str(source).startswith("zoo:") else os.path.abspath(source)


def module_from_meta(meta: dict) -> Encoder:
  return Encoder(resolution=int(meta["resolution"]), width=int(meta["width"]), z_dim=int(meta["z_dim"]),
                 conv_impl=resolve_conv_impl("auto"))


def abstract_params(module: Encoder):
  x = jax.ShapeDtypeStruct((1, module.resolution, module.resolution, 3), jnp.float32)
  return jax.eval_shape(lambda k, x: module.init(k, x), jax.random.key(0), x)["params"]


def checkpoint_manager(workdir: str, *, read_only: bool, keep: int = 2) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only, read_only=read_only,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(paths.checkpoint_directory(workdir), options=options,
                               item_names=("params", "opt_state", "meta"))


def latest_meta(workdir: str) -> dict | None:
  """The meta of the latest checkpoint in `workdir`, or None when there is none."""
  if not paths.workdir_file(workdir, "checkpoints").is_dir():
    return None
  manager = checkpoint_manager(workdir, read_only=True)
  try:
    step = manager.latest_step()
    if step is None:
      return None
    return manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
  finally:
    manager.close()


def _check_meta(meta: dict | None, where: str) -> dict:
  if meta is None:
    raise UserError(f"no encoder checkpoint in {where!r}; {_HINT}")
  if "gan" not in meta or "z_dim" not in meta:
    raise UserError(f"{where} holds a checkpoint that is not an encoder's; {_HINT}")
  if meta.get("version") != META_VERSION:
    raise UserError(f"the encoder in {where} is of version {meta.get('version')}, this code reads "
                    f"{META_VERSION}; retrain it ({_HINT})")
  if not meta.get("final"):
    raise UserError(f"the encoder in {where} is still training (step {meta.get('step')}); let "
                    "tools/train_encoder.py finish (it resumes) before using it")
  return meta


def read_meta(source: str) -> dict:
  """The metadata of a finished encoder (workdir or zoo entry), checked, without loading any model."""
  if zoo.is_entry(source):
    entry = zoo.open_entry(source, "encoder")
    return _check_meta(entry.read_json("meta.json"), entry.path)
  return _check_meta(latest_meta(source), source)


def load_encoder(source: str, *, frozen: Frozen | None = None) -> EncoderModels:
  """A finished encoder from its training workdir or a zoo entry (`zoo:encoder` or its folder), with
  the GAN and classifier its meta names (or `frozen`, already loaded).

  Raises:
    UserError: no (finished) encoder there, or its GAN / classifier cannot be loaded.
  """
  if zoo.is_entry(source):
    entry = zoo.open_entry(source, "encoder")
    meta = _check_meta(entry.read_json("meta.json"), entry.path)
    module = module_from_meta(meta)
    params = zoo.restore(entry.weights(), abstract_params(module), where=entry.path)
  else:
    meta = _check_meta(latest_meta(source), source)
    module = module_from_meta(meta)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                            abstract_params(module))
    manager = checkpoint_manager(source, read_only=True)
    try:
      params = manager.restore(int(meta["step"]),
                               args=ocp.args.Composite(params=ocp.args.StandardRestore(abstract)))["params"]
    finally:
      manager.close()
    params = uncommitted(params)
  if frozen is None:
    frozen = load_frozen(gan_workdir=meta["gan"], classifier_workdir=meta["classifier"])
  if frozen.z_dim != module.z_dim or frozen.resolution != module.resolution:
    raise UserError(
        f"the encoder in {source} was trained for z_dim {module.z_dim} at {module.resolution} px; "
        f"its GAN {meta['gan']} has z_dim {frozen.z_dim} at {frozen.resolution} px")
  return EncoderModels(module=module, params=params, frozen=frozen,
                       directions=Directions.from_json(meta.get("directions", {})),
                       inversion={k: meta["inversion"][k] for k in INVERSION_FIELDS}, meta=meta)


PROBE_IMAGES = 64  # built-in avatars (seed PROBE_SEED) the float16 check of an export measures on
PROBE_SEED = 1
CODE_TOLERANCE = 1e-2  # of the codes' mean and log-variance (z ~ N(0, I) scale)


def export_payload(workdir: str) -> zoo.ExportPayload:
  """What a zoo entry of the encoder in `workdir` stores (tools/export_zoo.py): its params, meta.json (the
  final checkpoint's metadata: sources, directions, inversion settings) and metrics.json; the float16
  check measures the codes of PROBE_IMAGES built-in avatars. Export an encoder of zoo models (its meta
  names them as zoo:NAME) so that the entry loads anywhere."""
  if zoo.is_entry(workdir):
    raise UserError(f"{workdir} is a zoo entry already; export from the training workdir")
  meta = read_meta(workdir)
  enc = load_encoder(workdir)
  files = {"meta.json": json.dumps(meta, indent=2).encode()}
  metrics = paths.workdir_file(workdir, "metrics.json")
  if metrics.exists():
    files["metrics.json"] = metrics.read_bytes()
  images, _ = avatars.render_batch(range(PROBE_IMAGES), seed=PROBE_SEED, size=enc.frozen.resolution)
  images = jnp.asarray(images)

  def outputs(flat):
    params = zoo.unflatten({k: jnp.asarray(v) for k, v in flat.items()}, enc.params)
    mean, log_var = _encode(params, images, module=enc.module, resolution=enc.frozen.resolution)
    return {"mean": np.asarray(mean), "log_var": np.asarray(log_var)}

  arrays = {k: np.asarray(v) for k, v in zoo.flatten(enc.params).items()}
  return zoo.ExportPayload(kind="encoder", step=enc.step, arrays=arrays, files=files, outputs=outputs,
                           tolerance={
                               "mean": CODE_TOLERANCE,
                               "log_var": CODE_TOLERANCE
                           }, probe=f"{PROBE_IMAGES} built-in avatars (seed {PROBE_SEED})")

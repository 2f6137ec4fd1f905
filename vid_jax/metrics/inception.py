"""pytorch-fid's FID Inception weights: loading, checking and converting them; `load_inception`.

Weights come from a local `.npz` whose keys are pytorch-fid's state_dict names
in PyTorch layout ("Conv2d_1a_3x3.conv.weight" [32, 3, 3, 3], "...bn.running_var",
...); `tools/convert_inception.py` writes one from pytorch-fid's `.pth`. Nothing
is ever downloaded. Flax module names equal the PyTorch ones, so a state_dict key
is the flax variable path joined by dots (conv kernels transposed OIHW <-> HWIO).

The network itself is `vid_jax.metrics.inception_net`.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.errors import UserError
# FEATURE_DIM and resize_bilinear: re-exported, so that `inception` stays the one import for users.
from vid_jax.metrics.inception_net import FEATURE_DIM, InceptionV3, resize_bilinear

# Label of FID/KID computed with this network and pytorch-fid's weights; only
# such numbers are comparable with published FIDs.
FEATURE_NAME = "inception_pytorch_fid"
# State-dict entries that exist in pytorch-fid's file but play no part in pool3
# features; accepted (shape-checked) and ignored.
_FC_SHAPES = {"fc.weight": (1008, 2048), "fc.bias": (1008,)}
_IGNORED_SUFFIX = ".num_batches_tracked"
# The .npz records the SHA-256 of the .pth it was converted from under this key.
SOURCE_SHA256_KEY = "meta.source_sha256"
# pytorch-fid's release file is pt_inception-2015-12-05-6726825d.pth; by torch.hub's
# naming convention the suffix is the file's SHA-256 prefix (not verified here:
# neither the file nor torch is available in this environment).
RELEASE_SHA256_PREFIX = "6726825d"

# ----------------------------------------------------------------------------
# Weights: pytorch-fid state_dict (numpy, PyTorch layout) <-> flax variables.

# flax leaf name -> (state_dict leaf name, collection)
_LEAF_TO_TORCH = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}
_TORCH_TO_LEAF = {
    "conv.weight": ("params", "kernel"),
    "bn.weight": ("params", "scale"),
    "bn.bias": ("params", "bias"),
    "bn.running_mean": ("batch_stats", "mean"),
    "bn.running_var": ("batch_stats", "var"),
}


def _init_input():
  # Parameter shapes do not depend on the spatial size; 75 is the smallest
  # input the stride-2 stages accept.
  return jnp.zeros((1, 75, 75, 3), jnp.float32)


@functools.lru_cache(maxsize=1)
def _abstract_variables():
  module = InceptionV3(resize_input=False)
  return jax.eval_shape(module.init, jax.random.key(0), _init_input())


def random_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
  """Random weights with pytorch-fid's names and shapes (tests and smoke runs).

  He-normal convs and identity BatchNorms, built in numpy from the shapes
  alone: tracing `InceptionV3.init` costs ~20 s on a small CPU.
  """
  rng = np.random.default_rng(seed)
  out = {}
  for name, shape in expected_state_dict_shapes().items():
    if name.endswith("conv.weight"):
      fan_in = int(np.prod(shape[1:]))
      out[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
    elif name.endswith(("bn.weight", "bn.running_var")):
      out[name] = np.ones(shape, np.float32)
    else:
      out[name] = np.zeros(shape, np.float32)
  return out


def _torch_entries(variables, convert) -> dict[str, Any]:
  """Maps every flax leaf to its state_dict name; `convert(leaf, value)` converts."""
  out = {}
  for collection in ("params", "batch_stats"):
    for path, value in flax_flatten(variables[collection]).items():
      *modules, leaf = path
      name = ".".join(modules + [_LEAF_TO_TORCH[(collection, leaf)]])
      out[name] = convert(leaf, value)
  return out


def variables_to_state_dict(variables) -> dict[str, np.ndarray]:
  """Flax variables -> pytorch-fid state_dict (numpy, PyTorch names and layout).

  Args:
    variables: {"params", "batch_stats"} of `InceptionV3`.

  Returns:
    {name: float32 array}; conv kernels as [out, in, kh, kw].
  """

  def convert(leaf, value):
    value = np.asarray(value, dtype=np.float32)
    return value.transpose(3, 2, 0, 1) if leaf == "kernel" else value  # HWIO -> OIHW

  return _torch_entries(variables, convert)


def flax_flatten(tree: Mapping[str, Any]) -> dict[tuple[str, ...], Any]:
  """Nested dict -> {path tuple: leaf}."""
  flat = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      for sub, leaf in flax_flatten(value).items():
        flat[(key,) + sub] = leaf
    else:
      flat[(key,)] = value
  return flat


@functools.lru_cache(maxsize=1)
def expected_state_dict_shapes() -> dict[str, tuple[int, ...]]:
  """{state_dict name: PyTorch shape} of every weight pool3 features need."""

  def convert(leaf, value):
    if leaf == "kernel":
      h, w, i, o = value.shape
      return (o, i, h, w)
    return tuple(value.shape)

  return _torch_entries(_abstract_variables(), convert)


def validate_state_dict(state_dict: Mapping[str, Any], *, source: str) -> None:
  """Checks names and shapes against pytorch-fid's architecture.

  Args:
    state_dict: {name: array-like}.
    source: where it came from, for the error message (a file name).

  Raises:
    UserError: a missing, unknown or mis-shaped entry.
  """
  expected = expected_state_dict_shapes()
  missing = [k for k in expected if k not in state_dict]
  if missing:
    raise UserError(f"{source}: {len(missing)} of {len(expected)} InceptionV3 weights are "
                    f"missing (first: {missing[0]!r}); expected pytorch-fid's FID Inception "
                    "state_dict (pt_inception-2015-12-05), converted with "
                    "tools/convert_inception.py")
  for key, value in state_dict.items():
    shape = tuple(np.shape(value))
    if key in expected:
      want = expected[key]
    elif key in _FC_SHAPES:
      want = _FC_SHAPES[key]
    elif key.endswith(_IGNORED_SUFFIX):
      continue
    else:
      raise UserError(f"{source}: unexpected entry {key!r}; this is not pytorch-fid's FID "
                      "Inception state_dict (torchvision's ImageNet Inception has other "
                      "blocks); convert pt_inception-2015-12-05-6726825d.pth")
    if shape != want:
      raise UserError(f"{source}: {key!r} has shape {shape}, pytorch-fid's FID "
                      f"Inception has {want}; wrong or corrupted weights file")


def state_dict_to_npz(state_dict: Mapping[str, Any], *, source: str = "state_dict") -> dict[str, np.ndarray]:
  """pytorch-fid state_dict (numpy arrays) -> the arrays stored in our `.npz`.

  Validates names and shapes, stores float32 in PyTorch layout under the same
  names, and drops BatchNorm's `num_batches_tracked` counters (unused).
  `npz_to_state_dict` is its inverse.
  """
  validate_state_dict(state_dict, source=source)
  return {k: np.asarray(v, dtype=np.float32) for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIX)}


def npz_to_state_dict(arrays: Mapping[str, Any], *, source: str = "npz") -> dict[str, np.ndarray]:
  """Arrays of our `.npz` -> pytorch-fid state_dict (numpy); validates them."""
  validate_state_dict(arrays, source=source)
  return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


def state_dict_to_variables(state_dict: Mapping[str, Any], *, source: str = "state_dict") -> dict:
  """pytorch-fid state_dict (numpy) -> flax variables for `InceptionV3`."""
  validate_state_dict(state_dict, source=source)
  variables: dict[str, dict] = {"params": {}, "batch_stats": {}}
  for key in expected_state_dict_shapes():
    value = np.asarray(state_dict[key], dtype=np.float32)
    modules = key.split(".")
    collection, leaf = _TORCH_TO_LEAF[".".join(modules[-2:])]
    if leaf == "kernel":
      value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    node = variables[collection]
    for name in modules[:-1]:
      node = node.setdefault(name, {})
    node[leaf] = jnp.asarray(value)
  return variables


def save_npz(path: str, state_dict: Mapping[str, Any], *, source: str | None = None,
             source_sha256: str | None = None) -> None:
  """Writes a validated pytorch-fid state_dict as our `.npz`.

  Args:
    path: output file.
    state_dict: {name: numpy array}.
    source: names the input in error messages (default `path`).
    source_sha256: SHA-256 (hex) of the file the state_dict was read from, kept
      in the .npz so evaluations can say which weights they used.
  """
  arrays = state_dict_to_npz(state_dict, source=source or path)
  if source_sha256:
    arrays[SOURCE_SHA256_KEY] = np.array(source_sha256)
  with open(path, "wb") as f:
    np.savez(f, **arrays)


def read_npz(path: str) -> tuple[dict[str, np.ndarray], str | None]:
  """(validated state_dict, recorded source SHA-256 or None) of an Inception `.npz`."""
  if not os.path.isfile(path):
    raise UserError(f"Inception weights file {path!r} does not exist; convert "
                    "pytorch-fid's .pth with tools/convert_inception.py "
                    "--pth=FILE --out=FILE.npz (nothing is downloaded)")
  try:
    with np.load(path, allow_pickle=False) as f:
      arrays = {k: f[k] for k in f.files}
  except (OSError, ValueError) as e:
    raise UserError(f"cannot read Inception weights {path!r} as .npz: {e}") from e
  sha = arrays.pop(SOURCE_SHA256_KEY, None)
  return npz_to_state_dict(arrays, source=path), (None if sha is None else str(sha))


def load_npz(path: str) -> dict[str, np.ndarray]:
  """Reads and validates an Inception `.npz` written by tools/convert_inception.py."""
  return read_npz(path)[0]


@dataclasses.dataclass(frozen=True)
class Inception:
  """pytorch-fid InceptionV3 with loaded weights: `features(images)` -> [B, 2048].

  Attributes:
    module: the InceptionV3.
    variables: {"params", "batch_stats"}.
    source_sha256: SHA-256 of the .pth the weights were converted from, when
      the .npz recorded it.
  """
  module: InceptionV3
  variables: Any
  source_sha256: str | None = None

  @property
  def is_pytorch_fid_release(self) -> bool:
    """Whether the weights came from a file whose SHA-256 matches the release file's name."""
    return bool(self.source_sha256) and self.source_sha256.startswith(RELEASE_SHA256_PREFIX)

  def features(self, images):
    """Pool3 features of images as pytorch-fid computes them (jittable).

    Args:
      images: [B, H, W, 3] uint8 (as pytorch-fid reads image files), or float
        in [0, 1].

    Returns:
      [B, 2048] float32.
    """
    return _features(self.variables, images, module=self.module)


@functools.partial(jax.jit, static_argnames="module")
def _features(variables, images, *, module):
  # Compiled once per input shape, also when called eagerly; weights are arguments.
  x = jnp.asarray(images)
  if x.dtype == jnp.uint8:
    x = x.astype(jnp.float32) / 255.0  # torchvision ToTensor
  return module.apply(variables, x)


def load_inception(path: str) -> Inception:
  """Loads pytorch-fid's FID Inception weights from a local `.npz`."""
  state_dict, sha = read_npz(path)
  return dataclasses.replace(inception_from_state_dict(state_dict, source=path), source_sha256=sha)


def inception_from_state_dict(state_dict: Mapping[str, Any], *, source: str = "state_dict") -> Inception:
  """An `Inception` from a state_dict (numpy), e.g. `random_state_dict()` in tests."""
  return Inception(InceptionV3(), state_dict_to_variables(state_dict, source=source))


__all__: Sequence[str] = (
    "FEATURE_NAME",
    "FEATURE_DIM",
    "InceptionV3",
    "Inception",
    "load_inception",
    "inception_from_state_dict",
    "random_state_dict",
    "resize_bilinear",
    "expected_state_dict_shapes",
    "validate_state_dict",
    "state_dict_to_npz",
    "npz_to_state_dict",
    "state_dict_to_variables",
    "variables_to_state_dict",
    "save_npz",
    "load_npz",
    "read_npz",
)

"""InceptionV3 pool3 features (2048-d) with pytorch-fid's FID architecture, in Flax.

The network is the TF "2015-12-05" Inception graph as pytorch-fid rebuilds it
(torchvision's Inception3 with FIDInceptionA/C/E_1/E_2 blocks):

* every conv is `BasicConv2d`: conv without bias, BatchNorm(eps=1e-3), ReLU;
* FIDInceptionA / FIDInceptionC / FIDInceptionE_1 average-pool their pool
  branch with `count_include_pad=False` (TF's SAME average pooling);
* FIDInceptionE_2 (Mixed_7c) max-pools its pool branch (a quirk of the TF graph);
* input handling as pytorch-fid: images in [0, 1] are resized to 299x299 with
  bilinear interpolation (align_corners=False, no antialiasing), then mapped to
  [-1, 1]; the output is the global average pool of Mixed_7c: [B, 2048].

Weights come from a local `.npz` whose keys are pytorch-fid's state_dict names
in PyTorch layout ("Conv2d_1a_3x3.conv.weight" [32, 3, 3, 3], "...bn.running_var",
...); `tools/convert_inception.py` writes one from pytorch-fid's `.pth`. Nothing
is ever downloaded. Flax module names equal the PyTorch ones, so a state_dict key
is the flax variable path joined by dots (conv kernels transposed OIHW <-> HWIO).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.errors import UserError

# Label of FID/KID computed with this network and pytorch-fid's weights; only
# such numbers are comparable with published FIDs.
FEATURE_NAME = "inception_pytorch_fid"
FEATURE_DIM = 2048
INPUT_SIZE = 299
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

Pad = tuple[tuple[int, int], tuple[int, int]]


def _pad(ph: int, pw: int) -> Pad:
  return ((ph, ph), (pw, pw))


class BasicConv2d(nn.Module):
  """Conv (no bias) -> BatchNorm(eps=1e-3, running statistics) -> ReLU."""
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: Pad = ((0, 0), (0, 0))

  @nn.compact
  def __call__(self, x):  # [B, H, W, Cin] -> [B, H', W', features]
    # HIGHEST: accelerators would otherwise use bf16 passes and shift FID.
    x = nn.Conv(self.features, self.kernel_size, strides=self.strides,
                padding=self.padding, use_bias=False,
                precision=jax.lax.Precision.HIGHEST, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
    return nn.relu(x)


def _avg_pool_3x3_same(x):
  # TF SAME average pooling: padded zeros are not counted.
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=_pad(1, 1),
                     count_include_pad=False)


def _max_pool_3x3_same(x):
  return nn.max_pool(x, (3, 3), strides=(1, 1), padding=_pad(1, 1))


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class FIDInceptionA(nn.Module):
  """Mixed_5b/5c/5d: 1x1 | 5x5 | double 3x3 | avg-pool + 1x1 (64+64+96+pool)."""
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv2d(64, (5, 5), padding=_pad(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv2d(96, (3, 3), padding=_pad(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv2d(96, (3, 3), padding=_pad(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(
        _avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a (torchvision's block): stride-2 3x3 | double 3x3 | max-pool."""

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(384, (3, 3), strides=(2, 2), name="branch3x3")(x)
    bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(96, (3, 3), padding=_pad(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv2d(96, (3, 3), strides=(2, 2), name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class FIDInceptionC(nn.Module):
  """Mixed_6b..6e: factorised 7x7 branches, avg-pool branch; 768 channels out."""
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv2d(c7, (1, 7), padding=_pad(0, 3), name="branch7x7_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=_pad(3, 0), name="branch7x7_3")(b7)
    bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv2d(c7, (7, 1), padding=_pad(3, 0), name="branch7x7dbl_2")(bd)
    bd = BasicConv2d(c7, (1, 7), padding=_pad(0, 3), name="branch7x7dbl_3")(bd)
    bd = BasicConv2d(c7, (7, 1), padding=_pad(3, 0), name="branch7x7dbl_4")(bd)
    bd = BasicConv2d(192, (1, 7), padding=_pad(0, 3), name="branch7x7dbl_5")(bd)
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_3x3_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a (torchvision's block): stride-2 3x3 | 7x7 then stride-2 3x3 | max-pool."""

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv2d(320, (3, 3), strides=(2, 2), name="branch3x3_2")(b3)
    b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv2d(192, (1, 7), padding=_pad(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=_pad(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv2d(192, (3, 3), strides=(2, 2), name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class FIDInceptionE(nn.Module):
  """Mixed_7b (pool="avg", FIDInceptionE_1) and Mixed_7c (pool="max", FIDInceptionE_2)."""
  pool: str

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=_pad(0, 1), name="branch3x3_2a")(b3),
        BasicConv2d(384, (3, 1), padding=_pad(1, 0), name="branch3x3_2b")(b3),
    ], axis=-1)
    bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(384, (3, 3), padding=_pad(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=_pad(0, 1), name="branch3x3dbl_3a")(bd),
        BasicConv2d(384, (3, 1), padding=_pad(1, 0), name="branch3x3dbl_3b")(bd),
    ], axis=-1)
    pooled = (_avg_pool_3x3_same(x) if self.pool == "avg"
              else _max_pool_3x3_same(x))
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def resize_bilinear(images, size: int):
  """Bilinear resize as torch `F.interpolate(..., align_corners=False)`.

  No antialiasing (torch's default), half-pixel centres, edge samples clamped.

  Args:
    images: [B, H, W, C] float.
    size: output height and width.

  Returns:
    [B, size, size, C] float.
  """
  b, _, _, c = images.shape
  return jax.image.resize(images, (b, size, size, c), method="bilinear",
                          antialias=False)


class InceptionV3(nn.Module):
  """pytorch-fid's InceptionV3 up to pool3 (its output block 3).

  Attributes:
    resize_input: resize inputs to 299x299 first (pytorch-fid's default).
    normalize_input: map inputs from [0, 1] to [-1, 1] (pytorch-fid's default).
  """
  resize_input: bool = True
  normalize_input: bool = True

  @nn.compact
  def __call__(self, x):
    """Pool3 features.

    Args:
      x: [B, H, W, 3] float images in [0, 1] (H, W >= 75 when not resizing).

    Returns:
      [B, 2048] float32 features.
    """
    x = jnp.asarray(x, jnp.float32)
    if self.resize_input:
      x = resize_bilinear(x, INPUT_SIZE)  # [B, 299, 299, 3]
    if self.normalize_input:
      x = 2.0 * x - 1.0
    # Block 0.
    x = BasicConv2d(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)  # 149
    x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)  # 147
    x = BasicConv2d(64, (3, 3), padding=_pad(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_s2(x)  # [B, 73, 73, 64]
    # Block 1.
    x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)  # 71
    x = _max_pool_3x3_s2(x)  # [B, 35, 35, 192]
    # Block 2.
    x = FIDInceptionA(32, name="Mixed_5b")(x)  # 256
    x = FIDInceptionA(64, name="Mixed_5c")(x)  # 288
    x = FIDInceptionA(64, name="Mixed_5d")(x)  # 288
    x = InceptionB(name="Mixed_6a")(x)  # [B, 17, 17, 768]
    x = FIDInceptionC(128, name="Mixed_6b")(x)
    x = FIDInceptionC(160, name="Mixed_6c")(x)
    x = FIDInceptionC(160, name="Mixed_6d")(x)
    x = FIDInceptionC(192, name="Mixed_6e")(x)  # [B, 17, 17, 768]
    # Block 3.
    x = InceptionD(name="Mixed_7a")(x)  # [B, 8, 8, 1280]
    x = FIDInceptionE("avg", name="Mixed_7b")(x)  # 2048
    x = FIDInceptionE("max", name="Mixed_7c")(x)  # [B, 8, 8, 2048]
    return jnp.mean(x, axis=(1, 2))  # [B, 2048]


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
    raise UserError(
        f"{source}: {len(missing)} of {len(expected)} InceptionV3 weights are "
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
      raise UserError(
          f"{source}: unexpected entry {key!r}; this is not pytorch-fid's FID "
          "Inception state_dict (torchvision's ImageNet Inception has other "
          "blocks); convert pt_inception-2015-12-05-6726825d.pth")
    if shape != want:
      raise UserError(f"{source}: {key!r} has shape {shape}, pytorch-fid's FID "
                      f"Inception has {want}; wrong or corrupted weights file")


def state_dict_to_npz(state_dict: Mapping[str, Any], *,
                      source: str = "state_dict") -> dict[str, np.ndarray]:
  """pytorch-fid state_dict (numpy arrays) -> the arrays stored in our `.npz`.

  Validates names and shapes, stores float32 in PyTorch layout under the same
  names, and drops BatchNorm's `num_batches_tracked` counters (unused).
  `npz_to_state_dict` is its inverse.
  """
  validate_state_dict(state_dict, source=source)
  return {k: np.asarray(v, dtype=np.float32) for k, v in state_dict.items()
          if not k.endswith(_IGNORED_SUFFIX)}


def npz_to_state_dict(arrays: Mapping[str, Any], *,
                      source: str = "npz") -> dict[str, np.ndarray]:
  """Arrays of our `.npz` -> pytorch-fid state_dict (numpy); validates them."""
  validate_state_dict(arrays, source=source)
  return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


def state_dict_to_variables(state_dict: Mapping[str, Any], *,
                            source: str = "state_dict") -> dict:
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
  return dataclasses.replace(inception_from_state_dict(state_dict, source=path),
                             source_sha256=sha)


def inception_from_state_dict(state_dict: Mapping[str, Any], *,
                              source: str = "state_dict") -> Inception:
  """An `Inception` from a state_dict (numpy), e.g. `random_state_dict()` in tests."""
  return Inception(InceptionV3(),
                   state_dict_to_variables(state_dict, source=source))


__all__: Sequence[str] = (
    "FEATURE_NAME", "FEATURE_DIM", "InceptionV3", "Inception", "load_inception",
    "inception_from_state_dict", "random_state_dict", "resize_bilinear",
    "expected_state_dict_shapes", "validate_state_dict", "state_dict_to_npz",
    "npz_to_state_dict", "state_dict_to_variables", "variables_to_state_dict",
    "save_npz", "load_npz", "read_npz",
)

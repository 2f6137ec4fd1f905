"""VGG-19 feature extractor in Flax, with weights from a local .npz file.

Nothing is downloaded: the user supplies the weights. Accepted `.npz` layouts
(`numpy.savez` of float arrays; any other keys, e.g. the classifier, are
ignored):

1. Flax / HWIO names, one pair per conv layer `convB_L` (block B = 1..5,
   layer L = 1..2 in blocks 1-2 and 1..4 in blocks 3-5):
     "conv1_1/kernel"  [3, 3, in, out]   (HWIO)
     "conv1_1/bias"    [out]
2. PyTorch torchvision `vgg19().features` state-dict names:
     "features.0.weight" [out, in, 3, 3]  (OIHW; converted to HWIO)
     "features.0.bias"   [out]
   with conv indices 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34.
   Export from PyTorch with, e.g.:
     sd = torchvision.models.vgg19(weights="IMAGENET1K_V1").features.state_dict()
     numpy.savez("vgg19.npz", **{"features." + k: v.numpy() for k, v in sd.items()})

The weights must follow the torchvision convention: RGB input in [0, 1]
normalised by the ImageNet mean/std (the module does this normalisation from
images in [-1, 1]). A file may hold only a prefix of the layers (e.g. up to
conv4_2): the network then runs as deep as the file allows.
"""

from __future__ import annotations

import os
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.errors import UserError

__all__ = [
    "VGG19",
    "VGG19_CONVS",
    "VGG19_WIDTHS",
    "TORCHVISION_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "load_vgg19_params",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Conv layers per block and their output widths.
_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))
VGG19_CONVS: tuple[str,
                   ...] = tuple(f"conv{b + 1}_{l + 1}" for b, (n, _) in enumerate(_BLOCKS) for l in range(n))
VGG19_WIDTHS: dict[str, int] = {
    f"conv{b + 1}_{l + 1}": w for b, (n, w) in enumerate(_BLOCKS) for l in range(n)
}


def _torchvision_index() -> dict[str, int]:
  """conv name -> index in torchvision's `vgg19().features` Sequential."""
  out, i = {}, 0
  for b, (n, _) in enumerate(_BLOCKS):
    for l in range(n):
      out[f"conv{b + 1}_{l + 1}"] = i
      i += 2  # conv, relu
    i += 1  # max-pool
  return out


TORCHVISION_INDEX: dict[str, int] = _torchvision_index()


def _input_width(name: str) -> int:
  i = VGG19_CONVS.index(name)
  return 3 if i == 0 else VGG19_WIDTHS[VGG19_CONVS[i - 1]]


def _layer_order(name: str) -> int:
  """Position of `convB_L` / `reluB_L` in the forward pass."""
  return VGG19_CONVS.index("conv" + name[4:] if name.startswith("relu") else name)


class VGG19(nn.Module):
  """VGG-19 convolutional trunk returning the requested activations.

  Attributes:
    output_layers: names like "relu1_1", "conv4_2" (pre-ReLU); returned in
      this order. The forward pass stops after the deepest one.
    pool: "max" (as trained) or "avg" (smoother for image synthesis, as in
      Gatys et al.).
  """
  output_layers: Sequence[str] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
  pool: str = "max"

  @nn.compact
  def __call__(self, images: jax.Array) -> list[jax.Array]:
    """images: [B, H, W, 3] in [-1, 1] -> list of NHWC activations."""
    for name in self.output_layers:
      if not (name[:4] in ("conv", "relu") and ("conv" + name[4:]) in VGG19_WIDTHS):
        raise UserError(f"unknown VGG-19 layer {name!r}; use names like "
                        "'relu3_1' or 'conv4_2'")
    if self.pool not in ("max", "avg"):
      raise UserError(f"VGG-19 pool must be 'max' or 'avg'; got {self.pool!r}")
    last = max(_layer_order(n) for n in self.output_layers)
    mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
    std = jnp.asarray(IMAGENET_STD, jnp.float32)
    x = ((images.astype(jnp.float32) + 1.0) * 0.5 - mean) / std  # [B,H,W,3]
    acts = {}
    for i, name in enumerate(VGG19_CONVS[:last + 1]):
      if i > 0 and name.endswith("_1"):  # each block after the first halves
        x = (nn.max_pool if self.pool == "max" else nn.avg_pool)(x, (2, 2), strides=(2, 2))
      x = nn.Conv(VGG19_WIDTHS[name], (3, 3), padding="SAME", name=name)(x)
      acts[name] = x
      x = nn.relu(x)
      acts["relu" + name[4:]] = x
    return [acts[n] for n in self.output_layers]


def _read_npz(path: str) -> dict[str, np.ndarray]:
  if not os.path.isfile(path):
    raise UserError(f"VGG-19 weights file {path!r} not found; give a local "
                    ".npz (see vid_jax/models/vgg.py for the format)")
  try:
    with np.load(path, allow_pickle=False) as f:
      return {k: np.asarray(f[k]) for k in f.files}
  except Exception as e:  # zipfile / pickle / format errors
    raise UserError(f"cannot read VGG-19 weights {path!r} as .npz ({e}); "
                    "save them with numpy.savez") from None


def load_vgg19_params(path: str) -> tuple[dict, tuple[str, ...]]:
  """Loads VGG-19 conv weights from a local .npz (formats: module docstring).

  Args:
    path: the .npz file.

  Returns:
    (variables, convs): `{"params": {"conv1_1": {"kernel", "bias"}, ...}}`
    float32 with HWIO kernels, for `VGG19(...).apply`; and the names of the
    conv layers present (a prefix of VGG19_CONVS).

  Raises:
    UserError: missing file, unreadable file, no VGG-19 keys, a gap in the
      layers, or an array whose shape differs from VGG-19's (the message names
      the key, the expected and the found shape).
  """
  arrays = _read_npz(path)
  torch_style = any(k.startswith("features.") for k in arrays)

  def key_names(name):
    if torch_style:
      i = TORCHVISION_INDEX[name]
      return f"features.{i}.weight", f"features.{i}.bias"
    return f"{name}/kernel", f"{name}/bias"

  params, present = {}, []
  for name in VGG19_CONVS:
    kkey, bkey = key_names(name)
    if kkey not in arrays and bkey not in arrays:
      break
    cin, cout = _input_width(name), VGG19_WIDTHS[name]
    want_k = (cout, cin, 3, 3) if torch_style else (3, 3, cin, cout)
    for key, want in ((kkey, want_k), (bkey, (cout,))):
      if key not in arrays:
        raise UserError(f"VGG-19 weights {path!r}: key {key!r} is missing "
                        f"(expected shape {want})")
      got = tuple(arrays[key].shape)
      if got != want:
        raise UserError(f"VGG-19 weights {path!r}: key {key!r} has shape {got},"
                        f" expected {want}")
    kernel = arrays[kkey].astype(np.float32)
    if torch_style:
      kernel = np.transpose(kernel, (2, 3, 1, 0))  # OIHW -> HWIO
    params[name] = {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(arrays[bkey].astype(np.float32))}
    present.append(name)
  if not present:
    example = "features.0.weight" if torch_style else "conv1_1/kernel"
    raise UserError(f"VGG-19 weights {path!r} hold no {example!r}; expected "
                    "keys like 'conv1_1/kernel' (HWIO) or torchvision "
                    "'features.0.weight'")
  # Keys for deeper layers after a gap would be silently unused: refuse them.
  for name in VGG19_CONVS[len(present):]:
    for key in key_names(name):
      if key in arrays:
        missing = key_names(VGG19_CONVS[len(present)])[0]
        raise UserError(f"VGG-19 weights {path!r} have {key!r} but not "
                        f"{missing!r}; layers must be a contiguous prefix")
  return {"params": params}, tuple(present)

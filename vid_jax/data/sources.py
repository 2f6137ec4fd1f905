"""Random-access image sources: the `Source` base class and source spec strings.

Every source yields `{"image": uint8 [size, size, 3], "attributes": bool [40]}`
(CelebA attribute names, tfds order) and has a vectorised `get_batch`. Build
one with `vid_jax.data.make_source(spec, size=...)` (`vid_jax.data.cache`, which
also reads a prepared packed cache when given `cache_dir=`).

Spec strings, one module per kind:
  * `avatars`: `vid_jax.data.avatar_source`, the procedural avatars (`vid_jax.data.avatars`).
  * `tfds:celeb_a`: `vid_jax.data.celeba`, CelebA through `tfds.data_source` (ArrayRecord).
  * `folder:PATH`: `vid_jax.data.folder`, images under PATH, found recursively.
"""
from __future__ import annotations

import abc
import os
from typing import Any, Sequence

import numpy as np

from vid_jax.data.attributes import ATTRIBUTE_NAMES, NUM_ATTRIBUTES
from vid_jax.errors import UserError


class Source(abc.ABC):
  """A finite random-access sequence of labelled square uint8 images."""

  spec: str  # canonical spec, e.g. "avatars" or "folder:/abs/path"
  size: int
  attribute_names: tuple[str, ...] = ATTRIBUTE_NAMES
  has_attributes: bool = True

  @abc.abstractmethod
  def __len__(self) -> int:
    ...

  @abc.abstractmethod
  def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns (image uint8 [size, size, 3], attributes bool [40]) of item i."""

  def _index(self, i) -> int:
    n = len(self)
    i = int(i)
    if i < 0:
      i += n
    if not 0 <= i < n:
      raise IndexError(f"index {i} out of range for {self.spec} of length {n}")
    return i

  def __getitem__(self, i) -> dict[str, np.ndarray]:
    image, attributes = self._load(self._index(i))
    return {"image": image, "attributes": attributes}

  def get_batch(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
    """Gathers items.

    Returns:
      {"image": uint8 [n, size, size, 3], "attributes": bool [n, 40]}.
    """
    indices = np.asarray(indices, np.int64).reshape(-1)
    images = np.empty((len(indices), self.size, self.size, 3), np.uint8)
    attributes = np.zeros((len(indices), NUM_ATTRIBUTES), np.bool_)
    for j, i in enumerate(indices):
      images[j], attributes[j] = self._load(self._index(i))
    return {"image": images, "attributes": attributes}

  def identities(self, indices: Sequence[int]) -> np.ndarray | None:
    """Identity labels (int32 [n]) where the source has them, else None."""
    del indices
    return None

  @abc.abstractmethod
  def attribute_marginals(self) -> np.ndarray:
    """Fraction of items with each attribute True: float32 [40]."""

  def describe(self) -> dict[str, Any]:
    """Manifest fields describing how images were made (crop, filter, ...)."""
    return {}

  def __repr__(self):
    return f"{type(self).__name__}({self.spec!r}, size={self.size}, n={len(self)})"


# ----------------------------------------------------------------------------
# Spec strings.


def parse_spec(spec: str) -> tuple[str, str | None]:
  """Splits a source spec into (kind, argument); kind in avatars|tfds|folder."""
  if not isinstance(spec, str) or not spec:
    raise UserError(f"data source {spec!r}: use avatars, tfds:celeb_a or folder:PATH")
  if spec == "avatars":
    return "avatars", None
  if spec.startswith("tfds:"):
    name = spec[len("tfds:"):]
    if name != "celeb_a":
      raise UserError(f"data source {spec!r}: only tfds:celeb_a is supported "
                      f"(other image datasets: export them to a folder and use "
                      f"folder:PATH)")
    return "tfds", name
  if spec.startswith("folder:"):
    path = spec[len("folder:"):]
    if not path:
      raise UserError("data source 'folder:' needs a path, e.g. folder:/data/faces")
    return "folder", path
  raise UserError(f"unknown data source {spec!r}: use avatars, tfds:celeb_a or "
                  f"folder:PATH")


def canonical_spec(spec: str) -> str:
  kind, arg = parse_spec(spec)
  if kind == "folder":
    return "folder:" + os.path.realpath(os.path.expanduser(arg))
  return spec


def check_size(size) -> int:
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 4 <= size <= 4096:
    raise UserError(f"image size {size!r}: use an integer from 4 to 4096 (e.g. 64)")
  return int(size)

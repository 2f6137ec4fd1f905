"""Tests of the Source base class and source spec strings (vid_jax/data/sources.py)."""
import os

import numpy as np
import pytest

from vid_jax import data
from vid_jax.data import sources
from vid_jax.errors import UserError


def test_bad_specs_and_sizes():
  for spec in ("", "celeba", "tfds:mnist", "folder:"):
    with pytest.raises(UserError):
      data.make_source(spec, size=64)
  for size in (0, 3, 64.0, "64"):
    with pytest.raises(UserError, match="image size"):
      data.make_source("avatars", size=size)
  with pytest.raises(UserError, match="on_bad_file"):
    data.make_source("avatars", size=64, on_bad_file="ignore")


def test_parse_and_canonical_spec(tmp_path):
  assert sources.parse_spec("avatars") == ("avatars", None)
  assert sources.parse_spec("tfds:celeb_a") == ("tfds", "celeb_a")
  assert sources.parse_spec(f"folder:{tmp_path}") == ("folder", str(tmp_path))
  assert sources.canonical_spec("avatars") == "avatars"
  os.symlink(tmp_path, tmp_path.parent / (tmp_path.name + "_link"))
  link = f"folder:{tmp_path.parent / (tmp_path.name + '_link')}"
  assert sources.canonical_spec(link) == f"folder:{os.path.realpath(tmp_path)}"
  assert sources.check_size(np.int64(32)) == 32 and type(sources.check_size(np.int64(32))) is int
  with pytest.raises(UserError, match="image size"):
    sources.check_size(True)


class _Squares(sources.Source):
  """Item i: an image filled with i, attribute i % 40 set."""

  spec = "squares"
  size = 2

  def __len__(self):
    return 5

  def _load(self, i):
    attributes = np.zeros(40, np.bool_)
    attributes[i % 40] = True
    return np.full((2, 2, 3), i, np.uint8), attributes

  def attribute_marginals(self):
    return np.full(40, 0.125, np.float32)


def test_source_base_indexing_and_batches():
  src = _Squares()
  assert src[-1]["image"][0, 0, 0] == 4 and src[1]["attributes"][1]
  with pytest.raises(IndexError, match="out of range for squares of length 5"):
    src[5]  # pylint: disable=pointless-statement
  batch = src.get_batch([3, -5])
  assert batch["image"].shape == (2, 2, 2, 3) and batch["image"].dtype == np.uint8
  np.testing.assert_array_equal(batch["image"][:, 0, 0, 0], [3, 0])
  assert batch["attributes"].dtype == np.bool_ and batch["attributes"][0, 3]
  assert src.identities([0]) is None and src.describe() == {}
  assert repr(src) == "_Squares('squares', size=2, n=5)"

"""Tests of writing the prepared packed cache (vid_jax/data/cache_writer.py)."""
import os

import numpy as np
import pytest

from data_fakes import make_messy_folder
from vid_jax import data
from vid_jax.data import avatar_source
from vid_jax.errors import UserError


@pytest.fixture
def messy_folder(tmp_path):
  return make_messy_folder(tmp_path)


def test_cache_write_is_atomic(tmp_path):
  src = data.make_source("avatars", size=8, num_examples=20)

  class Failing(avatar_source.AvatarSource):

    def get_batch(self, indices):
      if indices[0] >= 8:
        raise RuntimeError("interrupted")
      return super().get_batch(indices)

  bad = Failing(size=8, num_examples=20)
  with pytest.raises(RuntimeError):
    data.write_cache(bad, str(tmp_path / "c"), progress=False, chunk_size=8)
  assert os.listdir(tmp_path) == []  # neither c nor c.tmp-*
  data.write_cache(src, str(tmp_path / "c"), progress=False)
  with pytest.raises(UserError, match="--overwrite"):
    data.write_cache(src, str(tmp_path / "c"), progress=False)
  src2 = data.make_source("avatars", size=8, seed=3, num_examples=20)
  data.write_cache(src2, str(tmp_path / "c"), progress=False, overwrite=True)
  assert data.read_manifest(str(tmp_path / "c"))["seed"] == 3
  assert os.listdir(tmp_path) == ["c"]


def test_cache_of_unlabelled_folder_with_workers(messy_folder, tmp_path):
  src = data.make_source(f"folder:{messy_folder}", size=8)
  out = tmp_path / "f8"
  m = data.write_cache(src, str(out), progress=False, workers=1, chunk_size=3)
  assert m["attribute_names"] == [] and m["skipped"] == 3
  assert not (out / "attributes.npy").exists()
  cached = data.make_source(f"folder:{messy_folder}", size=8, cache_dir=str(out))
  assert not cached.has_attributes and len(cached) == len(src)
  np.testing.assert_array_equal(
      cached.get_batch(np.arange(len(src)))["image"],
      src.get_batch(np.arange(len(src)))["image"])
  assert not cached.get_batch([0])["attributes"].any()

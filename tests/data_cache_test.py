"""Tests of reading the prepared packed cache (vid_jax/data/cache.py), and its format."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vid_jax import data
from vid_jax.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cache_round_trip_and_verify(tmp_path):
  src = data.make_source("avatars", size=16, seed=5, num_examples=40)
  out = tmp_path / "av16"
  m = data.write_cache(src, str(out), progress=False, chunk_size=16)
  for key in ("source", "count", "size", "attribute_names", "crop", "filter", "content_hash", "version"):
    assert key in m
  assert json.loads((out / "manifest.json").read_text()) == m
  assert sorted(os.listdir(tmp_path)) == ["av16"]  # no temp dir left
  images = np.load(out / "images.npy", mmap_mode="r")
  assert images.dtype == np.uint8 and images.shape == (40, 16, 16, 3)
  assert np.load(out / "attributes.npy").shape == (40, 40)
  cached = data.make_source("avatars", size=16, seed=5, cache_dir=str(out))
  idx = np.array([0, 7, 39])
  got, want = cached.get_batch(idx), src.get_batch(idx)
  np.testing.assert_array_equal(got["image"], want["image"])
  np.testing.assert_array_equal(got["attributes"], want["attributes"])
  np.testing.assert_allclose(cached.attribute_marginals(), src.attribute_marginals(), atol=1e-6)
  assert len(data.make_source("avatars", size=16, seed=5, num_examples=10, cache_dir=str(out))) == 10
  data.verify_cache(str(out))
  with open(out / "images.npy", "r+b") as f:  # flip one pixel byte
    f.seek(-1, 2)
    b = f.read(1)
    f.seek(-1, 2)
    f.write(bytes([b[0] ^ 1]))
  with pytest.raises(UserError, match="content hash"):
    data.verify_cache(str(out))


def test_cache_rejects_partial_and_mismatched(tmp_path):
  src = data.make_source("avatars", size=8, num_examples=8)
  out = tmp_path / "c"
  data.write_cache(src, str(out), progress=False)
  with pytest.raises(UserError, match="size 8 but size 16"):
    data.make_source("avatars", size=16, cache_dir=str(out))
  with pytest.raises(UserError, match="seed 0 but seed 1"):
    data.make_source("avatars", size=8, seed=1, cache_dir=str(out))
  with pytest.raises(UserError, match="holds 8 avatars"):
    data.make_source("avatars", size=8, num_examples=9, cache_dir=str(out))
  with pytest.raises(UserError, match="source"):
    data.make_source(f"folder:{tmp_path}", size=8, cache_dir=str(out))
  # Truncated image file.
  path = out / "images.npy"
  path.write_bytes(path.read_bytes()[:-10])
  with pytest.raises(UserError, match="incomplete"):
    data.make_source("avatars", size=8, cache_dir=str(out))
  # No manifest: an interrupted or foreign directory.
  os.remove(out / "manifest.json")
  with pytest.raises(
      UserError, match=r"not a complete cache.*"
      r"python tools/prepare_data.py --source=avatars --size=8"):
    data.make_source("avatars", size=8, cache_dir=str(out))
  with pytest.raises(UserError, match="no prepared cache"):
    data.make_source("avatars", size=8, cache_dir=str(tmp_path / "none"))


def test_an_older_cache_version_is_named_and_rebuilt_by_prepare_data_if_stale(tmp_path):
  out = tmp_path / "c"
  data.write_cache(data.make_source("avatars", size=8, num_examples=8), str(out), progress=False)
  manifest = json.loads((out / "manifest.json").read_text())
  (out / "manifest.json").write_text(json.dumps({**manifest, "version": 1}))
  with pytest.raises(UserError, match=r"version 1; this code reads .* version 2 \(one hair colour"):
    data.make_source("avatars", size=8, cache_dir=str(out))
  tool = [
      sys.executable,
      os.path.join(REPO, "tools", "prepare_data.py"), "--source=avatars", "--size=8", "--limit=8",
      f"--out={out}", "--if_stale", "--progress=false", "--workers=0"
  ]
  run = subprocess.run(tool, capture_output=True, text=True, check=True)
  assert "rebuilding" in run.stderr and "version 1" in run.stderr, run.stderr
  assert json.loads((out / "manifest.json").read_text())["version"] == 2
  assert len(data.make_source("avatars", size=8, cache_dir=str(out))) == 8
  again = subprocess.run(tool, capture_output=True, text=True, check=True)
  assert "nothing to do" in again.stdout and "rebuilding" not in again.stderr

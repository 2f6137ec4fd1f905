"""Tests for CelebA (mocked TFDS), image folders and the prepared cache."""
import io
import json
import logging
import os

import numpy as np
from PIL import Image
import pytest

from vid_jax import data
from vid_jax.data import cache, sources
from vid_jax.data.attributes import ATTRIBUTE_NAMES
from vid_jax.errors import UserError

# ----------------------------------------------------------------------------
# CelebA through tfds.data_source, mocked.


def test_celeba_crop_box_is_exact():
  img = np.zeros(sources.CELEBA_IMAGE_SHAPE, np.uint8)
  l, t, r, b = sources.CELEBA_CROP_BOX
  assert (r - l, b - t) == (128, 128) and ((l + r) / 2, (t + b) / 2) == (89, 121)
  img[t:b, l:r] = 200
  out = sources.celeba_crop_resize(img, 32)
  assert out.shape == (32, 32, 3) and (out == 200).all()
  shifted = np.roll(img, 1, axis=1)  # one column of zeros now inside the box
  assert (sources.celeba_crop_resize(shifted, 32) != 200).any()


def test_celeba_via_mock_data_source():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=5,
                              policy=tfds.testing.MockPolicy.USE_CODE):
    src = data.make_source("tfds:celeb_a", size=32)
    raw = tfds.data_source("celeb_a", split="train")
    assert len(src) == 5 and src.spec == "tfds:celeb_a"
    assert src.attribute_names == ATTRIBUTE_NAMES and src.has_attributes
    batch = src.get_batch([0, 3])
    assert batch["image"].shape == (2, 32, 32, 3) and batch["image"].dtype == np.uint8
    assert batch["attributes"].shape == (2, 40) and batch["attributes"].dtype == np.bool_
    for j, i in enumerate([0, 3]):
      ex = raw[i]
      want = [bool(ex["attributes"][n]) for n in ATTRIBUTE_NAMES]
      np.testing.assert_array_equal(batch["attributes"][j], want)
      np.testing.assert_array_equal(
          batch["image"][j], sources.celeba_crop_resize(ex["image"], 32))
      np.testing.assert_array_equal(src[i]["image"], batch["image"][j])
    assert src.identities([1])[0] == int(raw[1]["identity"]["Identity_No"])
    np.testing.assert_allclose(
        src.attribute_marginals(),
        np.mean([[bool(raw[i]["attributes"][n]) for n in ATTRIBUTE_NAMES]
                 for i in range(5)], 0))
    assert len(data.make_source("tfds:celeb_a", size=32, num_examples=2)) == 2


def test_celeba_not_prepared_is_one_clear_error(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  with pytest.raises(UserError, match="tfds build celeb_a") as e:
    data.make_source("tfds:celeb_a", size=64, data_dir=str(tmp_path))
  assert "manual" in str(e.value) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------
# Image folders.


def _jpeg_bytes(arr, **kw):
  buf = io.BytesIO()
  Image.fromarray(arr).save(buf, "JPEG", **kw)
  return buf.getvalue()


@pytest.fixture
def messy_folder(tmp_path):
  root = tmp_path / "imgs"
  (root / "sub" / "deeper").mkdir(parents=True)
  rng = np.random.default_rng(0)
  # Good files in every format and mode.
  wide = np.zeros((20, 60, 3), np.uint8)
  wide[:, 20:40] = (0, 255, 0)  # the centre square is green
  wide[:, :20] = (255, 0, 0)
  wide[:, 40:] = (0, 0, 255)
  Image.fromarray(wide).save(root / "a_wide.png")
  (root / "b_photo.jpg").write_bytes(
      _jpeg_bytes(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)))
  Image.fromarray(np.full((30, 30), 77, np.uint8), "L").save(root / "sub" / "c_gray.png")
  rgba = np.zeros((16, 16, 4), np.uint8)
  rgba[..., 3] = 0  # fully transparent -> white
  Image.fromarray(rgba, "RGBA").save(root / "sub" / "d_rgba.png")
  pal = Image.fromarray(np.full((16, 16, 3), (10, 200, 30), np.uint8)).convert(
      "P", palette=Image.Palette.ADAPTIVE)
  pal.save(root / "sub" / "e_palette.png")
  Image.fromarray(np.full((16, 16), 0x8000, np.uint16)).save(
      root / "sub" / "deeper" / "f_16bit.png")
  Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(root / "g.webp")
  Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(root / "h.BMP")
  # Bad files.
  (root / "x_corrupt.jpg").write_bytes(b"this is not a jpeg at all" * 10)
  full = _jpeg_bytes(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
  (root / "sub" / "y_truncated.jpg").write_bytes(full[: len(full) // 2])
  (root / "z_empty.png").write_bytes(b"")
  (root / "notes.txt").write_text("ignored")
  return root


GOOD = ["a_wide.png", "b_photo.jpg", "g.webp", "h.BMP", "sub/c_gray.png",
        "sub/d_rgba.png", "sub/deeper/f_16bit.png", "sub/e_palette.png"]
BAD = {"x_corrupt.jpg", "sub/y_truncated.jpg", "z_empty.png"}


def test_folder_skips_and_counts_bad_files(messy_folder, caplog):
  with caplog.at_level(logging.WARNING):
    src = data.make_source(f"folder:{messy_folder}", size=8)
  assert list(src.files) == sorted(GOOD)
  assert set(src.bad_files.reasons) == BAD
  assert "3 bad image file(s)" in caplog.text and "x_corrupt.jpg" in caplog.text
  assert not src.has_attributes
  batch = src.get_batch(np.arange(len(src)))
  assert batch["image"].shape == (len(GOOD), 8, 8, 3)
  assert not batch["attributes"].any()
  img = {f: batch["image"][i].astype(int) for i, f in enumerate(src.files)}
  assert (np.abs(img["a_wide.png"] - [0, 255, 0]) <= 2).all()  # centre crop
  assert (img["sub/c_gray.png"] == 77).all()  # grey -> RGB
  assert (img["sub/d_rgba.png"] == 255).all()  # transparent -> white
  assert (np.abs(img["sub/e_palette.png"] - [10, 200, 30]) <= 3).all()
  assert (img["sub/deeper/f_16bit.png"] == 128).all()  # top 8 of 16 bits
  assert (img["g.webp"] - 90 <= 3).all()


def test_folder_error_mode_raises_clear_error(messy_folder):
  with pytest.raises(UserError, match=r"3 bad image file\(s\)") as e:
    data.make_source(f"folder:{messy_folder}", size=8, on_bad_file="error")
  assert "on_bad_file=skip" in str(e.value)


def test_folder_limit_checks_only_what_it_needs(messy_folder):
  src = data.make_source(f"folder:{messy_folder}", size=8, num_examples=2)
  assert list(src.files) == ["a_wide.png", "b_photo.jpg"]


def test_empty_and_all_bad_folders(tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(UserError, match="no images found"):
    data.make_source(f"folder:{tmp_path / 'empty'}", size=8)
  (tmp_path / "bad").mkdir()
  (tmp_path / "bad" / "a.jpg").write_bytes(b"")
  with pytest.raises(UserError, match="none of the 1 image files"):
    data.make_source(f"folder:{tmp_path / 'bad'}", size=8)
  with pytest.raises(UserError, match="no such directory"):
    data.make_source(f"folder:{tmp_path / 'nope'}", size=8)


def test_folder_labels_from_list_attr_celeba(tmp_path):
  root = tmp_path / "celeb"
  root.mkdir()
  for name in ("000001.jpg", "000002.jpg", "000003.jpg"):
    (root / name).write_bytes(_jpeg_bytes(np.full((20, 20, 3), 50, np.uint8)))
  header = ["Young", "Eyeglasses", "Male"]  # any subset, any order
  lines = ["2", " ".join(header),
           "000001.jpg  1 -1  1", "000002.jpg -1  1 -1"]  # 000003 unlabelled
  (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
  src = data.make_source(f"folder:{root}", size=8)
  assert src.has_attributes and list(src.files) == ["000001.jpg", "000002.jpg"]
  assert "000003.jpg" in src.bad_files.reasons
  a = src.get_batch([0, 1])["attributes"]
  idx = data.ATTRIBUTE_INDEX
  assert a[0, idx["Young"]] and a[0, idx["Male"]] and not a[0, idx["Eyeglasses"]]
  assert a[1, idx["Eyeglasses"]] and not a[1, idx["Young"]]
  assert a.sum() == 3
  np.testing.assert_allclose(src.attribute_marginals()[idx["Male"]], 0.5)


def test_bad_specs_and_sizes():
  for spec in ("", "celeba", "tfds:mnist", "folder:"):
    with pytest.raises(UserError):
      data.make_source(spec, size=64)
  for size in (0, 3, 64.0, "64"):
    with pytest.raises(UserError, match="image size"):
      data.make_source("avatars", size=size)
  with pytest.raises(UserError, match="on_bad_file"):
    data.make_source("avatars", size=64, on_bad_file="ignore")


# ----------------------------------------------------------------------------
# Prepared cache.


def test_cache_round_trip_and_verify(tmp_path):
  src = data.make_source("avatars", size=16, seed=5, num_examples=40)
  out = tmp_path / "av16"
  m = data.write_cache(src, str(out), progress=False, chunk_size=16)
  for key in ("source", "count", "size", "attribute_names", "crop", "filter",
              "content_hash", "version"):
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
  np.testing.assert_allclose(cached.attribute_marginals(),
                             src.attribute_marginals(), atol=1e-6)
  assert len(data.make_source("avatars", size=16, seed=5, num_examples=10,
                              cache_dir=str(out))) == 10
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
  with pytest.raises(UserError, match=r"not a complete cache.*"
                     r"python tools/prepare_data.py --source=avatars --size=8"):
    data.make_source("avatars", size=8, cache_dir=str(out))
  with pytest.raises(UserError, match="no prepared cache"):
    data.make_source("avatars", size=8, cache_dir=str(tmp_path / "none"))


def test_cache_write_is_atomic(tmp_path):
  src = data.make_source("avatars", size=8, num_examples=20)

  class Failing(sources.AvatarSource):

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
  np.testing.assert_array_equal(cached.get_batch(np.arange(len(src)))["image"],
                                src.get_batch(np.arange(len(src)))["image"])
  assert not cached.get_batch([0])["attributes"].any()

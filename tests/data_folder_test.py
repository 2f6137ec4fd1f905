"""Tests of the folder:PATH source (vid_jax/data/folder.py)."""
import logging

import numpy as np
import pytest

from data_fakes import BAD, GOOD, jpeg_bytes, make_messy_folder
from vid_jax import data
from vid_jax.errors import UserError


@pytest.fixture
def messy_folder(tmp_path):
  return make_messy_folder(tmp_path)


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
    (root / name).write_bytes(jpeg_bytes(np.full((20, 20, 3), 50, np.uint8)))
  header = ["Young", "Eyeglasses", "Male"]  # any subset, any order
  lines = ["2", " ".join(header), "000001.jpg  1 -1  1", "000002.jpg -1  1 -1"]  # 000003 unlabelled
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

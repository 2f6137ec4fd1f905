"""Image files for the data tests: a folder of good and bad files of every format and mode."""
import io

import numpy as np
from PIL import Image


def jpeg_bytes(arr, **kw):
  buf = io.BytesIO()
  Image.fromarray(arr).save(buf, "JPEG", **kw)
  return buf.getvalue()


def make_messy_folder(tmp_path):
  """Writes the folder under tmp_path/imgs and returns its path."""
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
      jpeg_bytes(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)))
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
  full = jpeg_bytes(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
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
    (root / name).write_bytes(jpeg_bytes(np.full((20, 20, 3), 50, np.uint8)))
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

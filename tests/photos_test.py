"""Tests for vid_jax.data.photos: good photos in every mode, and one error line per bad input."""
import os

import numpy as np
from PIL import Image
import pytest

from vid_jax.data import photos
from vid_jax.errors import UserError

SIZE = 64


def _rgb(h, w, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path, img, **kw):
  img.save(path, **kw)
  return str(path)


def _error(path, match, **kw):
  """Reads `path`, expecting one UserError line that names the file and matches `match`."""
  with pytest.raises(UserError, match=match) as e:
    photos.read_inputs(str(path), size=SIZE, **kw)
  msg = str(e.value)
  assert "\n" not in msg
  assert os.path.basename(str(path).rstrip("/")) in msg
  return msg


def test_rgb_png_of_the_target_size_is_exact(tmp_path):
  x = _rgb(SIZE, SIZE)
  got = photos.read_inputs(_save(tmp_path / "face.png", Image.fromarray(x)), size=SIZE)
  np.testing.assert_array_equal(got.images, x[None])
  assert got.images.dtype == np.uint8
  assert got.names == ("face",)
  assert got.notes == ()
  assert photos.describe(got) == f"1 image from {tmp_path / 'face.png'} (no notes)"


def test_landscape_jpeg_is_centre_cropped_and_resized(tmp_path):
  path = _save(tmp_path / "photo.jpg", Image.fromarray(_rgb(480, 640)), quality=90)
  got = photos.read_inputs(path, size=SIZE)
  assert got.images.shape == (1, SIZE, SIZE, 3)
  assert got.notes == ("photo.jpg: 640x480 centre-cropped to 480x480 and resized to 64x64",)


def test_square_of_another_size_is_only_resized(tmp_path):
  path = _save(tmp_path / "big.png", Image.fromarray(_rgb(128, 128)))
  assert photos.read_inputs(path, size=SIZE).notes == ("big.png: 128x128 resized to 64x64",)


@pytest.mark.parametrize("name, make, note", [
    ("gray.png", lambda: Image.new("L", (64, 64), 128), "grayscale converted to RGB"),
    ("deep.png", lambda: Image.fromarray(np.full(
        (64, 64), 40000, np.uint16)), "16-bit grayscale converted to 8-bit RGB"),
    ("scan.jpg", lambda: Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "CMYK converted to RGB"),
    ("scan.tif", lambda: Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "CMYK converted to RGB"),
    ("alpha.png", lambda: Image.new("RGBA", (64, 64), (255, 0, 0, 0)), "RGBA composited on white"),
    ("pal.png", lambda: Image.new("RGB", (64, 64), (0, 0, 255)).convert("P"), "palette converted to RGB"),
    ("clear.gif", lambda: Image.new("P",
                                    (64, 64), 0), "palette with a transparent colour composited on white"),
])
def test_modes_are_converted_with_a_note(tmp_path, name, make, note):
  kw = {"transparency": 0} if name.endswith(".gif") else {}
  got = photos.read_inputs(_save(tmp_path / name, make(), **kw), size=SIZE)
  assert got.images.shape == (1, SIZE, SIZE, 3) and got.images.dtype == np.uint8
  assert got.notes == (f"{name}: {note}",)


def test_converted_pixels(tmp_path):
  deep = photos.read_inputs(_save(tmp_path / "d.png", Image.fromarray(np.full((64, 64), 40000, np.uint16))),
                            size=SIZE)
  np.testing.assert_array_equal(deep.images, 40000 >> 8)
  clear = photos.read_inputs(_save(tmp_path / "a.png", Image.new("RGBA", (64, 64), (255, 0, 0, 0))),
                             size=SIZE)
  np.testing.assert_array_equal(clear.images, 255)  # transparent on white


def test_animated_gif_gives_its_first_frame(tmp_path):
  frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 0, 255))]
  path = _save(tmp_path / "anim.gif", frames[0], save_all=True, append_images=frames[1:])
  got = photos.read_inputs(path, size=SIZE)
  assert "anim.gif: animated GIF: first frame used" in got.notes
  assert got.images[0, 0, 0, 0] > 200 and got.images[0, 0, 0, 2] < 50


def test_exif_orientation_is_applied(tmp_path):
  exif = Image.Exif()
  exif[0x0112] = 6  # stored landscape, shown portrait
  path = _save(tmp_path / "tall.jpg", Image.fromarray(_rgb(48, 96)), exif=exif)
  got = photos.read_inputs(path, size=SIZE)
  assert "tall.jpg: 48x96 centre-cropped to 48x48 and upscaled to 64x64" in got.notes


def test_text_file_named_png(tmp_path):
  (tmp_path / "x.png").write_text("not an image\n")
  _error(tmp_path / "x.png", "not an image")


@pytest.mark.parametrize("name", ["cut.png", "cut.jpg"])
def test_truncated_file(tmp_path, name):
  path = _save(tmp_path / name, Image.fromarray(_rgb(128, 128)))
  data = open(path, "rb").read()
  with open(path, "wb") as f:
    f.write(data[:len(data) // 2])
  _error(path, "truncated")


def test_tiny_and_empty_files(tmp_path):
  msg = _error(_save(tmp_path / "dot.png", Image.new("RGB", (1, 1))), "too small: 1x1 px")
  assert "at least 8 px" in msg and ">= 64" in msg
  _error(_save(tmp_path / "thin.png", Image.new("RGB", (640, 7))), "too small: 640x7 px")
  (tmp_path / "empty.jpg").write_bytes(b"")
  _error(tmp_path / "empty.jpg", "empty file")


def test_nonexistent_path(tmp_path):
  _error(tmp_path / "nope.jpg", "no such file or folder")


def _folder(tmp_path):
  folder = tmp_path / "photos"
  folder.mkdir()
  for i, name in enumerate(["c.png", "a.jpg", "B.PNG"]):
    _save(folder / name, Image.fromarray(_rgb(SIZE, SIZE, seed=i)))
  (folder / "README.txt").write_text("my photos")
  (folder / "old").mkdir()
  _save(folder / "old" / "broken.png", Image.new("RGB", (1, 1)))  # subfolders are not read
  return folder


def test_folder_sorted_by_name_ignoring_other_files(tmp_path):
  folder = _folder(tmp_path)
  got = photos.read_inputs(str(folder), size=SIZE)
  assert got.names == ("B", "a", "c")
  assert got.images.shape == (3, SIZE, SIZE, 3)
  np.testing.assert_array_equal(got.images[2], _rgb(SIZE, SIZE, seed=0))  # c.png, lossless
  assert got.notes == (f"{folder}/: ignored 1 non-image file (README.txt) and 1 subfolder",)
  assert photos.describe(got) == f"3 images from {folder}/ (1 note)"
  _error(folder, "more than the limit of 2", max_images=2)


def test_folder_with_bad_files_is_refused_listing_them(tmp_path):
  folder = _folder(tmp_path)
  (folder / "notes.png").write_text("hello")
  _save(folder / "dot.gif", Image.new("P", (1, 1)))
  msg = _error(folder, "2 of 5 image files cannot be used")
  assert "dot.gif (too small: 1x1 px)" in msg and "notes.png (not an image" in msg
  assert "fix or remove them" in msg


def test_folder_lists_at_most_five_bad_files(tmp_path):
  folder = tmp_path / "bad"
  folder.mkdir()
  for i in range(7):
    (folder / f"{i}.png").write_text("x")
  msg = _error(folder, "7 of 7 image files")
  assert "4.png" in msg and "5.png" not in msg and "and 2 more" in msg


def test_empty_folder(tmp_path):
  (tmp_path / "none").mkdir()
  (tmp_path / "none" / "a.txt").write_text("x")
  _error(tmp_path / "none", "no image files")


def test_npz_good(tmp_path):
  x = np.stack([_rgb(SIZE, SIZE, seed=i) for i in range(2)])
  np.savez(tmp_path / "faces.npz", images=x)
  got = photos.read_inputs(str(tmp_path / "faces.npz"), size=SIZE)
  np.testing.assert_array_equal(got.images, x)
  assert got.names == ("faces_0000", "faces_0001") and got.notes == ()


def test_npz_single_grayscale_and_resized(tmp_path):
  np.savez(tmp_path / "one.npz", images=_rgb(SIZE, SIZE))
  assert photos.read_inputs(str(tmp_path / "one.npz"), size=SIZE).images.shape == (1, SIZE, SIZE, 3)
  np.savez(tmp_path / "gray.npz", images=np.full((3, SIZE, SIZE, 1), 7, np.uint8))
  gray = photos.read_inputs(str(tmp_path / "gray.npz"), size=SIZE)
  np.testing.assert_array_equal(gray.images, np.full((3, SIZE, SIZE, 3), 7, np.uint8))
  assert gray.notes == ("gray.npz: grayscale [3, 64, 64, 1] converted to RGB",)
  np.savez(tmp_path / "wide.npz", images=np.stack([_rgb(32, 48, seed=i) for i in range(2)]))
  wide = photos.read_inputs(str(tmp_path / "wide.npz"), size=SIZE)
  assert wide.images.shape == (2, SIZE, SIZE, 3)
  assert wide.notes == ("wide.npz: 2 images 48x32 centre-cropped to 32x32 and upscaled to 64x64",)


def test_bad_npz(tmp_path):
  np.savez(tmp_path / "float.npz", images=np.zeros((2, SIZE, SIZE, 3), np.float32))
  _error(tmp_path / "float.npz", "`images` has dtype float32")
  np.savez(tmp_path / "key.npz", faces=np.zeros((2, SIZE, SIZE, 3), np.uint8))
  _error(tmp_path / "key.npz", r"no `images` array \(found `faces`\)")
  np.savez(tmp_path / "rgba.npz", images=np.zeros((2, SIZE, SIZE, 4), np.uint8))
  _error(tmp_path / "rgba.npz", r"shape \[2, 64, 64, 4\]; expected uint8 \[N, H, W, 3\]")
  (tmp_path / "text.npz").write_text("hello")
  _error(tmp_path / "text.npz", "not a readable .npz")
  np.savez(tmp_path / "zip.npz", images=np.zeros((2, SIZE, SIZE, 3), np.uint8))
  data = (tmp_path / "zip.npz").read_bytes()
  (tmp_path / "zip.npz").write_bytes(data[:len(data) // 2])
  _error(tmp_path / "zip.npz", "not a readable .npz")
  np.save(tmp_path / "arr.npy", np.zeros((2, SIZE, SIZE, 3), np.uint8))
  os.rename(tmp_path / "arr.npy", tmp_path / "arr.npz")
  _error(tmp_path / "arr.npz", "not an .npz archive")
  (tmp_path / "empty.npz").write_bytes(b"")
  _error(tmp_path / "empty.npz", "empty file")
  np.savez(tmp_path / "many.npz", images=np.zeros((3, SIZE, SIZE, 3), np.uint8))
  _error(tmp_path / "many.npz", "more than the limit of 2", max_images=2)

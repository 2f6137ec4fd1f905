"""Tests of image decoding (vid_jax/data/images.py)."""
import numpy as np
from PIL import Image

from data_fakes import jpeg_bytes
from vid_jax.data import images


def test_to_rgb_modes():
  assert images.to_rgb(Image.new("RGB", (2, 2), (1, 2, 3))).mode == "RGB"
  grey16 = Image.fromarray(np.full((2, 2), 0x1234, np.uint16))
  assert (np.asarray(images.to_rgb(grey16)) == 0x12).all()  # top 8 of 16 bits
  grey_float = Image.fromarray(np.full((2, 2), 0.5, np.float32), "F")
  assert (np.asarray(images.to_rgb(grey_float)) == 127).all()  # [0, 1] scaled to [0, 255]
  clear = Image.new("RGBA", (2, 2), (9, 9, 9, 0))
  assert (np.asarray(images.to_rgb(clear)) == 255).all()  # composited on white


def test_center_crop_resize_and_box():
  arr = np.zeros((10, 30, 3), np.uint8)
  arr[:, 10:20] = 200  # the centre square
  img = Image.fromarray(arr)
  out = images.center_crop_resize(img, 5)
  assert out.shape == (5, 5, 3) and out.dtype == np.uint8 and (out == 200).all()
  assert (images.center_crop_resize(img, 10, box=(0, 0, 10, 10)) == 0).all()
  assert images.resize(Image.fromarray(arr[:, 10:20]), 10).shape == (10, 10, 3)


def test_decode_and_check_file(tmp_path):
  path = tmp_path / "a.jpg"
  path.write_bytes(jpeg_bytes(np.full((64, 48, 3), 120, np.uint8), quality=95))
  out = images.decode_file(str(path), 8)  # JPEG draft decoding: still the same flat colour
  assert out.shape == (8, 8, 3) and (np.abs(out.astype(int) - 120) <= 2).all()
  assert images.check_file(str(path)) is None
  (tmp_path / "empty.png").write_bytes(b"")
  assert images.check_file(str(tmp_path / "empty.png")) == "empty file"
  (tmp_path / "cut.jpg").write_bytes(path.read_bytes()[:100])
  assert images.check_file(str(tmp_path / "cut.jpg")) is not None

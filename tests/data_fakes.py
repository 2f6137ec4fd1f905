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
  (root / "b_photo.jpg").write_bytes(jpeg_bytes(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)))
  Image.fromarray(np.full((30, 30), 77, np.uint8), "L").save(root / "sub" / "c_gray.png")
  rgba = np.zeros((16, 16, 4), np.uint8)
  rgba[..., 3] = 0  # fully transparent -> white
  Image.fromarray(rgba, "RGBA").save(root / "sub" / "d_rgba.png")
  pal = Image.fromarray(np.full((16, 16, 3), (10, 200, 30),
                                np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE)
  pal.save(root / "sub" / "e_palette.png")
  Image.fromarray(np.full((16, 16), 0x8000, np.uint16)).save(root / "sub" / "deeper" / "f_16bit.png")
  Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(root / "g.webp")
  Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(root / "h.BMP")
  # Bad files.
  (root / "x_corrupt.jpg").write_bytes(b"this is not a jpeg at all" * 10)
  full = jpeg_bytes(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
  (root / "sub" / "y_truncated.jpg").write_bytes(full[:len(full) // 2])
  (root / "z_empty.png").write_bytes(b"")
  (root / "notes.txt").write_text("ignored")
  return root


GOOD = [
    "a_wide.png", "b_photo.jpg", "g.webp", "h.BMP", "sub/c_gray.png", "sub/d_rgba.png",
    "sub/deeper/f_16bit.png", "sub/e_palette.png"
]
BAD = {"x_corrupt.jpg", "sub/y_truncated.jpg", "z_empty.png"}

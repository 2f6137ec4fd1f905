"""Image decoding shared by the CelebA and folder sources: any Pillow mode to RGB, crop, resize.

Images are cropped (a given box or the centre square), then resized with `RESIZE_FILTER`;
JPEGs are decoded in the DCT domain at the smallest scale that keeps the crop at least 3x the
target size.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageFile, ImageOps

RESIZE_FILTER = "PIL LANCZOS, reducing_gap=3.0 (JPEG: DCT draft decode to >= 3x size first)"

# Never decode a truncated file as if it were whole.
ImageFile.LOAD_TRUNCATED_IMAGES = False


def to_rgb(img: Image.Image) -> Image.Image:
  """Converts any Pillow mode to RGB.

  Transparent images (RGBA, LA, PA, P or L with a transparency key) are
  composited on white; 16-bit and 32-bit integer grey images keep their top 8
  bits; float images are clipped to [0, 255].
  """
  mode = img.mode
  if mode == "RGB":
    return img
  if mode.startswith("I;16") or mode == "I":
    arr = np.asarray(img).astype(np.int64)
    # "I" from a 16-bit PNG holds 0..65535; treat any value > 255 as 16-bit.
    if mode != "I" or arr.max(initial=0) > 255:
      arr = arr >> 8
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "L").convert("RGB")
  if mode == "F":
    arr = np.asarray(img, np.float64)
    if arr.max(initial=0) <= 1.0:
      arr = arr * 255.0
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")
  if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")
  return img.convert("RGB")


def resize(img: Image.Image, size: int) -> np.ndarray:
  """Resizes to size x size with `RESIZE_FILTER`.

  Returns:
    uint8 [size, size, C].
  """
  if img.size != (size, size):
    img = img.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
  arr = np.asarray(img, dtype=np.uint8)
  return arr


def center_crop_resize(img: Image.Image, size: int,
                       box: tuple[int, int, int, int] | None = None) -> np.ndarray:
  """Crops `box` (default: the centre square), resizes to size x size.

  Returns:
    uint8 [size, size, 3].
  """
  img = to_rgb(img)
  if box is None:
    w, h = img.size
    m = min(w, h)
    left, top = (w - m) // 2, (h - m) // 2
    box = (left, top, left + m, top + m)
  return resize(img.crop(box), size)


def decode_file(path: str, size: int) -> np.ndarray:
  """Decodes, converts, centre-crops and resizes one image file.

  Returns:
    uint8 [size, size, 3].

  Raises:
    OSError, SyntaxError, ValueError, Image.DecompressionBombError: bad file.
  """
  with Image.open(path) as img:
    w, h = img.size
    if img.format == "JPEG":
      # DCT-domain downscaling: decode at the smallest 1/2^k scale that keeps
      # the crop at least 3x the target (what `reducing_gap=3` would keep).
      m = min(w, h)
      want = 3 * size
      if m > want:
        img.draft("RGB", (-(-w * want // m), -(-h * want // m)))
    img.load()
    img = ImageOps.exif_transpose(img)
    return center_crop_resize(img, size)


def check_file(path: str) -> str | None:
  """Fully decodes a file (at 1/8 scale for JPEG); returns why it is bad, or None."""
  try:
    if os.path.getsize(path) == 0:
      return "empty file"
    with Image.open(path) as img:
      if img.format == "JPEG":
        img.draft(img.mode, (1, 1))  # still reads every entropy-coded byte
      img.load()
    return None
  except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
    return f"{type(e).__name__}: {e}"

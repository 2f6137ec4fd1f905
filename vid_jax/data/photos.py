"""Photos to encode (an image file, a folder of images, or an .npz of uint8 images) as uint8 squares.

  inputs = photos.read_inputs("photos/", size=64)  # .images uint8 [N, 64, 64, 3], .names, .notes

Each conversion and resize gets a note, each bad input one `UserError` line (decoding: images.py);
a folder with bad files is refused whole, listing them, so that no photo is dropped silently.
"""
from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from vid_jax.data import images
from vid_jax.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
NPZ_KEY = "images"
MIN_SIDE = 8  # px on the shorter side; below this there is no face to encode
MAX_LISTED = 5  # bad files named in a folder's error
# What Pillow raises for a bad file (UnidentifiedImageError is an OSError).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
# What np.load / NpzFile.__getitem__ raise for a bad archive.
NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
# yapf: disable
_MODE_NOTES = {  # Pillow mode -> what images.to_rgb does to it
    "1": "1-bit black and white converted to RGB", "L": "grayscale converted to RGB",
    "LA": "grayscale with alpha composited on white", "P": "palette converted to RGB",
    "PA": "palette with alpha composited on white", "RGBA": "RGBA composited on white",
    "CMYK": "CMYK converted to RGB", "I;16": "16-bit grayscale converted to 8-bit RGB",
    "I": "32-bit integer grayscale converted to 8-bit RGB", "F": "float grayscale converted to 8-bit RGB"}
# yapf: enable


@dataclasses.dataclass(frozen=True)
class Inputs:
  """Square RGB photos with a name per photo and what was done to them."""
  images: np.ndarray  # uint8 [N, size, size, 3]
  names: tuple[str, ...]  # one per image: file stem, or f"{npz_stem}_{i:04d}"
  notes: tuple[str, ...]  # one line each: conversions, crops, resizes, ignored files
  source: str = ""  # the path as given


class _BadFile(Exception):
  """args: why one file cannot be used (reason) and what to do about it (fix)."""


def _one_line(e: BaseException) -> str:
  return " ".join(str(e).split()) or type(e).__name__


def _plural(n: int, word: str) -> str:
  return f"{n} {word}" + ("" if n == 1 else "s")


def _too_many(path: str, n: int, *, max_images: int):
  raise UserError(f"{path}: {n} images, more than the limit of {max_images}; split it or raise max_images")


def _size_note(w: int, h: int, *, size: int) -> str | None:
  """What centre-cropping a w x h image and resizing it to size x size does; None if nothing."""
  m = min(w, h)
  scaled = "upscaled" if m < size else "resized"
  if w == h:
    return None if m == size else f"{w}x{h} {scaled} to {size}x{size}"
  crop = f"{w}x{h} centre-cropped to {m}x{m}"
  return crop if m == size else f"{crop} and {scaled} to {size}x{size}"


def _mode_note(img: Image.Image) -> str | None:
  mode = "I;16" if img.mode.startswith("I;16") else img.mode  # I;16, I;16B, I;16L, ...
  if mode == "RGB":
    return None
  note = _MODE_NOTES.get(mode, f"{mode} converted to RGB")
  if "transparency" in img.info:  # to_rgb composites these (not 16/32-bit grey: no " to RGB")
    note = note.replace(" converted to RGB", " with a transparent colour composited on white")
  return note


def _read_file(path: str, *, size: int) -> tuple[np.ndarray, list[str]]:
  """Decodes one image file to uint8 [size, size, 3] with its notes (unprefixed).

  Raises:
    _BadFile: empty, not an image, truncated, corrupt, too small or too large.
  """
  notes = []
  try:
    if os.path.getsize(path) == 0:
      raise _BadFile("empty file (0 bytes)", "re-save or re-download it")
    with Image.open(path) as img:  # the header only: mode, size, frames, orientation
      w, h = img.size
      orientation = img.getexif().get(0x0112, 1)
      if orientation in (5, 6, 7, 8):
        w, h = h, w
      if min(w, h) < MIN_SIDE:
        raise _BadFile(f"too small: {w}x{h} px",
                       f"give an image at least {MIN_SIDE} px on its shorter side, ideally >= {size}")
      notes.append(_mode_note(img))
      if getattr(img, "is_animated", False):
        notes.append(f"animated {img.format}: first frame used")
      if orientation not in (1, None):
        notes.append(f"turned upright by its EXIF orientation {orientation}")
    arr = images.decode_file(path, size)  # [size, size, 3]
  except UnidentifiedImageError:
    raise _BadFile("not an image Pillow can read", "give a PNG, JPEG, BMP, GIF, WebP or TIFF image") from None
  except Image.DecompressionBombError as e:
    raise _BadFile(f"too many pixels to decode safely ({_one_line(e)})", "downscale it first") from None
  except DECODE_ERRORS as e:
    if "truncated" in str(e):
      raise _BadFile("truncated", "the file ends early; re-save or re-download it") from None
    raise _BadFile(f"cannot be decoded ({type(e).__name__}: {_one_line(e)})",
                   "re-save it as PNG or JPEG") from None
  notes.append(_size_note(w, h, size=size))
  return arr, [n for n in notes if n]


def _read_one(path: str, *, size: int) -> Inputs:
  """One image file (any extension Pillow can open)."""
  try:
    arr, notes = _read_file(path, size=size)
  except _BadFile as e:
    raise UserError(f"{path}: {e.args[0]}; {e.args[1]}") from None
  name = os.path.basename(path)
  return Inputs(images=arr[None], names=(os.path.splitext(name)[0],),
                notes=tuple(f"{name}: {n}" for n in notes), source=path)


def _read_folder(path: str, *, size: int, max_images: int) -> Inputs:
  """Every image file directly in `path`, sorted by name; refused whole if any is bad."""
  shown = path.rstrip("/" + os.sep) + os.sep
  entries = sorted(os.scandir(path), key=lambda e: e.name)
  subfolders = sum(e.is_dir() for e in entries)
  # Hidden files are not photos, e.g. macOS "._photo.jpg" resource forks.
  is_photo = lambda name: name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")
  files = [e.name for e in entries if not e.is_dir() and is_photo(e.name)]
  ignored = [e.name for e in entries if not e.is_dir() and not is_photo(e.name)]
  if not files:
    raise UserError(f"{shown}: no image files ({' '.join(IMAGE_EXTENSIONS)}) directly in it; put the "
                    f"photos in it (subfolders are not read) or give one image file")
  if len(files) > max_images:
    _too_many(shown, len(files), max_images=max_images)
  arrays, notes, bad = [], [], []
  for name in files:
    try:
      arr, file_notes = _read_file(os.path.join(path, name), size=size)
    except _BadFile as e:
      bad.append(f"{name} ({e.args[0]})")
      continue
    arrays.append(arr)
    notes.extend(f"{name}: {n}" for n in file_notes)
  if bad:
    more = f", and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    raise UserError(f"{shown}: {len(bad)} of {_plural(len(files), 'image file')} cannot be used: "
                    f"{', '.join(bad[:MAX_LISTED])}{more}; fix or remove them and run again "
                    f"(no image was read)")
  listed = ", ".join(ignored[:MAX_LISTED]) + (", ..." if len(ignored) > MAX_LISTED else "")
  skipped = [f"{_plural(len(ignored), 'non-image file')} ({listed})"] if ignored else []
  skipped += [_plural(subfolders, "subfolder")] if subfolders else []
  if skipped:
    notes.append(f"{shown}: ignored {' and '.join(skipped)}")
  stems = [os.path.splitext(n)[0] for n in files]
  # Two files with one stem ("a.png", "a.jpg") keep their extension so that names stay unique.
  names = tuple(n if stems.count(s) > 1 else s for n, s in zip(files, stems))
  return Inputs(images=np.stack(arrays), names=names, notes=tuple(notes), source=shown)


def _read_npz(path: str, *, size: int, max_images: int) -> Inputs:
  """The uint8 `images` array of an .npz: [N, H, W, 3], [H, W, 3], [N, H, W, 1] or [N, H, W]."""
  name = os.path.basename(path)
  fix = f"save it with np.savez({name!r}, {NPZ_KEY}=x) where x is uint8 [N, H, W, 3]"
  try:
    data = np.load(path, allow_pickle=False)
  except NPZ_ERRORS as e:
    why = "empty file (0 bytes)" if os.path.getsize(path) == 0 else f"{type(e).__name__}: {_one_line(e)}"
    raise UserError(f"{path}: not a readable .npz ({why}); {fix}") from None
  if not isinstance(data, np.lib.npyio.NpzFile):
    raise UserError(f"{path}: a .npy array, not an .npz archive of named arrays; {fix}")
  with data:
    if NPZ_KEY not in data.files:
      found = ", ".join(f"`{k}`" for k in data.files) or "no arrays"
      raise UserError(f"{path}: no `{NPZ_KEY}` array (found {found}); {fix}")
    try:
      arr = data[NPZ_KEY]
    except NPZ_ERRORS as e:
      raise UserError(f"{path}: `{NPZ_KEY}` cannot be read ({type(e).__name__}: {_one_line(e)}); "
                      f"{fix}") from None
  shape = list(arr.shape)
  if arr.dtype != np.uint8:
    raise UserError(f"{path}: `{NPZ_KEY}` has dtype {arr.dtype} (shape {shape}); expected uint8 [N, H, W, 3]"
                    f" in 0..255, e.g. from floats in [0, 1]: (x * 255).round().astype(np.uint8)")
  notes = []
  if arr.ndim == 3 and shape[-1] == 3:  # one RGB image
    arr = arr[None]
  elif arr.ndim == 3 or (arr.ndim == 4 and shape[-1] == 1):
    arr = np.repeat(arr.reshape(arr.shape[:3] + (1,)), 3, axis=-1)
    notes.append(f"{name}: grayscale {shape} converted to RGB")
  elif arr.ndim != 4 or shape[-1] != 3:
    raise UserError(f"{path}: `{NPZ_KEY}` has shape {shape}; expected uint8 [N, H, W, 3] "
                    f"(or [H, W, 3] for one image, [N, H, W, 1] or [N, H, W] for grayscale)")
  n, h, w = arr.shape[:3]
  if n == 0:
    raise UserError(f"{path}: `{NPZ_KEY}` holds no images (shape {shape}); {fix} with N >= 1")
  if n > max_images:
    _too_many(path, n, max_images=max_images)
  if min(h, w) < MIN_SIDE:
    raise UserError(f"{path}: `{NPZ_KEY}` too small: {w}x{h} px; give images at least {MIN_SIDE} px "
                    f"on their shorter side, ideally >= {size}")
  size_note = _size_note(w, h, size=size)
  if size_note:
    arr = np.stack([images.center_crop_resize(Image.fromarray(a), size) for a in arr])
    notes.append(f"{name}: {_plural(n, 'image')} {size_note}")
  stem = os.path.splitext(name)[0]
  return Inputs(images=np.ascontiguousarray(arr), names=tuple(f"{stem}_{i:04d}" for i in range(n)),
                notes=tuple(notes), source=path)


def read_inputs(path: str, *, size: int, max_images: int = 4096) -> Inputs:
  """Reads photos to encode as size x size RGB squares.

  Args:
    path: an image file, a folder of image files (not recursive), or an .npz
      whose `images` array is uint8 [N, H, W, 3] (or [H, W, 3], [N, H, W, 1], [N, H, W]).
    size: side of the output squares, in px.
    max_images: refuse inputs holding more images than this.

  Returns:
    `Inputs` with images uint8 [N, size, size, 3], N >= 1.

  Raises:
    UserError: one line naming the file, what is wrong and how to fix it.
  """
  if os.path.isdir(path):
    return _read_folder(path, size=size, max_images=max_images)
  if not os.path.isfile(path):
    raise UserError(f"{path}: no such file or folder; give an image file, a folder of images, or an .npz "
                    f"with a uint8 `images` array [N, H, W, 3]")
  if path.lower().endswith(".npz"):
    return _read_npz(path, size=size, max_images=max_images)
  return _read_one(path, size=size)


def describe(inputs: Inputs) -> str:
  """One line, e.g. "3 images from photos/ (2 notes)"."""
  notes = _plural(len(inputs.notes), "note") if inputs.notes else "no notes"
  return f"{_plural(len(inputs.images), 'image')} from {inputs.source or 'memory'} ({notes})"

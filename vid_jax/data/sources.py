"""Random-access image sources: built-in avatars, CelebA via TFDS, image folders.

Every source yields `{"image": uint8 [size, size, 3], "attributes": bool [40]}`
(CelebA attribute names, tfds order) and has a vectorised `get_batch`. Build
one with `vid_jax.data.make_source(spec, size=...)` (`vid_jax.data.cache`, which
also reads a prepared packed cache when given `cache_dir=`).

Spec strings:
  * `avatars`: the procedural avatar dataset (`vid_jax.data.avatars`).
  * `tfds:celeb_a`: CelebA through `tfds.data_source` (ArrayRecord).
  * `folder:PATH`: images under PATH, found recursively.
"""
from __future__ import annotations

import abc
import concurrent.futures
import dataclasses
import os
from typing import Any, Mapping, Sequence

from absl import logging
import numpy as np
from PIL import Image, ImageFile, ImageOps
from tqdm import tqdm

from vid_jax.data import avatars
from vid_jax.data.attributes import ATTRIBUTE_INDEX, ATTRIBUTE_NAMES, NUM_ATTRIBUTES
from vid_jax.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
LABELS_FILENAME = "list_attr_celeba.txt"
DEFAULT_AVATAR_COUNT = 50_000
ON_BAD_FILE = ("skip", "error")

# CelebA's aligned images are 178x218. The face box is the 128x128 square
# centred at (x=89, y=121), the crop of Karras et al.'s `create_celeba` in the
# progressive-GAN / StyleGAN dataset_tool. (left, upper, right, lower).
CELEBA_IMAGE_SHAPE = (218, 178, 3)
CELEBA_CROP_BOX = (25, 57, 153, 185)
CELEBA_CROP = "box (left=25, top=57, right=153, bottom=185): 128x128 centred at (89, 121)"
FOLDER_CROP = "centre square of side min(width, height)"
RESIZE_FILTER = "PIL LANCZOS, reducing_gap=3.0 (JPEG: DCT draft decode to >= 3x size first)"
AVATAR_FILTER = "drawn at max(2, ceil(256 / size))x, PIL LANCZOS reducing_gap=2.0"

# Never decode a truncated file as if it were whole.
ImageFile.LOAD_TRUNCATED_IMAGES = False


# ----------------------------------------------------------------------------
# Base class.


class Source(abc.ABC):
  """A finite random-access sequence of labelled square uint8 images."""

  spec: str  # canonical spec, e.g. "avatars" or "folder:/abs/path"
  size: int
  attribute_names: tuple[str, ...] = ATTRIBUTE_NAMES
  has_attributes: bool = True

  @abc.abstractmethod
  def __len__(self) -> int:
    ...

  @abc.abstractmethod
  def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns (image uint8 [size, size, 3], attributes bool [40]) of item i."""

  def _index(self, i) -> int:
    n = len(self)
    i = int(i)
    if i < 0:
      i += n
    if not 0 <= i < n:
      raise IndexError(f"index {i} out of range for {self.spec} of length {n}")
    return i

  def __getitem__(self, i) -> dict[str, np.ndarray]:
    image, attributes = self._load(self._index(i))
    return {"image": image, "attributes": attributes}

  def get_batch(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
    """Gathers items.

    Returns:
      {"image": uint8 [n, size, size, 3], "attributes": bool [n, 40]}.
    """
    indices = np.asarray(indices, np.int64).reshape(-1)
    images = np.empty((len(indices), self.size, self.size, 3), np.uint8)
    attributes = np.zeros((len(indices), NUM_ATTRIBUTES), np.bool_)
    for j, i in enumerate(indices):
      images[j], attributes[j] = self._load(self._index(i))
    return {"image": images, "attributes": attributes}

  def identities(self, indices: Sequence[int]) -> np.ndarray | None:
    """Identity labels (int32 [n]) where the source has them, else None."""
    del indices
    return None

  @abc.abstractmethod
  def attribute_marginals(self) -> np.ndarray:
    """Fraction of items with each attribute True: float32 [40]."""

  def describe(self) -> dict[str, Any]:
    """Manifest fields describing how images were made (crop, filter, ...)."""
    return {}

  def __repr__(self):
    return f"{type(self).__name__}({self.spec!r}, size={self.size}, n={len(self)})"


# ----------------------------------------------------------------------------
# Avatars.


class AvatarSource(Source):
  """The built-in procedural avatars; item i is a pure function of (seed, i)."""

  def __init__(self, *, size: int, seed: int = 0,
               num_examples: int = DEFAULT_AVATAR_COUNT):
    self.spec = "avatars"
    self.size = size
    self.seed = seed
    self._n = num_examples

  def __len__(self):
    return self._n

  def _load(self, i):
    return avatars.render_index(i, seed=self.seed, size=self.size)

  def get_batch(self, indices):
    indices = np.asarray(indices, np.int64).reshape(-1)
    for i in indices:
      self._index(i)
    images, attributes = avatars.render_batch(indices, seed=self.seed,
                                              size=self.size)
    return {"image": images, "attributes": attributes}

  def attribute_marginals(self):
    return avatars.attribute_marginals(self._n, seed=self.seed)

  def describe(self):
    return {"crop": "none (drawn square)", "filter": AVATAR_FILTER,
            "seed": self.seed,
            "drawn_attributes": list(avatars.DRAWN_ATTRIBUTES)}


# ----------------------------------------------------------------------------
# Image decoding shared by CelebA and folders.


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


def _resize(img: Image.Image, size: int) -> np.ndarray:
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
  return _resize(img.crop(box), size)


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
  except (OSError, SyntaxError, ValueError, EOFError,
          Image.DecompressionBombError) as e:
    return f"{type(e).__name__}: {e}"


# ----------------------------------------------------------------------------
# CelebA through TFDS.


def _celeba_prepare_help(data_dir: str) -> str:
  return (
      f"CelebA is not prepared in {data_dir} (ArrayRecord format is needed). "
      f"Build it once with `pip install tensorflow` (needed only for the "
      f"build) and `tfds build celeb_a --data_dir={data_dir} "
      f"--file_format=array_record`; if the Google Drive download fails, put "
      f"img_align_celeba.zip, list_eval_partition.txt, list_attr_celeba.txt, "
      f"list_landmarks_align_celeba.txt and identity_CelebA.txt in "
      f"{os.path.join(data_dir, 'downloads', 'manual')} and add "
      f"`--manual_dir={os.path.join(data_dir, 'downloads', 'manual')}`; or "
      f"unzip the images and use --source=folder:PATH with list_attr_celeba.txt")


class CelebASource(Source):
  """CelebA (aligned) from `tfds.data_source("celeb_a")`, cropped and resized."""

  def __init__(self, *, size: int, split: str = "train",
               data_dir: str | None = None, num_examples: int | None = None):
    self.spec = "tfds:celeb_a"
    self.size = size
    self.split = split
    self.data_dir = os.path.expanduser(
        data_dir or os.environ.get("TFDS_DATA_DIR")
        or "~/tensorflow_datasets")
    self._ds = None
    n = len(self._data_source())
    self._n = n if num_examples is None else min(n, num_examples)

  def _data_source(self):
    if self._ds is None:
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
      try:
        self._ds = tfds.data_source("celeb_a", split=self.split,
                                    data_dir=self.data_dir, download=False)
      except (NotImplementedError, FileNotFoundError, AssertionError,
              RuntimeError) as e:  # not built, or built without ArrayRecord
        raise UserError(_celeba_prepare_help(self.data_dir)) from e
      except ValueError as e:  # e.g. unknown split
        raise UserError(f"tfds:celeb_a split {self.split!r}: {e}") from e
    return self._ds

  def __getstate__(self):  # picklable for worker processes
    state = dict(self.__dict__)
    state["_ds"] = None
    return state

  def __len__(self):
    return self._n

  def _load(self, i):
    ex = self._data_source()[i]
    image = np.asarray(ex["image"], np.uint8)
    attrs = ex["attributes"]
    labels = np.array([bool(attrs[n]) for n in ATTRIBUTE_NAMES], np.bool_)
    return celeba_crop_resize(image, self.size), labels

  def identities(self, indices):
    ds = self._data_source()
    return np.array(
        [int(np.asarray(ds[int(i)]["identity"]["Identity_No"]))
         for i in np.asarray(indices).reshape(-1)], np.int32)

  def attribute_marginals(self):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    ds = self._data_source()  # the clear error if not prepared
    try:  # labels only: skip JPEG decoding (seconds instead of minutes)
      fast = tfds.data_source("celeb_a", split=self.split,
                              data_dir=self.data_dir, download=False,
                              decoders={"image": tfds.decode.SkipDecoding()})
      fast[0]["attributes"]  # pylint: disable=pointless-statement
      ds = fast
    except Exception:  # pylint: disable=broad-except
      logging.info("tfds:celeb_a: reading labels with full image decoding")
    total = np.zeros(NUM_ATTRIBUTES, np.int64)
    for i in range(self._n):
      attrs = ds[i]["attributes"]
      total += np.array([bool(attrs[n]) for n in ATTRIBUTE_NAMES])
    return (total / max(self._n, 1)).astype(np.float32)

  def describe(self):
    return {"crop": CELEBA_CROP, "filter": RESIZE_FILTER, "split": self.split,
            "tfds_data_dir": self.data_dir}


def celeba_crop_resize(image: np.ndarray, size: int) -> np.ndarray:
  """CelebA face crop (CELEBA_CROP_BOX) and resize.

  Args:
    image: uint8 [218, 178, 3] aligned CelebA image.
    size: output side.

  Returns:
    uint8 [size, size, 3].
  """
  if image.shape != CELEBA_IMAGE_SHAPE:
    raise ValueError(f"CelebA image of shape {image.shape}, expected "
                     f"{CELEBA_IMAGE_SHAPE}")
  l, t, r, b = CELEBA_CROP_BOX
  return _resize(Image.fromarray(image[t:b, l:r]), size)


# ----------------------------------------------------------------------------
# Image folders.


@dataclasses.dataclass(frozen=True)
class BadFiles:
  """Files a folder source skipped: relative path -> reason."""
  reasons: Mapping[str, str]

  def __len__(self):
    return len(self.reasons)

  def summary(self, limit: int = 5) -> str:
    items = list(self.reasons.items())[:limit]
    more = f", ... ({len(self.reasons) - limit} more)" if len(self.reasons) > limit else ""
    return "; ".join(f"{k} ({v})" for k, v in items) + more


def _read_labels(path: str) -> tuple[dict[str, np.ndarray], list[str]]:
  """Parses a CelebA-format list_attr_celeba.txt into name -> bool [40]."""
  with open(path) as f:
    lines = f.read().splitlines()
  if len(lines) < 2:
    raise UserError(f"{path}: expected a count line and a header line of "
                    f"attribute names (CelebA list_attr_celeba.txt format)")
  header = lines[1].split()
  unknown = [h for h in header if h not in ATTRIBUTE_INDEX]
  if unknown:
    raise UserError(f"{path}: unknown attribute name(s) {unknown[:5]} in the "
                    f"header line; names must be CelebA's 40 attributes")
  cols = np.array([ATTRIBUTE_INDEX[h] for h in header], np.int64)
  labels = {}
  for lineno, line in enumerate(lines[2:], start=3):
    parts = line.split()
    if not parts:
      continue
    if len(parts) != len(header) + 1:
      raise UserError(f"{path}:{lineno}: expected a file name and "
                      f"{len(header)} values of 1/-1, got {len(parts) - 1}")
    row = np.zeros(NUM_ATTRIBUTES, np.bool_)
    try:
      row[cols] = np.array([int(v) for v in parts[1:]]) > 0
    except ValueError as e:
      raise UserError(f"{path}:{lineno}: values must be 1 or -1 ({e})") from None
    labels[parts[0]] = row
  return labels, header


class FolderSource(Source):
  """Images found recursively under a folder, decoded lazily per item.

  The constructor lists the files (sorted by relative path) and fully decodes
  each one once (JPEGs at 1/8 scale, which still reads every byte) so that
  unreadable, truncated and empty files are found, counted and logged before
  training starts and `len()` is exact. Items are then decoded on access.
  """

  def __init__(self, path: str, *, size: int, on_bad_file: str = "skip",
               num_examples: int | None = None, validate: bool = True,
               progress: bool | None = None):
    if on_bad_file not in ON_BAD_FILE:
      raise UserError(f"on_bad_file={on_bad_file!r}; use 'skip' or 'error'")
    root = os.path.realpath(os.path.expanduser(path))
    if not os.path.isdir(root):
      raise UserError(f"folder:{path}: no such directory")
    self.root = root
    self.spec = f"folder:{root}"
    self.size = size
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
      dirnames.sort()
      for name in filenames:
        if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
          files.append(os.path.relpath(os.path.join(dirpath, name), root))
    files.sort()
    if not files:
      raise UserError(
          f"folder:{path}: no images found (looked recursively for "
          f"{', '.join(IMAGE_EXTENSIONS)})")

    num_found = len(files)
    label_path = os.path.join(root, LABELS_FILENAME)
    bad: dict[str, str] = {}
    self.has_attributes = os.path.isfile(label_path)
    labels = {}
    if self.has_attributes:
      labels, _ = _read_labels(label_path)
      kept = []
      for rel in files:
        if rel in labels or os.path.basename(rel) in labels:
          kept.append(rel)
        else:
          bad[rel] = f"no line in {LABELS_FILENAME}"
      files = kept

    good = []
    if validate:
      limit = len(files) if num_examples is None else num_examples
      if progress is None:
        progress = len(files) >= 5000
      good = self._validate(files, limit, bad, progress)
    else:
      good = files if num_examples is None else files[:num_examples]
    self.bad_files = BadFiles(dict(bad))
    if bad:
      msg = (f"{len(bad)} bad image file(s) in {root}: "
             f"{self.bad_files.summary()}")
      if on_bad_file == "error":
        raise UserError(msg + "; fix or remove them, or set "
                        "data.on_bad_file=skip to skip them")
      logging.warning("Skipped %s", msg)
    if not good:
      raise UserError(f"folder:{path}: none of the {num_found} "
                      f"image files could be used ({self.bad_files.summary()})")
    self.files = tuple(good)
    if self.has_attributes:
      self._labels = np.stack([
          labels.get(rel, labels.get(os.path.basename(rel))) for rel in good])
    else:
      self._labels = np.zeros((len(good), NUM_ATTRIBUTES), np.bool_)

  def _validate(self, files, limit, bad, progress):
    good = []
    workers = min(8, os.cpu_count() or 1)
    chunk = 256
    pbar = None
    if progress:
      pbar = tqdm(total=min(limit, len(files)), desc="checking images",
                  unit="img")
    # Pillow releases the GIL while decoding, so threads use every core.
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      for start in range(0, len(files), chunk):
        part = files[start:start + chunk]
        paths = [os.path.join(self.root, rel) for rel in part]
        for rel, why in zip(part, pool.map(check_file, paths)):
          if why is None:
            if len(good) < limit:
              good.append(rel)
          else:
            bad[rel] = why
        if pbar is not None:
          pbar.update(len(part))
        if len(good) >= limit:
          break
    if pbar is not None:
      pbar.close()
    return good

  def __len__(self):
    return len(self.files)

  def _load(self, i):
    rel = self.files[i]
    try:
      image = decode_file(os.path.join(self.root, rel), self.size)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
      raise UserError(f"{os.path.join(self.root, rel)} could not be decoded "
                      f"although it passed the check when the source was "
                      f"built (was it changed?): {e}") from None
    return image, self._labels[i].copy()

  def get_batch(self, indices):
    indices = np.asarray(indices, np.int64).reshape(-1)
    paths = [os.path.join(self.root, self.files[self._index(i)])
             for i in indices]
    images = np.empty((len(indices), self.size, self.size, 3), np.uint8)
    for j, path in enumerate(paths):
      try:
        images[j] = decode_file(path, self.size)
      except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise UserError(f"{path} could not be decoded although it passed the "
                        f"check when the source was built: {e}") from None
    return {"image": images, "attributes": self._labels[indices]}

  def attribute_marginals(self):
    return self._labels.mean(0).astype(np.float32)

  def describe(self):
    return {"crop": FOLDER_CROP, "filter": RESIZE_FILTER,
            "labels": LABELS_FILENAME if self.has_attributes else None,
            "skipped": len(self.bad_files),
            "alpha": "composited on white"}


# ----------------------------------------------------------------------------
# Factory.


def parse_spec(spec: str) -> tuple[str, str | None]:
  """Splits a source spec into (kind, argument); kind in avatars|tfds|folder."""
  if not isinstance(spec, str) or not spec:
    raise UserError(f"data source {spec!r}: use avatars, tfds:celeb_a or folder:PATH")
  if spec == "avatars":
    return "avatars", None
  if spec.startswith("tfds:"):
    name = spec[len("tfds:"):]
    if name != "celeb_a":
      raise UserError(f"data source {spec!r}: only tfds:celeb_a is supported "
                      f"(other image datasets: export them to a folder and use "
                      f"folder:PATH)")
    return "tfds", name
  if spec.startswith("folder:"):
    path = spec[len("folder:"):]
    if not path:
      raise UserError("data source 'folder:' needs a path, e.g. folder:/data/faces")
    return "folder", path
  raise UserError(f"unknown data source {spec!r}: use avatars, tfds:celeb_a or "
                  f"folder:PATH")


def canonical_spec(spec: str) -> str:
  kind, arg = parse_spec(spec)
  if kind == "folder":
    return "folder:" + os.path.realpath(os.path.expanduser(arg))
  return spec


def check_size(size) -> int:
  if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 4 <= size <= 4096:
    raise UserError(f"image size {size!r}: use an integer from 4 to 4096 (e.g. 64)")
  return int(size)

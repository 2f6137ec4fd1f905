"""The `folder:PATH` source: images found recursively under a folder, with optional CelebA-format labels.

Labels, when present, come from a `list_attr_celeba.txt` in the folder's root (CelebA's format:
a count line, a header of attribute names, then a file name and 1/-1 values per line).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from typing import Mapping

from absl import logging
import numpy as np
from tqdm import tqdm

from vid_jax.data.attributes import ATTRIBUTE_INDEX, NUM_ATTRIBUTES
from vid_jax.data.images import RESIZE_FILTER, check_file, decode_file
from vid_jax.data.sources import Source
from vid_jax.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
LABELS_FILENAME = "list_attr_celeba.txt"
ON_BAD_FILE = ("skip", "error")
FOLDER_CROP = "centre square of side min(width, height)"


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

  def __init__(self, path: str, *, size: int, on_bad_file: str = "skip", num_examples: int | None = None,
               validate: bool = True, progress: bool | None = None):
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
      raise UserError(f"folder:{path}: no images found (looked recursively for "
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
      self._labels = np.stack([labels.get(rel, labels.get(os.path.basename(rel))) for rel in good])
    else:
      self._labels = np.zeros((len(good), NUM_ATTRIBUTES), np.bool_)

  def _validate(self, files, limit, bad, progress):
    good = []
    workers = min(8, os.cpu_count() or 1)
    chunk = 256
    pbar = None
    if progress:
      pbar = tqdm(total=min(limit, len(files)), desc="checking images", unit="img")
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
    paths = [os.path.join(self.root, self.files[self._index(i)]) for i in indices]
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
    return {
        "crop": FOLDER_CROP,
        "filter": RESIZE_FILTER,
        "labels": LABELS_FILENAME if self.has_attributes else None,
        "skipped": len(self.bad_files),
        "alpha": "composited on white"
    }

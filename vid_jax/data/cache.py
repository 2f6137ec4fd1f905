"""The prepared packed cache: decode, crop and resize once; read by memory map.

Layout of a cache directory (other tools and users read it directly):

  images.npy      uint8 [N, size, size, 3]   (np.load(..., mmap_mode="r"))
  attributes.npy  bool [N, 40], CelebA names in tfds order (absent for
                  unlabelled folders)
  identities.npy  int32 [N] (only for sources with identities: CelebA)
  manifest.json   source, count, size, attribute_names, crop, filter,
                  content_hash (sha256 of images bytes then attributes bytes),
                  version, file sizes, ... Written last.

Writing (`vid_jax.data.cache_writer`) is atomic: everything goes to `DIR.tmp-XXXX` next to
DIR, which is renamed to DIR only when complete, so a directory with a readable manifest is
always a complete cache; readers (here) reject any directory without one.

`make_source` builds any source: a live one (`vid_jax.data.sources`) or, given
`cache_dir`, the `CacheSource` of its prepared cache.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from vid_jax.data import folder
from vid_jax.data import sources as sources_lib
from vid_jax.data.attributes import ATTRIBUTE_NAMES, NUM_ATTRIBUTES
from vid_jax.data.avatar_source import DEFAULT_AVATAR_COUNT, AvatarSource
from vid_jax.data.celeba import CelebASource
from vid_jax.errors import UserError

VERSION = 2
VERSION_CHANGES = {2: "one hair colour per built-in avatar; version 1 drew several as stripes"}
FORMAT = "vid_jax.packed_images"
MANIFEST = "manifest.json"
IMAGES = "images.npy"
ATTRIBUTES = "attributes.npy"
IDENTITIES = "identities.npy"
_REQUIRED_KEYS = ("format", "version", "source", "count", "size", "attribute_names", "crop", "filter",
                  "content_hash", "files")


def prepare_command(spec: str, *, size: int, out: str, seed: int = 0, limit: int | None = None,
                    split: str = "train", overwrite: bool = False) -> str:
  """The tools/prepare_data.py command line that makes a cache."""
  cmd = f"python tools/prepare_data.py --source={spec} --size={size} --out={out}"
  kind, _ = sources_lib.parse_spec(spec)
  if kind == "avatars" and seed:
    cmd += f" --seed={seed}"
  if kind == "tfds" and split != "train":
    cmd += f" --split={split}"
  if limit:
    cmd += f" --limit={limit}"
  if overwrite:
    cmd += " --overwrite"
  return cmd


# ----------------------------------------------------------------------------
# Reading.


def read_manifest(cache_dir: str, *, fix: str = "") -> dict[str, Any]:
  """Reads and checks a cache's manifest and files; UserError if incomplete."""
  d = os.path.expanduser(cache_dir)
  fix = f"; {fix}" if fix else ""
  if not os.path.isdir(d):
    raise UserError(f"no prepared cache at {cache_dir}{fix}")
  mpath = os.path.join(d, MANIFEST)
  if not os.path.isfile(mpath):
    raise UserError(f"{cache_dir} is not a complete cache (no {MANIFEST}: "
                    f"preparation was interrupted or it is not a cache){fix}")
  try:
    with open(mpath) as f:
      manifest = json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"{mpath} is unreadable ({e}){fix}") from None
  missing = [k for k in _REQUIRED_KEYS if k not in manifest] if isinstance(manifest,
                                                                           dict) else list(_REQUIRED_KEYS)
  if missing:
    raise UserError(f"{mpath} lacks {missing}; not a complete cache{fix}")
  if manifest["format"] != FORMAT or manifest["version"] != VERSION:
    change = f" ({VERSION_CHANGES[VERSION]})" if manifest["format"] == FORMAT else ""
    raise UserError(f"{cache_dir} is a cache of format {manifest['format']} "
                    f"version {manifest['version']}; this code reads {FORMAT} "
                    f"version {VERSION}{change}{fix}")
  for name, nbytes in manifest["files"].items():
    path = os.path.join(d, name)
    if not os.path.isfile(path) or os.path.getsize(path) != nbytes:
      have = os.path.getsize(path) if os.path.isfile(path) else "missing"
      raise UserError(f"{path} is incomplete ({have} bytes, manifest says "
                      f"{nbytes}){fix}")
  return manifest


class CacheSource(sources_lib.Source):
  """A prepared cache, memory-mapped; `get_batch` is one vectorised gather."""

  def __init__(self, cache_dir: str, *, spec: str | None = None, size: int | None = None, seed: int = 0,
               num_examples: int | None = None, split: str = "train"):
    self.cache_dir = os.path.abspath(os.path.expanduser(cache_dir))
    kind = sources_lib.parse_spec(spec)[0] if spec is not None else None
    fix = ""
    if spec is not None:
      fix = "create it with: " + prepare_command(spec, size=size, out=cache_dir, seed=seed, split=split,
                                                 limit=num_examples, overwrite=os.path.isdir(
                                                     os.path.expanduser(cache_dir)))
    m = read_manifest(cache_dir, fix=fix)
    want, have = [], []
    if spec is not None and sources_lib.canonical_spec(spec) != m["source"]:
      want.append(f"source {sources_lib.canonical_spec(spec)}")
      have.append(f"source {m['source']}")
    if size is not None and int(size) != m["size"]:
      want.append(f"size {size}")
      have.append(f"size {m['size']}")
    if kind == "avatars" and m.get("seed") != seed:
      want.append(f"seed {seed}")
      have.append(f"seed {m.get('seed')}")
    if kind == "tfds" and m.get("split") != split:
      want.append(f"split {split}")
      have.append(f"split {m.get('split')}")
    if want:
      raise UserError(f"cache {cache_dir} holds {', '.join(have)} but "
                      f"{', '.join(want)} was requested; {fix}")
    count = m["count"]
    if num_examples is not None:
      if kind == "avatars" and num_examples > count:
        raise UserError(f"cache {cache_dir} holds {count} avatars but "
                        f"num_examples={num_examples} was requested; {fix}")
      count = min(count, int(num_examples))
    self.manifest = m
    self.spec = m["source"]
    self.size = m["size"]
    self.has_attributes = bool(m.get("has_attributes", bool(m["attribute_names"])))
    if self.has_attributes and tuple(m["attribute_names"]) != ATTRIBUTE_NAMES:
      raise UserError(f"cache {cache_dir} lists attributes in another order "
                      f"than CelebA/tfds; {fix}")
    self._n = count
    self._open()

  def _open(self):
    d = self.cache_dir
    images = np.load(os.path.join(d, IMAGES), mmap_mode="r")
    if (images.dtype != np.uint8 or images.shape != (self.manifest["count"], self.size, self.size, 3)):
      raise UserError(f"{d}/{IMAGES} has {images.dtype} {images.shape}, "
                      f"manifest says uint8 {self.manifest['image_shape']}")
    self._images = images.view(np.ndarray)  # plain ndarray over the mmap
    if self.has_attributes:
      self._attributes = np.load(os.path.join(d, ATTRIBUTES))[:self._n]
    else:
      self._attributes = np.zeros((self._n, NUM_ATTRIBUTES), np.bool_)
    ipath = os.path.join(d, IDENTITIES)
    self._identities = np.load(ipath)[:self._n] if os.path.isfile(ipath) else None

  def __getstate__(self):  # re-map in worker processes instead of copying
    state = dict(self.__dict__)
    for k in ("_images", "_attributes", "_identities"):
      state.pop(k, None)
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._open()

  def __len__(self):
    return self._n

  def _load(self, i):
    return np.array(self._images[i]), self._attributes[i].copy()

  def get_batch(self, indices):
    idx = np.asarray(indices, np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= self._n):
      raise IndexError(f"indices out of range [0, {self._n}) for {self.cache_dir}")
    # Sorted indices read the mmap front to back; callers sort when they can.
    return {"image": self._images[idx], "attributes": self._attributes[idx]}

  def identities(self, indices):
    if self._identities is None:
      return None
    return self._identities[np.asarray(indices, np.int64)]

  def attribute_marginals(self):
    return self._attributes.mean(0).astype(np.float32)

  def describe(self):
    return {k: self.manifest.get(k) for k in ("crop", "filter")}


def verify_cache(cache_dir: str) -> dict[str, Any]:
  """Recomputes the content hash; UserError if it differs from the manifest."""
  m = read_manifest(cache_dir)
  images = np.load(os.path.join(cache_dir, IMAGES), mmap_mode="r")
  digest = hashlib.sha256()
  step = 4096
  for a in range(0, len(images), step):
    digest.update(np.ascontiguousarray(images[a:a + step]).tobytes())
  if m["attribute_names"]:
    digest.update(np.load(os.path.join(cache_dir, ATTRIBUTES)).tobytes())
  got = "sha256:" + digest.hexdigest()
  if got != m["content_hash"]:
    raise UserError(f"cache {cache_dir} content hash {got} differs from its "
                    f"manifest ({m['content_hash']}): the files were modified; "
                    f"prepare it again")
  return m


def make_source(spec: str, *, size: int, seed: int = 0, on_bad_file: str = "skip",
                num_examples: int | None = None, cache_dir: str | None = None, split: str = "train",
                data_dir: str | None = None) -> sources_lib.Source:
  """Builds a data source: a live one (`vid_jax.data.sources`), or with `cache_dir` its prepared cache.

  Args:
    spec: "avatars" | "tfds:celeb_a" | "folder:PATH".
    size: output image side.
    seed: avatar dataset seed (other sources ignore it).
    on_bad_file: folders: "skip" (count and log) or "error" on bad files.
    num_examples: avatars: dataset size (default 50,000); others: a limit.
    cache_dir: read this prepared cache (tools/prepare_data.py) instead; its
      manifest must match spec, size (and seed / split).
    split: tfds split.
    data_dir: tfds data dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets).

  Returns:
    A `Source`.
  """
  size = sources_lib.check_size(size)
  kind, arg = sources_lib.parse_spec(spec)
  if num_examples is not None and (isinstance(num_examples, bool) or int(num_examples) < 1):
    raise UserError(f"num_examples={num_examples!r}: must be a positive integer")
  if on_bad_file not in folder.ON_BAD_FILE:
    raise UserError(f"on_bad_file={on_bad_file!r}; use 'skip' or 'error'")
  if cache_dir:
    return CacheSource(cache_dir, spec=spec, size=size, seed=seed, num_examples=num_examples, split=split)
  if kind == "avatars":
    return AvatarSource(size=size, seed=seed, num_examples=int(num_examples or DEFAULT_AVATAR_COUNT))
  if kind == "tfds":
    return CelebASource(size=size, split=split, data_dir=data_dir, num_examples=num_examples)
  return folder.FolderSource(arg, size=size, on_bad_file=on_bad_file, num_examples=num_examples)

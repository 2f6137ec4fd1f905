"""Writing a prepared packed cache (format: `vid_jax.data.cache`), atomically, optionally in worker processes.

Everything goes to `DIR.tmp-XXXX` next to DIR, which is renamed to DIR only when complete,
so a directory with a readable manifest is always a complete cache.
"""
from __future__ import annotations

import concurrent.futures
import datetime
import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from vid_jax.data import sources as sources_lib
from vid_jax.data.attributes import ATTRIBUTE_NAMES, NUM_ATTRIBUTES
from vid_jax.data.cache import ATTRIBUTES, FORMAT, IDENTITIES, IMAGES, MANIFEST, VERSION
from vid_jax.errors import UserError

_WORKER_SOURCE = None


def _init_worker(source):
  global _WORKER_SOURCE
  _WORKER_SOURCE = source


def _load_chunk(bounds):
  start, stop = bounds
  idx = np.arange(start, stop)
  batch = _WORKER_SOURCE.get_batch(idx)
  return batch["image"], batch["attributes"], _WORKER_SOURCE.identities(idx)


def _fsync(path):
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def write_cache(source: sources_lib.Source, out_dir: str, *, overwrite: bool = False, workers: int = 0,
                chunk_size: int = 256, progress: bool = True, command: str | None = None) -> dict[str, Any]:
  """Writes `source` as a packed cache at `out_dir`, atomically.

  Args:
    source: any Source (its images are already cropped and resized).
    out_dir: destination directory; must not exist or be empty unless
      `overwrite`.
    overwrite: replace an existing directory (only after the new cache is
      complete).
    workers: decode/render in this many spawned processes (0: in this one).
    chunk_size: items per task.
    progress: show a tqdm progress bar.
    command: command line recorded in the manifest.

  Returns:
    The manifest dict (also in out_dir/manifest.json).
  """
  out = os.path.abspath(os.path.expanduser(out_dir))
  if os.path.exists(out):
    if not os.path.isdir(out):
      raise UserError(f"--out={out_dir} exists and is not a directory")
    if os.listdir(out) and not overwrite:
      raise UserError(f"--out={out_dir} already exists and is not empty; "
                      f"pass --overwrite to replace it")
  parent = os.path.dirname(out)
  os.makedirs(parent, exist_ok=True)
  n, size = len(source), source.size
  tmp = tempfile.mkdtemp(prefix=os.path.basename(out) + ".tmp-", dir=parent)
  t0 = time.perf_counter()
  try:
    images = np.lib.format.open_memmap(os.path.join(tmp, IMAGES), mode="w+", dtype=np.uint8,
                                       shape=(n, size, size, 3))  # [N, H, W, 3]
    attributes = np.zeros((n, NUM_ATTRIBUTES), np.bool_)
    identities = None
    digest = hashlib.sha256()
    bounds = [(a, min(n, a + chunk_size)) for a in range(0, n, chunk_size)]
    pbar = None
    if progress:
      pbar = tqdm(total=n, unit="img", desc=f"prepare {source.spec}")
    for (a, b), (imgs, attrs, ids) in zip(bounds, _iter_chunks(source, bounds, workers)):
      images[a:b] = imgs
      attributes[a:b] = attrs
      digest.update(np.ascontiguousarray(imgs).tobytes())
      if ids is not None:
        if identities is None:
          identities = np.zeros((n,), np.int32)
        identities[a:b] = ids
      if pbar is not None:
        pbar.update(b - a)
    if pbar is not None:
      pbar.close()
    images.flush()
    del images
    _fsync(os.path.join(tmp, IMAGES))
    files = {IMAGES: os.path.getsize(os.path.join(tmp, IMAGES))}
    if source.has_attributes:
      digest.update(attributes.tobytes())
      np.save(os.path.join(tmp, ATTRIBUTES), attributes)
      files[ATTRIBUTES] = os.path.getsize(os.path.join(tmp, ATTRIBUTES))
    if identities is not None:
      np.save(os.path.join(tmp, IDENTITIES), identities)
      files[IDENTITIES] = os.path.getsize(os.path.join(tmp, IDENTITIES))
    seconds = time.perf_counter() - t0
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "source": source.spec,
        "count": n,
        "size": size,
        "image_shape": [n, size, size, 3],
        "image_dtype": "uint8",
        "attribute_names": list(ATTRIBUTE_NAMES) if source.has_attributes else [],
        "has_attributes": bool(source.has_attributes),
        "has_identities": identities is not None,
        "crop": None,
        "filter": None,
        **source.describe(),
        "content_hash": "sha256:" + digest.hexdigest(),
        "files": files,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "prepare_seconds": round(seconds, 3),
        "command": command,
    }
    mpath = os.path.join(tmp, MANIFEST)
    with open(mpath, "w") as f:
      json.dump(manifest, f, indent=2)
      f.write("\n")
      f.flush()
      os.fsync(f.fileno())
    _publish(tmp, out)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return manifest


def _iter_chunks(source, bounds, workers):
  if workers <= 0:
    _init_worker(source)
    try:
      for bd in bounds:
        yield _load_chunk(bd)
    finally:
      _init_worker(None)
    return
  ctx = multiprocessing.get_context("spawn")  # no fork after threads/JAX
  with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                              initargs=(source,)) as pool:
    window = 2 * workers  # bounded read-ahead keeps memory flat
    pending = [pool.submit(_load_chunk, bd) for bd in bounds[:window]]
    nxt = len(pending)
    while pending:
      result = pending.pop(0).result()
      if nxt < len(bounds):
        pending.append(pool.submit(_load_chunk, bounds[nxt]))
        nxt += 1
      yield result


def _publish(tmp: str, out: str):
  """Atomically moves the finished cache `tmp` to `out`."""
  if os.path.isdir(out) and os.listdir(out):
    old = tempfile.mkdtemp(prefix=os.path.basename(out) + ".old-", dir=os.path.dirname(out))
    os.rmdir(old)
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
  else:
    if os.path.isdir(out):
      os.rmdir(out)
    os.replace(tmp, out)

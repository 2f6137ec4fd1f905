"""The training loader: shuffled, sharded, resumable batches on grain.

Per-example Python work cannot feed 100k images/s on two cores, so the grain
pipeline's elements are whole batches: element `k` is global batch `k` (epoch
`k // steps_per_epoch`), built by one vectorised `source.get_batch` gather of
that batch's indices (sorted, so a memory-mapped cache is read in order).

  * Order: epoch `e` is `np.random.default_rng([seed, e]).permutation(N)`;
    global batch `j` of the epoch is slice `[j*B, (j+1)*B)` (the remainder is
    dropped); deterministic from the seed and reshuffled every epoch.
  * Sharding: process `p` of `P` takes rows `[p*B/P, (p+1)*B/P)` of each global
    batch, so the shards are disjoint and together cover the epoch, and a
    global batch is the same whatever the number of processes.
  * Flip: example `i` in epoch `e` is mirrored iff a hash of (seed, e, i) says
    so, independent of sharding and batch order.
  * State: `{"next_batch": k, ...}`, small and JSON-serialisable; `set_state`
    rebuilds the grain pipeline starting at batch k, so a restored iterator
    yields exactly the batch the uninterrupted one would have.

Batches are uint8 [B, H, W, 3] + bool [B, 40]; scale images to [-1, 1] on the
device with `to_float`.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from vid_jax.data import cache
from vid_jax.data import sources as sources_lib
from vid_jax.errors import UserError

STATE_VERSION = 1
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(x: np.ndarray) -> np.ndarray:
  with np.errstate(over="ignore"):
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return x ^ (x >> np.uint64(31))


class _BatchFn:
  """Global batch index -> this process's batch. Picklable (grain workers)."""

  def __init__(self, source, *, seed, steps_per_epoch, global_batch_size, process_index, process_count,
               shuffle, flip):
    self.source = source
    self.seed = seed
    self.steps_per_epoch = steps_per_epoch
    self.global_batch_size = global_batch_size
    self.local_batch_size = global_batch_size // process_count
    self.process_index = process_index
    self.shuffle = shuffle
    self.flip = flip
    self._perms: dict[int, np.ndarray] = {}
    self._lock = threading.Lock()

  def __getstate__(self):
    state = dict(self.__dict__)
    state["_perms"] = {}
    del state["_lock"]
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._lock = threading.Lock()

  def _permutation(self, epoch: int) -> np.ndarray:
    with self._lock:
      perm = self._perms.get(epoch)
    if perm is None:
      perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.source))
      with self._lock:
        if len(self._perms) >= 3:  # keep the current epoch and its neighbours
          self._perms.pop(min(self._perms))
        self._perms[epoch] = perm
    return perm

  def indices(self, step: int) -> np.ndarray:
    """Sorted source indices of this process's share of global batch `step`."""
    epoch, j = divmod(int(step), self.steps_per_epoch)
    b, lb = self.global_batch_size, self.local_batch_size
    start = j * b + self.process_index * lb
    if self.shuffle:
      idx = self._permutation(epoch)[start:start + lb]
    else:
      idx = np.arange(start, start + lb)
    return np.sort(idx)

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    idx = self.indices(step)
    batch = self.source.get_batch(idx)
    if self.flip:
      epoch = int(step) // self.steps_per_epoch
      key = _mix64(np.array([self.seed, epoch], np.uint64))
      h = _mix64(key[0] ^ _mix64(key[1] ^ idx.astype(np.uint64)))
      mask = (h >> np.uint64(63)).astype(bool)  # [B]
      images = batch["image"]
      if not (images.flags.writeable and images.flags.c_contiguous):
        images = np.array(images, order="C")
      # Whole 3-byte pixels per element: ~2x faster than reversing [..., W, 3].
      pixels = images.view(np.dtype((np.void, 3)))[..., 0]  # [B, H, W]
      pixels[mask] = pixels[mask][:, :, ::-1]
      batch = dict(batch, image=images)
    return batch


class Loader:
  """Infinite iterator over this process's share of global batches.

  `next(loader)` -> {"image": uint8 [B/P, H, W, 3], "attributes": bool [B/P, 40]}.
  """

  def __init__(self, source: sources_lib.Source, *, global_batch_size: int, seed: int, shuffle: bool = True,
               flip: bool = False, process_index: int | None = None, process_count: int | None = None,
               num_threads: int | None = None, prefetch: int = 4, worker_count: int = 0):
    if process_index is None or process_count is None:
      import jax  # pylint: disable=g-import-not-at-top  # heavy for the host-side data package: see _build
      process_index = jax.process_index() if process_index is None else process_index
      process_count = jax.process_count() if process_count is None else process_count
    n = len(source)
    if not isinstance(global_batch_size, (int, np.integer)) or global_batch_size < 1:
      raise UserError(f"global batch size {global_batch_size!r}: must be a "
                      f"positive integer")
    if global_batch_size % process_count:
      raise UserError(f"global batch size {global_batch_size} is not divisible "
                      f"by the {process_count} processes")
    if not 0 <= process_index < process_count:
      raise UserError(f"process_index {process_index} not in [0, {process_count})")
    if global_batch_size > n:
      raise UserError(f"{source.spec} has {n} examples, fewer than one global "
                      f"batch of {global_batch_size}; lower the batch size or "
                      f"use more data")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
      raise UserError(f"data seed {seed!r}: must be a non-negative integer")
    self.source = source
    self.seed = int(seed)
    self.global_batch_size = int(global_batch_size)
    self.process_index, self.process_count = int(process_index), int(process_count)
    self.local_batch_size = self.global_batch_size // self.process_count
    self.steps_per_epoch = n // self.global_batch_size
    self.shuffle, self.flip = bool(shuffle), bool(flip)
    if num_threads is None:
      # Cache gathers are memcpy-bound: one reader thread overlaps them with
      # the training step. Decoding sources (Pillow releases the GIL) use more.
      num_threads = 1 if _is_cache(source) else 2
    self._num_threads, self._prefetch = int(num_threads), int(prefetch)
    self._worker_count = worker_count
    self._fn = _BatchFn(source, seed=self.seed, steps_per_epoch=self.steps_per_epoch,
                        global_batch_size=self.global_batch_size, process_index=self.process_index,
                        process_count=self.process_count, shuffle=self.shuffle, flip=self.flip)
    self._next_batch = 0
    self._it = None

  # -- iteration --------------------------------------------------------------

  def _build(self):
    # grain (and the jax it imports) load here, not at the top: vid_jax.data is host-side, and
    # the processes that import it without needing either (tools/prepare_data.py's spawned
    # workers, every config through vid_jax.config) would each pay some 3-5 s for them
    # (prepare_data of 2,000 avatars: 2.4 s with them here, 5.4 s with them at the top).
    import grain  # pylint: disable=g-import-not-at-top
    ds = grain.MapDataset.range(self._next_batch, self._next_batch + 2**62)
    ds = ds.map(self._fn).to_iter_dataset(
        grain.ReadOptions(num_threads=self._num_threads, prefetch_buffer_size=self._prefetch))
    if self._worker_count > 0:
      ds = ds.mp_prefetch(
          grain.MultiprocessingOptions(num_workers=self._worker_count, per_worker_buffer_size=2))
    return iter(ds)

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if self._it is None:
      self._it = self._build()
    batch = next(self._it)
    self._next_batch += 1
    return batch

  def close(self):
    if self._it is not None:
      close = getattr(self._it, "close", None)
      if close is not None:
        close()
      self._it = None

  @property
  def epoch(self) -> int:
    """Epoch of the next batch."""
    return self._next_batch // self.steps_per_epoch

  def batch_indices(self, step: int) -> np.ndarray:
    """Source indices in this process's share of global batch `step` (sorted)."""
    return self._fn.indices(step)

  # -- checkpointing ----------------------------------------------------------

  def get_state(self) -> dict[str, Any]:
    """JSON-serialisable state; `set_state` of it resumes at the next batch."""
    return {
        "version": STATE_VERSION,
        "next_batch": self._next_batch,
        "seed": self.seed,
        "global_batch_size": self.global_batch_size,
        "num_examples": len(self.source),
        "shuffle": self.shuffle,
        "flip": self.flip,
        "source": self.source.spec,
    }

  def set_state(self, state: dict[str, Any]) -> None:
    """Resumes from `get_state()` output (the process count may differ)."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
      raise UserError(f"data iterator state {state!r:.200}: not a vid_jax "
                      f"loader state of version {STATE_VERSION}")
    mine = self.get_state()
    diff = [
        f"{k}={state.get(k)!r} (now {mine[k]!r})" for k in ("seed", "global_batch_size", "num_examples",
                                                            "shuffle", "flip") if state.get(k) != mine[k]
    ]
    if diff:
      raise UserError("the saved data iterator state does not match this "
                      "loader: " + ", ".join(diff) + "; resume with the same "
                      "data settings or start a new workdir")
    self.close()
    self._next_batch = int(state["next_batch"])


def _is_cache(source) -> bool:
  return isinstance(source, cache.CacheSource)


def make_loader(source: sources_lib.Source, *, global_batch_size: int, seed: int, shuffle: bool = True,
                flip: bool = False, process_index: int | None = None, process_count: int | None = None,
                **kwargs) -> Loader:
  """Returns an infinite, resumable iterator of this process's batches.

  Args:
    source: a `Source` (see `make_source`).
    global_batch_size: batch size summed over processes.
    seed: shuffle / flip seed.
    shuffle: reshuffle every epoch (else sequential order).
    flip: random horizontal flips.
    process_index: this process (default jax.process_index()).
    process_count: number of processes (default jax.process_count()).
    **kwargs: `num_threads`, `prefetch` (batches), `worker_count` (grain
      worker processes, for slow live sources).

  Returns:
    A `Loader`: `next()` gives {"image": uint8 [B/P, H, W, 3],
    "attributes": bool [B/P, 40]}; `get_state()` / `set_state()`.
  """
  return Loader(source, global_batch_size=global_batch_size, seed=seed, shuffle=shuffle, flip=flip,
                process_index=process_index, process_count=process_count, **kwargs)


def to_float(images, dtype=None):
  """uint8 images -> float in [-1, 1] (jittable; run it on the device).

  Args:
    images: uint8 [..., H, W, 3] (numpy or jax).
    dtype: output dtype (default float32).

  Returns:
    [..., H, W, 3] in [-1, 1].
  """
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top  # heavy for the data package: see Loader._build
  dtype = dtype or jnp.float32
  return jnp.asarray(images).astype(dtype) * (2.0 / 255.0) - 1.0


def to_uint8(images):
  """Float images in [-1, 1] -> uint8 (numpy), e.g. for sample grids."""
  x = np.asarray(images, np.float32)
  return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)

"""Measures how many images/s the training loader delivers.

  python tools/bench/data_loader.py --source=avatars --cache=/data/avatars64 --batch=256 --seconds=10
  python tools/bench/data_loader.py --source=folder:/photos --batch=256 --seconds=10
  python tools/bench/data_loader.py --source=avatars --batch=64 --seconds=10   # live rendering

Prints one JSON line with images_per_sec (and what else was measured). The
loader yields uint8 batches exactly as training consumes them.
"""
import json
import os
import sys
import time

from absl import app
from absl import flags

from vid_jax import data

_SOURCE = flags.DEFINE_string("source", "avatars", "avatars | tfds:celeb_a | folder:PATH")
_CACHE = flags.DEFINE_string("cache", None, "Prepared cache directory to read.")
_SIZE = flags.DEFINE_integer("size", 64, "Image side.")
_BATCH = flags.DEFINE_integer("batch", 256, "Global batch size.")
_SECONDS = flags.DEFINE_float("seconds", 10.0, "Measuring time.")
_LIMIT = flags.DEFINE_integer("limit", None, "num_examples for the source.")
_SEED = flags.DEFINE_integer("seed", 0, "Source and loader seed.")
_FLIP = flags.DEFINE_bool("flip", False, "Random horizontal flips.")
_THREADS = flags.DEFINE_integer("threads", None, "grain reader threads.")
_WORKERS = flags.DEFINE_integer("workers", 0, "grain worker processes.")


def main(argv):
  del argv
  try:
    t0 = time.perf_counter()
    src = data.make_source(_SOURCE.value, size=_SIZE.value, seed=_SEED.value, num_examples=_LIMIT.value,
                           cache_dir=_CACHE.value)
    build_s = time.perf_counter() - t0
    it = data.make_loader(src, global_batch_size=_BATCH.value, seed=_SEED.value, flip=_FLIP.value,
                          process_index=0, process_count=1, num_threads=_THREADS.value,
                          worker_count=_WORKERS.value)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  t1 = time.perf_counter()
  next(it)  # warm-up: threads, first epoch permutation, page cache
  first_s = time.perf_counter() - t1
  n, checksum = 0, 0
  start = time.perf_counter()
  while time.perf_counter() - start < _SECONDS.value:
    batch = next(it)
    n += batch["image"].shape[0]
    checksum += int(batch["image"][0, 0, 0, 0])  # touch the data
  secs = time.perf_counter() - start
  it.close()
  print(
      json.dumps({
          "images_per_sec": round(n / secs, 1),
          "batches_per_sec": round(n / _BATCH.value / secs, 2),
          "images": n,
          "seconds": round(secs, 2),
          "batch": _BATCH.value,
          "size": src.size,
          "source": src.spec,
          "cache": _CACHE.value,
          "num_examples": len(src),
          "flip": _FLIP.value,
          "threads": _THREADS.value,
          "workers": _WORKERS.value,
          "source_build_seconds": round(build_s, 2),
          "first_batch_seconds": round(first_s, 3),
          "cpu_count": os.cpu_count(),
          "loadavg_1m": os.getloadavg()[0]
      }))


if __name__ == "__main__":
  app.run(main)

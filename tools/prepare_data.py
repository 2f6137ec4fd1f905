"""Decodes, crops and resizes a data source once into a packed uint8 cache.

  python tools/prepare_data.py --source=avatars --size=64 --out=/data/avatars64
  python tools/prepare_data.py --source=tfds:celeb_a --size=64 --out=/data/celeba64
  python tools/prepare_data.py --source=folder:/photos --size=128 --out=/data/photos128

Train from it with `data.cache_dir=DIR` (same --source/--size). Format:
docs/data.md. Prints one JSON line: count, seconds, images_per_sec.
"""
import json
import os
import sys

from absl import app
from absl import flags

from vid_jax import data
from vid_jax.data import cache
from vid_jax.data import cache_writer
from vid_jax.errors import UserError

_SOURCE = flags.DEFINE_string("source", "avatars", "avatars | tfds:celeb_a | folder:PATH")
_SIZE = flags.DEFINE_integer("size", 64, "Output image side in pixels.")
_OUT = flags.DEFINE_string("out", None, "Cache directory to create.")
_LIMIT = flags.DEFINE_integer(
    "limit", None, "Number of images (avatars: dataset size, default 50000; "
    "others: at most this many).")
_SEED = flags.DEFINE_integer("seed", 0, "Avatar dataset seed.")
_SPLIT = flags.DEFINE_string("split", "train", "TFDS split.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data dir.")
_ON_BAD_FILE = flags.DEFINE_enum("on_bad_file", "skip", ["skip", "error"],
                                 "Folders: skip (and count) or fail on bad files.")
_WORKERS = flags.DEFINE_integer("workers", None, "Worker processes (default: number of CPUs; 0: none).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing --out.")
_IF_STALE = flags.DEFINE_bool(
    "if_stale", False, "Only (re)build --out when it is not a complete cache of this code's version "
    "(an older version is replaced, with a message); otherwise say it is current and stop.")
_VERIFY = flags.DEFINE_bool("verify", False, "Re-read and check the content hash.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.")


def main(argv):
  del argv
  try:
    if not _OUT.value:
      raise UserError("--out=DIR is required")
    src = data.make_source(_SOURCE.value, size=_SIZE.value, seed=_SEED.value, on_bad_file=_ON_BAD_FILE.value,
                           num_examples=_LIMIT.value, split=_SPLIT.value, data_dir=_DATA_DIR.value)
    overwrite = _OVERWRITE.value
    if _IF_STALE.value and os.path.isdir(_OUT.value) and os.listdir(_OUT.value):
      try:
        m = cache.read_manifest(_OUT.value)
        print(f"{_OUT.value} is a complete cache of version {m['version']} ({m['count']} images); "
              "nothing to do")
        return
      except UserError as e:
        print(f"rebuilding {_OUT.value}: {e}", file=sys.stderr)
        overwrite = True
    workers = _WORKERS.value
    if workers is None:
      workers = os.cpu_count() or 1
    command = cache.prepare_command(_SOURCE.value, size=_SIZE.value, out=_OUT.value, seed=_SEED.value,
                                    limit=_LIMIT.value, split=_SPLIT.value)
    m = cache_writer.write_cache(src, _OUT.value, overwrite=overwrite,
                                 workers=min(workers,
                                             max(1,
                                                 len(src) // 256)), progress=_PROGRESS.value, command=command)
    if _VERIFY.value:
      cache.verify_cache(_OUT.value)
  except ValueError as e:  # UserError included
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  secs = max(m["prepare_seconds"], 1e-9)
  print(
      json.dumps({
          "out": os.path.abspath(_OUT.value),
          "source": m["source"],
          "count": m["count"],
          "size": m["size"],
          "skipped": m.get("skipped", 0),
          "workers": workers,
          "seconds": round(secs, 3),
          "images_per_sec": round(m["count"] / secs, 1),
          "content_hash": m["content_hash"]
      }))


if __name__ == "__main__":
  app.run(main)

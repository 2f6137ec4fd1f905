"""Metrics to TensorBoard and WORKDIR/metrics.jsonl; sample grids to WORKDIR/samples/*.png.

WORKDIR may be a URL (gs://bucket/run): files go through etils.epath (vid_jax/paths.py).
"""
import importlib.util
import io
import json
import math

import numpy as np
from absl import logging
from PIL import Image
from tensorboardX import SummaryWriter

from vid_jax import paths
from vid_jax.data.loader import to_uint8  # noqa: F401  (re-exported for callers)


def make_grid(images, ncols: int | None = None, pad: int = 2):
  """uint8 [N, H, W, 3] -> one uint8 [H', W', 3] image, row-major, white padding."""
  images = np.asarray(images)
  n, h, w, c = images.shape
  ncols = ncols or int(math.ceil(math.sqrt(n)))
  nrows = int(math.ceil(n / ncols))
  grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, np.uint8)
  for i in range(n):
    r, q = divmod(i, ncols)
    y, x = pad + r * (h + pad), pad + q * (w + pad)
    grid[y:y + h, x:x + w] = images[i]
  return grid


def save_png(path, image_uint8) -> None:
  """Writes uint8 [H, W, 3] to `path` (local or a URL), in the format its extension names (PNG
  when it names none); the bytes are those PIL writes to a local file of that name."""
  path = paths.workdir_file(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  buf = io.BytesIO()
  Image.fromarray(np.asarray(image_uint8)).save(
      buf, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
  path.write_bytes(buf.getvalue())


# tensorboardX writes event files to local folders, and to gs:// and s3:// through its own writers
# (which need these packages); any other URL it would take for a local folder name.
_EVENT_SCHEMES = {"gs://": "google.cloud.storage", "s3://": "boto3"}


def _importable(module: str) -> bool:
  try:
    return importlib.util.find_spec(module) is not None
  except ModuleNotFoundError:  # a parent package (google.cloud) is missing
    return False


def event_writer(workdir: str) -> SummaryWriter | None:
  """A tensorboardX SummaryWriter on `workdir`, or None (logged) where tensorboardX cannot write."""
  workdir = str(workdir)
  if paths.has_scheme(workdir):
    module = next((m for prefix, m in _EVENT_SCHEMES.items() if workdir.startswith(prefix)), None)
    if module is None or not _importable(module):
      need = f" without the {module} package" if module else ""
      logging.warning(
          "no TensorBoard event files: tensorboardX cannot write to %s%s (metrics.jsonl "
          "and the sample grids are written)", workdir, need)
      return None
  return SummaryWriter(logdir=workdir)


class MetricWriter:
  """Writes scalars (TensorBoard + metrics.jsonl) and image grids; a no-op off process 0.

  A local metrics.jsonl is appended to; under a URL (object stores cannot append) the writer keeps
  the file's text and rewrites the whole object at every `scalars` call.
  """

  def __init__(self, workdir: str, *, enabled: bool = True):
    self.workdir = workdir
    self.enabled = enabled
    self._tb = None
    self._jsonl = None
    self._jsonl_path = paths.workdir_file(workdir, "metrics.jsonl")
    self._jsonl_text = None  # the whole file, for a URL workdir
    if enabled:
      paths.workdir_file(workdir).mkdir(parents=True, exist_ok=True)
      self._tb = event_writer(workdir)
      if paths.has_scheme(workdir):
        self._jsonl_text = self._jsonl_path.read_text(encoding="utf-8") if self._jsonl_path.exists() else ""
      else:
        self._jsonl = self._jsonl_path.open("a", encoding="utf-8")

  def scalars(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    clean = {k: float(v) for k, v in scalars.items()}
    if self._tb is not None:
      for k, v in clean.items():
        self._tb.add_scalar(k, v, step)
    line = json.dumps({"step": int(step), **clean}) + "\n"
    if self._jsonl is None:
      self._jsonl_text += line
      self._jsonl_path.write_text(self._jsonl_text, encoding="utf-8")
    else:
      self._jsonl.write(line)
      self._jsonl.flush()

  def image_grid(self, step: int, images_uint8, *, name: str = "samples") -> str | None:
    """Saves WORKDIR/<name>/step_NNNNNN.png and a TensorBoard image; returns the path."""
    if not self.enabled:
      return None
    grid = make_grid(images_uint8)
    path = str(paths.workdir_file(self.workdir, name, f"step_{int(step):06d}.png"))
    save_png(path, grid)
    if self._tb is not None:
      self._tb.add_image(name, grid, step, dataformats="HWC")
    return path

  def flush(self) -> None:
    if self._tb is not None:
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
    if self._jsonl is not None:
      self._jsonl.close()

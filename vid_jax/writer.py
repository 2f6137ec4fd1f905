"""Metrics to TensorBoard and WORKDIR/metrics.jsonl; sample grids to WORKDIR/samples/*.png."""
import json
import math
import os

import numpy as np
from PIL import Image
from tensorboardX import SummaryWriter

from vid_jax.data.loader import to_uint8  # pylint: disable=unused-import  (re-exported for callers)


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


def save_png(path: str, image_uint8) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(np.asarray(image_uint8)).save(path)


class MetricWriter:
  """Writes scalars (TensorBoard + metrics.jsonl) and image grids; a no-op off process 0."""

  def __init__(self, workdir: str, *, enabled: bool = True):
    self.workdir = workdir
    self.enabled = enabled
    self._tb = None
    self._jsonl = None
    if enabled:
      os.makedirs(workdir, exist_ok=True)
      self._tb = SummaryWriter(logdir=workdir)
      self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")

  def scalars(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    clean = {k: float(v) for k, v in scalars.items()}
    for k, v in clean.items():
      self._tb.add_scalar(k, v, step)
    self._jsonl.write(json.dumps({"step": int(step), **clean}) + "\n")
    self._jsonl.flush()

  def image_grid(self, step: int, images_uint8, *, name: str = "samples") -> str | None:
    """Saves WORKDIR/<name>/step_NNNNNN.png and a TensorBoard image; returns the path."""
    if not self.enabled:
      return None
    grid = make_grid(images_uint8)
    path = os.path.join(self.workdir, name, f"step_{int(step):06d}.png")
    save_png(path, grid)
    self._tb.add_image(name, grid, step, dataformats="HWC")
    return path

  def flush(self) -> None:
    if self.enabled:
      self._tb.flush()

  def close(self) -> None:
    if self.enabled:
      self._tb.close()
      self._jsonl.close()

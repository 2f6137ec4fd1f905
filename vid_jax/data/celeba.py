"""The `tfds:celeb_a` source: CelebA (aligned) through `tfds.data_source` (ArrayRecord).

Every image is cropped to the face box `CELEBA_CROP_BOX` and resized (`vid_jax.data.images`).
"""
from __future__ import annotations

import os

from absl import logging
import numpy as np
from PIL import Image

from vid_jax.data.attributes import ATTRIBUTE_NAMES, NUM_ATTRIBUTES
from vid_jax.data.images import RESIZE_FILTER, resize
from vid_jax.data.sources import Source
from vid_jax.errors import UserError

# CelebA's aligned images are 178x218. The face box is the 128x128 square
# centred at (x=89, y=121), the crop of Karras et al.'s `create_celeba` in the
# progressive-GAN / StyleGAN dataset_tool. (left, upper, right, lower).
CELEBA_IMAGE_SHAPE = (218, 178, 3)
CELEBA_CROP_BOX = (25, 57, 153, 185)
CELEBA_CROP = "box (left=25, top=57, right=153, bottom=185): 128x128 centred at (89, 121)"


def _celeba_prepare_help(data_dir: str) -> str:
  return (f"CelebA is not prepared in {data_dir} (ArrayRecord format is needed). "
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

  def __init__(self, *, size: int, split: str = "train", data_dir: str | None = None,
               num_examples: int | None = None):
    self.spec = "tfds:celeb_a"
    self.size = size
    self.split = split
    self.data_dir = os.path.expanduser(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets")
    self._ds = None
    n = len(self._data_source())
    self._n = n if num_examples is None else min(n, num_examples)

  def _data_source(self):
    if self._ds is None:
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
      try:
        self._ds = tfds.data_source("celeb_a", split=self.split, data_dir=self.data_dir, download=False)
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
        [int(np.asarray(ds[int(i)]["identity"]["Identity_No"])) for i in np.asarray(indices).reshape(-1)],
        np.int32)

  def attribute_marginals(self):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    ds = self._data_source()  # the clear error if not prepared
    try:  # labels only: skip JPEG decoding (seconds instead of minutes)
      fast = tfds.data_source("celeb_a", split=self.split, data_dir=self.data_dir, download=False,
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
    return {"crop": CELEBA_CROP, "filter": RESIZE_FILTER, "split": self.split, "tfds_data_dir": self.data_dir}


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
  return resize(Image.fromarray(image[t:b, l:r]), size)

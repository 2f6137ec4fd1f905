"""How far apart images are: pairwise RMS distance, and its value among real images that share
their attributes (the reference of `diversity/same_attributes`)."""
from __future__ import annotations

import numpy as np

# The diversity metrics look at PER_CONDITION images for each of (up to) CONDITIONS attribute vectors.
CONDITIONS = 64
PER_CONDITION = 8


def pairwise_rms(images) -> float:
  """Mean over all pairs of images of their RMS difference on the [-1, 1] scale.

  Args:
    images: uint8 [k, H, W, 3] (read as x / 127.5 - 1) or float [k, H, W, 3] in [-1, 1]; k >= 2.
  """
  x = np.asarray(images)
  x = (x.astype(np.float64) / 127.5 - 1.0) if x.dtype == np.uint8 else x.astype(np.float64)
  if len(x) < 2:
    raise ValueError(f"pairwise_rms needs at least 2 images, got {len(x)}")
  x = x.reshape(len(x), -1)
  i, j = np.triu_indices(len(x), 1)
  return float(np.mean(np.sqrt(np.mean((x[i] - x[j])**2, axis=1))))


def grouped_pairwise_rms(images, num_groups: int) -> float:
  """Mean over `num_groups` equal consecutive groups of images [G * k, H, W, 3] of their pairwise_rms."""
  images = np.asarray(images)
  groups = images.reshape((num_groups, len(images) // num_groups) + images.shape[1:])
  return float(np.mean([pairwise_rms(g) for g in groups]))


def real_same_attribute_diversity(images_uint8, attrs, *, per_condition: int = PER_CONDITION,
                                  max_conditions: int = CONDITIONS) -> float | None:
  """The reference of generated same-attribute diversity: real images that share every attribute value.

  Groups the images uint8 [N, H, W, 3] by their attribute vector ([N, A], the run's attributes)
  and averages `pairwise_rms` over up to `max_conditions` groups with >= 2 images (the largest
  first; at most `per_condition` images each). None when no two images share their attributes.
  """
  attrs = np.asarray(attrs) > 0.5
  _, inverse, counts = np.unique(attrs, axis=0, return_inverse=True, return_counts=True)
  inverse = inverse.reshape(-1)
  groups = [g for g in np.argsort(-counts, kind="stable")[:max_conditions] if counts[g] >= 2]
  if not groups:
    return None
  images = np.asarray(images_uint8)
  return float(np.mean([pairwise_rms(images[np.flatnonzero(inverse == g)[:per_condition]]) for g in groups]))

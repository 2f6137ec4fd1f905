"""The `avatars` source: the built-in procedural avatars (`vid_jax.data.avatars`) as a `Source`."""
from __future__ import annotations

import numpy as np

from vid_jax.data import avatar_attributes
from vid_jax.data import avatars
from vid_jax.data.sources import Source

DEFAULT_AVATAR_COUNT = 50_000
AVATAR_FILTER = "drawn at max(2, ceil(256 / size))x, PIL LANCZOS reducing_gap=2.0"


class AvatarSource(Source):
  """The built-in procedural avatars; item i is a pure function of (seed, i)."""

  def __init__(self, *, size: int, seed: int = 0, num_examples: int = DEFAULT_AVATAR_COUNT):
    self.spec = "avatars"
    self.size = size
    self.seed = seed
    self._n = num_examples

  def __len__(self):
    return self._n

  def _load(self, i):
    return avatars.render_index(i, seed=self.seed, size=self.size)

  def get_batch(self, indices):
    indices = np.asarray(indices, np.int64).reshape(-1)
    for i in indices:
      self._index(i)
    images, attributes = avatars.render_batch(indices, seed=self.seed, size=self.size)
    return {"image": images, "attributes": attributes}

  def attribute_marginals(self):
    return avatar_attributes.attribute_marginals(self._n, seed=self.seed)

  def describe(self):
    return {
        "crop": "none (drawn square)",
        "filter": AVATAR_FILTER,
        "seed": self.seed,
        "drawn_attributes": list(avatar_attributes.DRAWN_ATTRIBUTES)
    }

"""Tests of the avatars source (vid_jax/data/avatar_source.py)."""
import numpy as np
import pytest

from vid_jax import data
from vid_jax.data import avatar_attributes, avatar_source, avatars
from vid_jax.data.attributes import ATTRIBUTE_NAMES


def test_avatar_source_is_the_rendered_dataset():
  src = data.make_source("avatars", size=16, seed=3, num_examples=6)
  assert isinstance(src, avatar_source.AvatarSource) and len(src) == 6 and src.spec == "avatars"
  assert len(data.make_source("avatars", size=16)) == avatar_source.DEFAULT_AVATAR_COUNT
  batch = src.get_batch([5, 0])
  images, labels = avatars.render_batch([5, 0], seed=3, size=16)
  np.testing.assert_array_equal(batch["image"], images)
  np.testing.assert_array_equal(batch["attributes"], labels)
  np.testing.assert_array_equal(src[-1]["image"], images[0])
  np.testing.assert_array_equal(src.attribute_marginals(), avatar_attributes.attribute_marginals(6, seed=3))
  assert src.describe()["drawn_attributes"] == list(avatar_attributes.DRAWN_ATTRIBUTES)
  with pytest.raises(IndexError):
    src.get_batch([0, 6])


def test_avatar_source_interface():
  src = data.make_source("avatars", size=16, seed=2, num_examples=10)
  assert len(src) == 10 and src.has_attributes
  assert src.attribute_names == ATTRIBUTE_NAMES
  item = src[3]
  batch = src.get_batch([3, 5])
  assert batch["image"].shape == (2, 16, 16, 3) and batch["attributes"].shape == (2, 40)
  np.testing.assert_array_equal(batch["image"][0], item["image"])
  np.testing.assert_array_equal(batch["attributes"][0], item["attributes"])
  assert src.attribute_marginals().shape == (40,)
  assert src.attribute_marginals().dtype == np.float32
  with pytest.raises(IndexError):
    src[10]
  assert len(data.make_source("avatars", size=16)) == 50_000

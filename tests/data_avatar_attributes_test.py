"""Tests of the avatar labels (vid_jax/data/avatar_attributes.py)."""
import numpy as np

from vid_jax import data
from vid_jax.data import avatar_attributes
from vid_jax.data.attributes import ATTRIBUTE_INDEX, ATTRIBUTE_NAMES

REQUIRED = ("Male", "Smiling", "Eyeglasses", "Wearing_Hat", "Black_Hair", "Blond_Hair", "Brown_Hair",
            "Gray_Hair", "Bald", "Bangs", "Pale_Skin", "Mustache", "No_Beard", "Wearing_Lipstick",
            "Heavy_Makeup", "Young")


def test_required_attributes_are_drawn_and_partition():
  assert set(REQUIRED) <= set(avatar_attributes.DRAWN_ATTRIBUTES)
  assert set(avatar_attributes.DRAWN_ATTRIBUTES) | set(
      avatar_attributes.UNDRAWN_ATTRIBUTES) == set(ATTRIBUTE_NAMES)
  assert not set(avatar_attributes.DRAWN_ATTRIBUTES) & set(avatar_attributes.UNDRAWN_ATTRIBUTES)


def test_labels_match_sample_attributes_and_undrawn_are_false():
  labels = avatar_attributes.sample_attributes(np.arange(500), seed=11)
  assert labels.shape == (500, 40)
  for i in (0, 123, 499):
    _, li = data.render_index(i, seed=11, size=16)
    assert np.array_equal(li, labels[i])
  undrawn = [ATTRIBUTE_INDEX[n] for n in avatar_attributes.UNDRAWN_ATTRIBUTES]
  assert not labels[:, undrawn].any()


def test_attributes_independent_with_documented_rates():
  labels = avatar_attributes.sample_attributes(np.arange(40_000), seed=0).astype(np.float64)
  drawn = [ATTRIBUTE_INDEX[n] for n in avatar_attributes.DRAWN_ATTRIBUTES]
  rates = labels[:, drawn].mean(0)
  want = np.array([avatar_attributes.ATTRIBUTE_PROBABILITIES[n] for n in avatar_attributes.DRAWN_ATTRIBUTES])
  np.testing.assert_allclose(rates, want, atol=0.015)
  corr = np.corrcoef(labels[:, drawn].T)
  off = corr[~np.eye(len(drawn), dtype=bool)]
  assert np.abs(off).max() < 0.03
  np.testing.assert_allclose(avatar_attributes.attribute_marginals(40_000, seed=0), labels.mean(0), atol=1e-6)

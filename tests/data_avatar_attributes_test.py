"""Tests of the avatar labels (vid_jax/data/avatar_attributes.py)."""
import numpy as np

from vid_jax import data
from vid_jax.data import avatar_attributes
from vid_jax.data.attributes import ATTRIBUTE_INDEX, ATTRIBUTE_NAMES, HAIR_COLOURS, exclusive_request

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


def test_attributes_independent_with_documented_rates_and_one_hair_colour():
  labels = avatar_attributes.sample_attributes(np.arange(40_000), seed=0).astype(np.float64)
  drawn = [ATTRIBUTE_INDEX[n] for n in avatar_attributes.DRAWN_ATTRIBUTES]
  rates = labels[:, drawn].mean(0)
  want = np.array([avatar_attributes.ATTRIBUTE_PROBABILITIES[n] for n in avatar_attributes.DRAWN_ATTRIBUTES])
  np.testing.assert_allclose(rates, want, atol=0.015)
  # Independent pairs, except two hair colours: exclusive (at most one per avatar).
  hair = [ATTRIBUTE_INDEX[n] for n in HAIR_COLOURS]
  assert labels[:, hair].sum(1).max() == 1
  np.testing.assert_allclose((labels[:, hair].sum(1) == 0).mean(), 0.2, atol=0.015)  # another colour
  corr = np.corrcoef(labels[:, drawn].T)
  both_hair = np.isin(drawn, hair)[:, None] & np.isin(drawn, hair)[None, :]
  off = corr[~np.eye(len(drawn), dtype=bool) & ~both_hair]
  assert np.abs(off).max() < 0.03
  np.testing.assert_allclose(avatar_attributes.attribute_marginals(40_000, seed=0), labels.mean(0), atol=1e-6)


def test_a_request_for_several_hair_colours_keeps_the_first():
  wanted, unwanted, note = exclusive_request(("Smiling", "Blond_Hair", "Black_Hair"), ("Male",))
  assert wanted == ("Smiling", "Blond_Hair")
  assert set(unwanted) == {"Male", "Black_Hair", "Brown_Hair", "Gray_Hair"}
  assert "Blond_Hair, Black_Hair" in note and "Blond_Hair is used" in note
  assert exclusive_request(("Smiling",), ("Male",)) == (("Smiling",), ("Male",), None)
  wanted, unwanted, note = exclusive_request(("Gray_Hair",), ())
  assert note is None and set(unwanted) == {"Black_Hair", "Blond_Hair", "Brown_Hair"}

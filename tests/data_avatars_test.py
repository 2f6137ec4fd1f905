"""Tests for the procedural avatar dataset."""
import numpy as np
import pytest

from vid_jax import data
from vid_jax.data import avatars
from vid_jax.data.attributes import ATTRIBUTE_INDEX, ATTRIBUTE_NAMES
from vid_jax.errors import UserError

REQUIRED = ("Male", "Smiling", "Eyeglasses", "Wearing_Hat", "Black_Hair",
            "Blond_Hair", "Brown_Hair", "Gray_Hair", "Bald", "Bangs",
            "Pale_Skin", "Mustache", "No_Beard", "Wearing_Lipstick",
            "Heavy_Makeup", "Young")


def test_required_attributes_are_drawn_and_partition():
  assert set(REQUIRED) <= set(avatars.DRAWN_ATTRIBUTES)
  assert set(avatars.DRAWN_ATTRIBUTES) | set(avatars.UNDRAWN_ATTRIBUTES) == set(
      ATTRIBUTE_NAMES)
  assert not set(avatars.DRAWN_ATTRIBUTES) & set(avatars.UNDRAWN_ATTRIBUTES)


def test_render_index_is_pure_function_of_seed_and_index():
  a, la = data.render_index(7, seed=3, size=32)
  b, lb = data.render_index(7, seed=3, size=32)
  assert a.dtype == np.uint8 and a.shape == (32, 32, 3)
  assert lb.dtype == np.bool_ and lb.shape == (40,)
  assert a.tobytes() == b.tobytes() and np.array_equal(la, lb)
  c, _ = data.render_index(8, seed=3, size=32)
  d, _ = data.render_index(7, seed=4, size=32)
  assert a.tobytes() != c.tobytes() and a.tobytes() != d.tobytes()
  # Random access: a batch in any order gives the same images.
  images, labels = avatars.render_batch([9, 7], seed=3, size=32)
  assert images[1].tobytes() == a.tobytes() and np.array_equal(labels[1], la)


def test_labels_match_sample_attributes_and_undrawn_are_false():
  labels = avatars.sample_attributes(np.arange(500), seed=11)
  assert labels.shape == (500, 40)
  for i in (0, 123, 499):
    _, li = data.render_index(i, seed=11, size=16)
    assert np.array_equal(li, labels[i])
  undrawn = [ATTRIBUTE_INDEX[n] for n in avatars.UNDRAWN_ATTRIBUTES]
  assert not labels[:, undrawn].any()


def test_attributes_independent_with_documented_rates():
  labels = avatars.sample_attributes(np.arange(40_000), seed=0).astype(np.float64)
  drawn = [ATTRIBUTE_INDEX[n] for n in avatars.DRAWN_ATTRIBUTES]
  rates = labels[:, drawn].mean(0)
  want = np.array([avatars.ATTRIBUTE_PROBABILITIES[n]
                   for n in avatars.DRAWN_ATTRIBUTES])
  np.testing.assert_allclose(rates, want, atol=0.015)
  corr = np.corrcoef(labels[:, drawn].T)
  off = corr[~np.eye(len(drawn), dtype=bool)]
  assert np.abs(off).max() < 0.03
  np.testing.assert_allclose(
      avatars.attribute_marginals(40_000, seed=0), labels.mean(0), atol=1e-6)


def _style(seed=0):
  return avatars.sample_style(np.random.default_rng(seed))


def _render(attrs, seed=0, size=64):
  return data.render_avatar(attrs, size=size, style=_style(seed)).astype(np.int32)


def _region(style, size, u0, v0, u1, v1):
  """Boolean mask of a face-relative box (as in avatars._draw)."""
  cx, cy = style.center[0] * size, style.center[1] * size
  fw, fh = style.half_size[0] * size, style.half_size[1] * size
  ys, xs = np.mgrid[0:size, 0:size] + 0.5
  return ((xs >= cx + u0 * fw) & (xs <= cx + u1 * fw) &
          (ys >= cy + v0 * fh) & (ys <= cy + v1 * fh))


@pytest.mark.parametrize("seed", [0, 1])
def test_eyeglasses_change_the_eye_region(seed):
  base = {"Brown_Hair": True}
  diff = np.abs(_render({**base, "Eyeglasses": True}, seed) - _render(base, seed)).sum(-1)
  eyes = _region(_style(seed), 64, -1.05, -0.45, 1.05, 0.2)
  assert diff[eyes].mean() > 8
  assert diff[~eyes].sum() < 0.05 * diff[eyes].sum()


@pytest.mark.parametrize("seed", [0, 1])
def test_hat_changes_the_top(seed):
  base = {"Black_Hair": True, "Male": True}
  diff = np.abs(_render({**base, "Wearing_Hat": True}, seed) - _render(base, seed)).sum(-1)
  st = _style(seed)
  top = _region(st, 64, -1.7, -1.8, 1.7, -0.4)
  assert diff[top].mean() > 20
  below = _region(st, 64, -3, 0.0, 3, 5)
  assert diff[below].sum() == 0


def test_every_drawn_attribute_is_visible_and_undrawn_are_not():
  base = {"Blond_Hair": True}
  ref = _render(base)
  flags = avatars._attribute_flags(base)
  for name in avatars.DRAWN_ATTRIBUTES:
    toggled = _render({**base, name: not flags[name]})
    changed = (np.abs(toggled - ref).sum(-1) > 30).mean()
    assert changed > 0.003, name  # > ~12 pixels of 4096 clearly changed
  for name in avatars.UNDRAWN_ATTRIBUTES:
    assert np.array_equal(_render({**base, name: True}), ref), name


def test_pale_skin_is_paler_than_any_other_tone():
  st = _style(0)
  pale = data.render_avatar({"Pale_Skin": True}, style=st)
  light = data.render_avatar(
      {}, style=avatars.dataclasses.replace(st, skin_t=0.0))
  cheek = _region(st, 64, -0.2, 0.05, 0.2, 0.15)
  assert pale[cheek].mean() > light[cheek].mean() + 15


def test_render_avatar_sizes_and_bad_names():
  for size in (16, 32, 128):
    img = data.render_avatar({"Smiling": True}, size=size, rng_or_seed=1)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
  with pytest.raises(UserError, match="unknown avatar attribute"):
    data.render_avatar({"Eyeglases": True})


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

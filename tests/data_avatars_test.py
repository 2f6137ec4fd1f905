"""Tests of the avatar renderer (vid_jax/data/avatars.py)."""
import dataclasses

import numpy as np
import pytest

from vid_jax import data
from vid_jax.data import avatar_attributes
from vid_jax.data import avatar_style
from vid_jax.data import avatars
from vid_jax.errors import UserError


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


def _style(seed=0):
  return avatar_style.sample_style(np.random.default_rng(seed))


def _render(attrs, seed=0, size=64):
  return data.render_avatar(attrs, size=size, style=_style(seed)).astype(np.int32)


def _region(style, size, u0, v0, u1, v1):
  """Boolean mask of a face-relative box (as in avatars._draw)."""
  cx, cy = style.center[0] * size, style.center[1] * size
  fw, fh = style.half_size[0] * size, style.half_size[1] * size
  ys, xs = np.mgrid[0:size, 0:size] + 0.5
  return ((xs >= cx + u0 * fw) & (xs <= cx + u1 * fw) & (ys >= cy + v0 * fh) & (ys <= cy + v1 * fh))


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
  for name in avatar_attributes.DRAWN_ATTRIBUTES:
    toggled = _render({**base, name: not flags[name]})
    changed = (np.abs(toggled - ref).sum(-1) > 30).mean()
    assert changed > 0.003, name  # > ~12 pixels of 4096 clearly changed
  for name in avatar_attributes.UNDRAWN_ATTRIBUTES:
    assert np.array_equal(_render({**base, name: True}), ref), name


def test_pale_skin_is_paler_than_any_other_tone():
  st = _style(0)
  pale = data.render_avatar({"Pale_Skin": True}, style=st)
  light = data.render_avatar({}, style=dataclasses.replace(st, skin_t=0.0))
  cheek = _region(st, 64, -0.2, 0.05, 0.2, 0.15)
  assert pale[cheek].mean() > light[cheek].mean() + 15


def test_render_avatar_sizes_and_bad_names():
  for size in (16, 32, 128):
    img = data.render_avatar({"Smiling": True}, size=size, rng_or_seed=1)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
  with pytest.raises(UserError, match="unknown avatar attribute"):
    data.render_avatar({"Eyeglases": True})


def test_several_hair_colours_are_one_blended_colour_not_stripes():
  # Only a caller can ask for two (the dataset draws one): the hair is their blend, one flat colour.
  black, blond = avatars._HAIR_COLOURS["Black_Hair"], avatars._HAIR_COLOURS["Blond_Hair"]
  blend = np.round((np.array(black) + np.array(blond)) / 2)
  base = {"Male": False, "Bangs": True}
  mixed = _render({**base, "Black_Hair": True, "Blond_Hair": True})
  only_black = _render({**base, "Black_Hair": True})
  hair = np.abs(mixed - only_black).sum(-1) > 30  # where the hair is (it changed colour)
  assert hair.mean() > 0.05
  colours = mixed[hair]
  near_blend = np.abs(colours - blend).max(-1) <= 2
  assert near_blend.mean() > 0.6, near_blend.mean()  # the rest: the brows (a darker mix), edges
  assert not (np.abs(colours - np.array(blond)).max(-1) <= 2).any()  # no stripe of either colour
  assert not (np.abs(colours - np.array(black)).max(-1) <= 2).any()

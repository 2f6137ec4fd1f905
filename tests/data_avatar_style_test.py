"""Tests of the avatars' nuisance style (vid_jax/data/avatar_style.py)."""
import dataclasses

import numpy as np
import pytest

from vid_jax.data import avatar_style


def test_style_is_a_pure_function_of_the_generator():
  a = avatar_style.sample_style(np.random.default_rng(5))
  assert a == avatar_style.sample_style(np.random.default_rng(5))
  assert a != avatar_style.sample_style(np.random.default_rng(6))
  rng = np.random.default_rng(5)
  avatar_style.sample_style(rng)
  assert rng.random() == np.random.default_rng(5).random(25)[24]  # draws exactly 24 uniforms
  with pytest.raises(dataclasses.FrozenInstanceError):
    a.skin_t = 0.5  # pylint: disable=assigning-non-slot


def test_style_ranges():
  for seed in range(200):
    st = avatar_style.sample_style(np.random.default_rng(seed))
    for colour in (st.background, st.eye_colour, st.shirt_colour, st.hat_colour, st.glasses_colour,
                   st.makeup_colour, st.lipstick_colour, st.other_hair):
      assert len(colour) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in colour)
    assert 0.45 <= st.center[0] <= 0.55 and 0.46 <= st.center[1] <= 0.54
    assert 0 < st.half_size[0] < st.half_size[1] < 0.5
    assert 0 <= st.skin_t < 1 and 0.95 <= st.hair_volume <= 1.1
    assert st.hat_kind in (0, 1, 2) and isinstance(st.glasses_round, bool)

"""Tests of the colour spaces (vid_jax/refiners/style/image_ops.py) against scikit-image."""
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.refiners import style as st

skimage = pytest.importorskip("skimage")
from skimage import color as skcolor  # pylint: disable=g-import-not-at-top
from skimage import data as skdata  # pylint: disable=g-import-not-at-top


def test_rgb_to_lab_matches_skimage():
  rgb = np.concatenate([
      skdata.astronaut()[::4, ::4].reshape(-1, 3) / 255.0,
      np.random.default_rng(0).random((2000, 3)),
      np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1],
                [0.01, 0.02, 0.03]]),
  ])
  want = skcolor.rgb2lab(rgb)
  got = np.asarray(st.rgb_to_lab(jnp.asarray(rgb * 2 - 1, jnp.float32)))
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


@pytest.mark.filterwarnings("ignore:Conversion from CIE-LAB")
def test_lab_to_rgb_matches_skimage():
  lab = skcolor.rgb2lab(skdata.astronaut()[::8, ::8] / 255.0)
  lab = lab + np.random.default_rng(1).normal(0, 10, lab.shape)  # some clip
  want = skcolor.lab2rgb(lab)
  got = (np.asarray(st.lab_to_rgb(jnp.asarray(lab, jnp.float32))) + 1) / 2
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)

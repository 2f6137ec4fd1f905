"""Tests of the classic looks (vid_jax/refiners/style/filters.py): contract, structure, Reinhard."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from style_photos import astronaut, batch, chelsea
from vid_jax.errors import UserError
from vid_jax.refiners import style as st


def test_reinhard_reproduces_reference_lab_statistics():
  content = jnp.asarray(astronaut(48))[None]
  reference = jnp.asarray(chelsea(40))  # another size on purpose
  out = jax.jit(st.reinhard)(content, reference)
  to_lab = jax.jit(st.rgb_to_lab)
  lab_out = np.asarray(to_lab(out))[0].reshape(-1, 3)
  lab_ref = np.asarray(to_lab(reference)).reshape(-1, 3)
  lab_in = np.asarray(to_lab(content))[0].reshape(-1, 3)
  # The statistics moved (this pair differs a lot) ...
  assert np.abs(lab_in.mean(0) - lab_ref.mean(0)).max() > 5
  # ... onto the reference's.
  np.testing.assert_allclose(lab_out.mean(0), lab_ref.mean(0), atol=1e-3)
  np.testing.assert_allclose(lab_out.std(0), lab_ref.std(0), atol=1e-3)


# ----------------------------------------------------------------------------
# Classic looks.
# ----------------------------------------------------------------------------


def _reinhard_fixed(images):
  return st.reinhard(images, jnp.asarray(chelsea(24)))


FILTERS = {
    "sketch":
        st.sketch,
    "cartoon":
        st.cartoon,
    "pixel_art":
        st.pixel_art,
    "pixel_art_palette":
        functools.partial(st.pixel_art, pixel_size=3,
                          palette=((-1, -1, -1), (1, 1, 1), (1, -0.5, -0.8), (-0.5, -0.5, 0.6))),
    "reinhard":
        _reinhard_fixed,
    "posterize":
        st.posterize,
    "duotone":
        st.duotone,
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_contract(name):
  fn = FILTERS[name]
  jitted = jax.jit(fn)
  images = batch(32)  # [2, 32, 32, 3]
  eager = fn(images)
  assert eager.shape == images.shape
  assert eager.dtype == images.dtype
  out = np.asarray(eager)
  assert np.all(np.isfinite(out))
  assert out.min() >= -1.0 and out.max() <= 1.0
  # It is a look, not the identity.
  assert np.abs(out - np.asarray(images)).mean() > 0.02
  # jit == eager.
  np.testing.assert_allclose(np.asarray(jitted(images)), out, atol=1e-5)
  # batch == per image.
  for i in range(images.shape[0]):
    np.testing.assert_allclose(np.asarray(jitted(images[i:i + 1]))[0], out[i], atol=1e-5)


@pytest.mark.parametrize("name", ["sketch", "posterize", "duotone"])
def test_filter_keeps_bfloat16(name):
  images = batch(16).astype(jnp.bfloat16)
  out = jax.jit(FILTERS[name])(images)
  assert out.dtype == jnp.bfloat16 and out.shape == images.shape


def test_filter_outputs_have_the_promised_structure():
  images = batch(32)
  post = np.asarray(jax.jit(functools.partial(st.posterize, levels=3))(images))
  assert set(np.unique(np.round(post, 5))) <= {-1.0, 0.0, 1.0}
  sk = np.asarray(jax.jit(st.sketch)(images))
  np.testing.assert_array_equal(sk[..., 0], sk[..., 1])  # grey
  pix = np.asarray(jax.jit(functools.partial(st.pixel_art, pixel_size=4, num_colors=5))(images))
  assert len(np.unique(pix[0].reshape(-1, 3), axis=0)) <= 5
  blocks = pix[0].reshape(8, 4, 8, 4, 3)
  assert np.all(blocks == blocks[:, :1, :, :1, :])  # 4x4 blocks
  duo = np.asarray(jax.jit(functools.partial(st.duotone, dark=(-1, -1, 1), light=(1, 1, 1)))(images))
  np.testing.assert_array_equal(duo[..., 2], 1.0)


def test_filter_rejects_bad_images():
  with pytest.raises(UserError, match="float"):
    st.sketch(jnp.zeros((1, 8, 8, 3), jnp.uint8))
  with pytest.raises(UserError, match=r"\[B, H, W, 3\]"):
    st.posterize(jnp.zeros((8, 8, 3)))

"""Tests of neural style transfer (vid_jax/refiners/style/neural.py) with the random extractor."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from style_photos import astronaut, batch, chelsea
from vid_jax.errors import UserError
from vid_jax.refiners import style as st


def test_neural_style_lowers_held_out_style_loss():
  content = jnp.asarray(astronaut(32))[None]
  style = jnp.asarray(chelsea(32))
  out, metrics = st.neural_style(content, style, jax.random.PRNGKey(0), extractor="random:0", steps=50,
                                 content_weight=3.0, return_metrics=True)
  assert out.shape == content.shape and out.dtype == content.dtype
  assert float(jnp.abs(out).max()) <= 1.0
  assert metrics["loss"].shape == (50,)
  assert float(metrics["loss"][-1]) < float(metrics["loss"][0])
  held = "random:1"  # a different random network, never optimised against
  before = st.style_loss_value(content, style, extractor=held)
  after = st.style_loss_value(out, style, extractor=held)
  assert float(after[0]) <= 0.5 * float(before[0])
  # Content stays: much closer to the content than the style image is.
  kept = st.content_loss_value(out, content, extractor=held)
  style_as_content = st.content_loss_value(style[None], content, extractor=held)
  assert float(kept[0]) < 0.5
  assert float(kept[0]) < 0.7 * float(style_as_content[0])


def test_neural_style_batch_and_multi_style_match_single_runs():
  contents = batch(16)
  styles = jnp.stack([jnp.asarray(chelsea(16)), jnp.asarray(astronaut(16))])
  small = st.random_extractor(0, widths=(8, 16))
  kw = dict(extractor=small, steps=10, style_loss="both")
  key = jax.random.PRNGKey(0)
  multi = st.neural_style_multi(contents, styles, key, **kw)
  assert multi.shape == (2,) + contents.shape
  single = st.neural_style(contents[1:], styles[0], key, **kw)
  np.testing.assert_allclose(np.asarray(multi[0, 1:]), np.asarray(single), atol=2e-3)
  # Repeated calls reuse the compiled loop.
  again = st.neural_style(contents[1:], styles[0], key, **kw)
  np.testing.assert_array_equal(np.asarray(again), np.asarray(single))
  fn, _ = st.neural_style_runner(small, steps=10, style_loss="both")
  assert fn._cache_size() == 1  # pylint: disable=protected-access


def test_neural_style_lbfgs():
  content = jnp.asarray(astronaut(16))[None]
  style = jnp.asarray(chelsea(16))
  out, m = st.neural_style(content, style, jax.random.PRNGKey(0),
                           extractor=st.random_extractor(0, widths=(8, 16)), steps=6, optimizer="lbfgs",
                           style_loss="adain", return_metrics=True)
  assert out.shape == content.shape
  assert float(m["loss"][-1]) < 0.5 * float(m["loss"][0])


def test_bad_extractor_and_layers_are_user_errors():
  x = jnp.asarray(astronaut(16))[None]
  with pytest.raises(UserError, match="unknown extractor"):
    st.get_extractor("alexnet")
  with pytest.raises(UserError, match="workdir"):
    st.get_extractor("discriminator")
  with pytest.raises(UserError, match="out of range"):
    st.neural_style(x, x[0], jax.random.PRNGKey(0), steps=1, style_layers=(7,))
  with pytest.raises(UserError, match="float"):
    st.neural_style(jnp.zeros((1, 8, 8, 3), jnp.uint8), x[0], jax.random.PRNGKey(0), steps=1)
  with pytest.raises(UserError, match="style must be one image"):
    st.neural_style(x, jnp.stack([x[0], x[0]]), jax.random.PRNGKey(0), steps=1)

"""Tests of the neural style losses (vid_jax/refiners/style/losses.py)."""
import jax
import jax.numpy as jnp
import numpy as np

from style_photos import astronaut, chelsea
from vid_jax.refiners import style as st


def test_style_losses_zero_when_image_is_the_style():
  style = jnp.asarray(chelsea(32))
  images = jnp.stack([style, jnp.asarray(astronaut(32))])  # [same, other]
  ex = st.random_extractor(0)

  @jax.jit
  def per_layer(images, style):
    feats, targets = ex(images), ex(style[None])
    grams = [st.gram_loss(f, st.gram_matrix(t)[0]) for f, t in zip(feats, targets)]
    adains = [
        st.adain_loss(f, jnp.mean(t, axis=(0, 1, 2)), jnp.std(t, axis=(0, 1, 2)))
        for f, t in zip(feats, targets)
    ]
    return jnp.stack(grams), jnp.stack(adains)  # [layers, 2]

  for losses in per_layer(images, style):
    losses = np.asarray(losses)
    assert losses.shape == (4, 2)
    assert np.all(losses[:, 0] < 1e-6), losses
    assert np.all(losses[:, 1] > 1e-3), losses
  # The combined loss of the optimisation ("both" averages gram and adain).
  loss = np.asarray(st.style_loss_value(images, style, kind="both"))
  assert loss[0] < 1e-10 and loss[1] > 1e-2

"""The DCGAN pair together: parameter counts against PyTorch's DCGAN, shapes, conditioning."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.models import Discriminator, Generator


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def test_param_counts_match_pytorch_dcgan_at_64():
  g, d = Generator(resolution=64), Discriminator(resolution=64)
  vg = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), jnp.zeros((2, 100)), train=False))
  vd = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), jnp.zeros((2, 64, 64, 3)), train=False))
  assert _count(vg["params"]) == 3_576_704
  assert _count(vd["params"]) == 2_765_568


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_shapes(resolution):
  g = Generator(resolution=resolution, width=8)
  d = Discriminator(resolution=resolution, width=8)
  z = jax.random.normal(jax.random.PRNGKey(0), (3, 100))
  vg = g.init(jax.random.PRNGKey(1), z, train=False)
  x = g.apply(vg, z, train=False)
  assert x.shape == (3, resolution, resolution, 3)
  assert float(jnp.max(jnp.abs(x))) <= 1.0
  vd = d.init(jax.random.PRNGKey(2), x, train=False)
  logits, feats = d.apply(vd, x, train=False, return_features=True)
  assert logits.shape == (3,) and logits.dtype == jnp.float32
  assert [f.shape[1] for f in feats] == [resolution // 2**(i + 1) for i in range(len(feats))]
  assert feats[-1].shape[1:] == (4, 4, 8 * 2**(len(feats) - 1))


def test_conditional_models_use_attributes():
  g = Generator(resolution=32, width=8, num_attributes=3)
  d = Discriminator(resolution=32, width=8, num_attributes=3)
  z = jax.random.normal(jax.random.PRNGKey(0), (2, 100))
  y0, y1 = jnp.zeros((2, 3)), jnp.ones((2, 3))
  vg = g.init(jax.random.PRNGKey(1), z, y0, train=False)
  # The attribute embedding feeds G's input; the conditional BatchNorm offsets start at zero.
  assert not jnp.allclose(g.apply(vg, z, y0, train=False), g.apply(vg, z, y1, train=False))
  x = g.apply(vg, z, y0, train=False)
  vd = d.init(jax.random.PRNGKey(2), x, y0, train=False)
  # The projection starts at zero (D starts as the unconditional D) and is a path from y to the
  # logits: any non-zero projection makes D's answer depend on the attributes.
  np.testing.assert_array_equal(d.apply(vd, x, y0, train=False), d.apply(vd, x, y1, train=False))
  proj = vd["params"]["projection"]["kernel"]
  vd = {
      **vd, "params": {
          **vd["params"], "projection": {
              "kernel": 0.02 * jax.random.normal(jax.random.PRNGKey(3), proj.shape)
          }
      }
  }
  assert not jnp.allclose(d.apply(vd, x, y0, train=False), d.apply(vd, x, y1, train=False))
  with pytest.raises(ValueError, match="needs attributes"):
    d.apply(vd, x, None, train=False)

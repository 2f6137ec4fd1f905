"""vid_jax.models.discriminator: the spatial projection and its checks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.models import Discriminator


def test_spatial_projection_generalises_the_pooled_one():
  # <V y, sum_hw h> == <tile(V) y, flatten(h)>: the spatial projection with its kernel tiled over
  # the 4x4 positions is the pooled one; its own kernel has a weight per position.
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 32, 32, 3))
  y = (jax.random.uniform(jax.random.PRNGKey(1), (5, 3)) > 0.5).astype(jnp.float32)
  pooled = Discriminator(resolution=32, width=8, num_attributes=3, projection="pooled", aux_head=True)
  spatial = Discriminator(resolution=32, width=8, num_attributes=3, projection="spatial", aux_head=True)
  vp = pooled.init(jax.random.PRNGKey(2), x, y, train=False)
  vs = spatial.init(jax.random.PRNGKey(2), x, y, train=False)
  c = 8 * 2**2  # channels of the 4x4 map at resolution 32
  assert vp["params"]["projection"]["kernel"].shape == (3, c)
  assert vs["params"]["projection"]["kernel"].shape == (3, 16 * c)
  assert vs["params"]["aux"]["kernel"].shape == (16 * c, 3)
  l0 = pooled.apply(vp, x, y, train=False)  # zero-initialised projection
  v = jax.random.normal(jax.random.PRNGKey(3), (3, c))
  a = jax.random.normal(jax.random.PRNGKey(4), (c, 3))
  vp = {
      **vp, "params": {
          **vp["params"], "projection": {
              "kernel": v
          },
          "aux": {
              **vp["params"]["aux"], "kernel": a
          }
      }
  }
  vs = {
      **vs, "params": {
          **vs["params"], "projection": {
              "kernel": jnp.tile(v, (1, 16))
          },
          "aux": {
              **vs["params"]["aux"], "kernel": jnp.tile(a, (16, 1))
          }
      }
  }
  lp, ap = pooled.apply(vp, x, y, train=False, return_aux=True)
  ls, as_ = spatial.apply(vs, x, y, train=False, return_aux=True)
  assert float(jnp.max(jnp.abs(lp - l0))) > 100 * 1e-4  # the projection term is not negligible
  np.testing.assert_allclose(ls, lp, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(as_, ap, rtol=1e-4, atol=1e-4)
  # Weights that differ per position make the answer depend on where a feature is.
  w = vs["params"]["projection"]["kernel"].at[:, :c].multiply(3.0)
  ls2 = spatial.apply({**vs, "params": {**vs["params"], "projection": {"kernel": w}}}, x, y, train=False)
  assert not jnp.allclose(ls2, ls, atol=1e-3)
  with pytest.raises(ValueError, match="projection='max'"):
    Discriminator(resolution=32, width=8, num_attributes=3,
                  projection="max").init(jax.random.PRNGKey(0), x, y, train=False)

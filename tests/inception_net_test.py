"""The Flax FID InceptionV3 network (vid_jax/metrics/inception_net.py): pytorch-fid's resize and pooling."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.metrics import inception_net


def _torch_bilinear(x, size):
  """F.interpolate(mode="bilinear", align_corners=False) in numpy, [H, W] -> [size, size]."""

  def weights(n_in):
    src = np.maximum((np.arange(size) + 0.5) * n_in / size - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0

  r0, r1, wr = weights(x.shape[0])
  c0, c1, wc = weights(x.shape[1])
  top = x[r0][:, c0] * (1 - wc) + x[r0][:, c1] * wc
  bottom = x[r1][:, c0] * (1 - wc) + x[r1][:, c1] * wc
  return top * (1 - wr)[:, None] + bottom * wr[:, None]


@pytest.mark.parametrize("n_in, size", [(5, 13), (32, 299), (20, 7)])
def test_resize_matches_torch_bilinear(n_in, size):
  x = np.random.default_rng(n_in).random((n_in, n_in)).astype(np.float32)
  got = np.asarray(inception_net.resize_bilinear(jnp.asarray(x)[None, :, :, None], size))[0, :, :, 0]
  np.testing.assert_allclose(got, _torch_bilinear(x, size), atol=1e-5)


def test_same_avg_pool_excludes_padding():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  pooled = np.asarray(inception_net._avg_pool_3x3_same(x))[0, :, :, 0]
  assert pooled[0, 0] == pytest.approx(np.mean([0, 1, 4, 5]))  # 4 real values, not 9
  assert pooled[1, 1] == pytest.approx(np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))


def test_pool3_output_shape_for_any_input_size():
  module = inception_net.InceptionV3()
  x = jax.ShapeDtypeStruct((2, 40, 56, 3), jnp.float32)  # resized to 299x299 inside
  variables = jax.eval_shape(module.init, jax.random.key(0), x)
  assert set(variables) == {"params", "batch_stats"}
  out = jax.eval_shape(module.apply, variables, x)
  assert out.shape == (2, inception_net.FEATURE_DIM) and out.dtype == jnp.float32

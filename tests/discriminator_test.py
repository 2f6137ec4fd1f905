"""vid_jax.models.discriminator: the spatial projection and its checks, spectral normalisation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import testing
from vid_jax import train
from vid_jax import train_state as ts_lib
from vid_jax import train_step
from vid_jax.models import Discriminator, build_gan, fast_conv


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


# Today's D (resolution 32, width 8, conditional with the attribute head): names and shapes that
# checkpoints of runs without model.d_spectral_norm hold.
OFF_TREE = {
    "batch_stats": {
        "BatchNorm_0": {
            "mean": (16,),
            "var": (16,)
        },
        "BatchNorm_1": {
            "mean": (32,),
            "var": (32,)
        }
    },
    "params": {
        "BatchNorm_0": {
            "bias": (16,),
            "scale": (16,)
        },
        "BatchNorm_1": {
            "bias": (32,),
            "scale": (32,)
        },
        "Conv4_0": {
            "kernel": (4, 4, 3, 8)
        },
        "Conv4_1": {
            "kernel": (4, 4, 8, 16)
        },
        "Conv4_2": {
            "kernel": (4, 4, 16, 32)
        },
        "Conv4_3": {
            "kernel": (4, 4, 32, 1)
        },
        "aux": {
            "bias": (3,),
            "kernel": (512, 3)
        },
        "projection": {
            "kernel": (3, 512)
        }
    }
}


def _shapes(d, x, y=None):
  return jax.tree.map(jnp.shape, jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), x, y, train=False)))


def test_spectral_norm_off_keeps_the_variable_tree():
  x, y = jnp.zeros((2, 32, 32, 3)), jnp.zeros((2, 3))
  for d in (Discriminator(resolution=32, width=8, num_attributes=3, aux_head=True),
            Discriminator(resolution=32, width=8, num_attributes=3, aux_head=True, spectral_norm=False)):
    assert _shapes(d, x, y) == OFF_TREE
  on = _shapes(Discriminator(resolution=32, width=8, num_attributes=3, aux_head=True, spectral_norm=True), x,
               y)
  # The same kernels and heads, no BatchNorm; a u vector and sigma per conv in batch_stats.
  assert on["params"] == {k: v for k, v in OFF_TREE["params"].items() if not k.startswith("BatchNorm")}
  assert on["batch_stats"] == {
      f"SpectralNorm_{i}": {
          f"Conv4_{i}/kernel/u": (1, c),
          f"Conv4_{i}/kernel/sigma": ()
      } for i, c in enumerate((8, 16, 32, 1))
  }


def test_spectral_norm_divides_each_kernel_by_its_largest_singular_value():
  x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 32, 32, 3), dtype=np.float32))
  d = Discriminator(resolution=32, width=8, spectral_norm=True)
  variables = jax.jit(lambda k: d.init(k, x, train=False))(jax.random.PRNGKey(1))
  train_apply = jax.jit(lambda v: d.apply(v, x, train=True, mutable=["batch_stats"]))
  eval_apply = jax.jit(lambda v: d.apply(v, x, train=False, mutable=["batch_stats"], return_features=True))
  start = variables["batch_stats"]
  for _ in range(30):  # one power iteration per training call
    _, new = train_apply(variables)
    variables = {**variables, **new}
  for i in range(4):
    kernel = np.asarray(variables["params"][f"Conv4_{i}"]["kernel"])
    top = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    stats = variables["batch_stats"][f"SpectralNorm_{i}"]
    # The normalised kernel's largest singular value: ~1 (power iteration approaches it from below).
    np.testing.assert_allclose(top / float(stats[f"Conv4_{i}/kernel/sigma"]), 1.0, atol=1e-2)
    assert not np.allclose(stats[f"Conv4_{i}/kernel/u"], start[f"SpectralNorm_{i}"][f"Conv4_{i}/kernel/u"])
  # The first layer computes with kernel / sigma; in eval the u vectors stay as they are.
  (logits, features), unchanged = eval_apply(variables)
  kernel = variables["params"]["Conv4_0"]["kernel"]
  top = np.linalg.svd(np.asarray(kernel).reshape(-1, 8), compute_uv=False)[0]
  expected = jax.nn.leaky_relu(fast_conv.native_conv4(x, kernel / top, stride=2, padding=1), 0.2)
  np.testing.assert_allclose(features[0], expected, rtol=1e-2, atol=1e-3)
  assert jax.tree.all(jax.tree.map(np.array_equal, unchanged["batch_stats"], variables["batch_stats"]))
  np.testing.assert_array_equal(eval_apply(variables)[0][0], logits)


@pytest.mark.parametrize("conditional", [False, True])
def test_spectral_norm_trains_through_the_jitted_step(conditional):
  config = testing.tiny_config(conditional=conditional)
  config.model.d_spectral_norm = True
  g, d = build_gan(config)
  state = jax.jit(ts_lib.make_init_fn(config, g, d))(jax.random.PRNGKey(config.train.seed))
  assert not any(k.startswith("BatchNorm") for k in state.d_params)
  step = jax.jit(train_step.make_train_step(generator=g, discriminator=d, options=train.step_options(config)))
  rng = np.random.default_rng(0)
  b, r = config.train.batch_size, config.model.resolution
  start = state.d_batch_stats
  for _ in range(2):
    batch = {
        "image": rng.integers(0, 256, (b, r, r, 3), dtype=np.uint8),
        "attributes": rng.integers(0, 2, (b, 40)).astype(np.uint8)
    }
    state, metrics = step(state, batch)
    metrics = jax.device_get(metrics)
    assert all(np.isfinite(v) for v in metrics.values()), metrics
  assert int(state.step) == 2
  # The u vectors moved with training (they are D's batch_stats in the train state).
  u = lambda stats: stats["SpectralNorm_0"]["Conv4_0/kernel/u"]
  assert not np.allclose(u(state.d_batch_stats), u(start))

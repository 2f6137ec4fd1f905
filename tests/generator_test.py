"""vid_jax.models.generator: the attribute embedding and unsupported resolutions."""
import jax
import jax.numpy as jnp
import pytest

from vid_jax.models import Generator


def test_attribute_mlp_embedding_feeds_input_and_every_batchnorm():
  z = jax.random.normal(jax.random.PRNGKey(0), (2, 100))
  y = jnp.asarray([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
  linear = Generator(resolution=32, width=8, num_attributes=3)
  mlp = Generator(resolution=32, width=8, num_attributes=3, cond_hidden=16)
  pl = linear.init(jax.random.PRNGKey(1), z, y, train=False)["params"]
  vm = mlp.init(jax.random.PRNGKey(1), z, y, train=False)
  pm = vm["params"]
  assert not any(k.startswith("cond_mlp") for k in pl)  # cond_hidden=0: the tree older runs saved
  assert pm["cond_mlp_0"]["kernel"].shape == (3, 16) and pm["cond_mlp_1"]["kernel"].shape == (16, 16)
  # The input embedding and each conditional BatchNorm read [y, MLP(y)] (3 + 16) instead of y (3).
  assert pl["embed"]["kernel"].shape == (3, 100) and pm["embed"]["kernel"].shape == (19, 100)
  bns = [k for k in pm if k.startswith("ConditionalBatchNorm")]
  assert len(bns) == 3
  for k in bns:
    assert pm[k]["gamma"]["kernel"].shape[0] == 19 and pl[k]["gamma"]["kernel"].shape[0] == 3
  # The MLP is on the path to the image: its last layer gets a non-zero gradient.
  def out(params):
    return jnp.sum(mlp.apply({**vm, "params": params}, z, y, train=False)**2)

  grad = jax.grad(out)(pm)["cond_mlp_1"]["kernel"]
  assert float(jnp.max(jnp.abs(grad))) > 0


def test_unsupported_resolution():
  with pytest.raises(ValueError, match="resolution 48 is not supported"):
    Generator(resolution=48).init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)

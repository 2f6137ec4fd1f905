"""Tests of the feature extractors (vid_jax/refiners/style/extractors.py, models/vgg.py)."""
import functools
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from style_photos import astronaut, chelsea
from vid_jax.errors import UserError
from vid_jax.models import vgg
from vid_jax.refiners import style as st


def test_random_extractor_is_deterministic_and_seeded():
  x = jnp.asarray(astronaut(32))[None]
  a = st.random_extractor(0)(x)
  b = st.get_extractor("random:0")(x)
  c = st.get_extractor("random:1")(x)
  assert [f.shape for f in a] == [(1, 32, 32, 32), (1, 16, 16, 64), (1, 8, 8, 128), (1, 4, 4, 256)]
  for fa, fb in zip(a, b):
    np.testing.assert_array_equal(np.asarray(fa), np.asarray(fb))
  assert not np.allclose(np.asarray(a[0]), np.asarray(c[0]))


class _TinyD(nn.Module):
  """Stands in for the project discriminator (same call contract)."""

  @nn.compact
  def __call__(self, x, attrs=None, *, train, return_features=False):
    assert x.shape[1:] == (16, 16, 3), x.shape  # resized to its resolution
    assert attrs is not None and attrs.shape == (x.shape[0], 2)
    f1 = nn.leaky_relu(nn.Conv(8, (4, 4), strides=2)(x), 0.2)
    f2 = nn.leaky_relu(nn.Conv(16, (4, 4), strides=2)(f1), 0.2)
    logits = nn.Dense(1)(f2.reshape(x.shape[0], -1))[:, 0]
    return (logits, [f1, f2]) if return_features else logits


def test_discriminator_and_function_extractors():
  d = _TinyD()
  variables = jax.jit(functools.partial(d.init, train=False))(jax.random.PRNGKey(0), jnp.zeros(
      (1, 16, 16, 3)), jnp.zeros((1, 2)))
  models = types.SimpleNamespace(resolution=16, attribute_names=("a", "b"), discriminator=d,
                                 d_variables=variables)
  ex = st.discriminator_extractor(models)
  content = jnp.asarray(astronaut(24))[None]
  style = jnp.asarray(chelsea(24))
  feats = jax.jit(ex)(content)
  assert [f.shape for f in feats] == [(1, 8, 8, 8), (1, 4, 4, 16)]
  out = st.neural_style(content, style, jax.random.PRNGKey(0), extractor=ex, steps=30)
  before = st.style_loss_value(content, style, extractor=ex)
  after = st.style_loss_value(out, style, extractor=ex)
  assert float(after[0]) < 0.5 * float(before[0])

  def features(images):  # a plain feature function is an extractor too
    return ex(images)

  for a, b in zip(jax.jit(st.get_extractor(features))(content), feats):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ----------------------------------------------------------------------------
# VGG-19 loader.
# ----------------------------------------------------------------------------

_PREFIX = ("conv1_1", "conv1_2", "conv2_1")


def _vgg_arrays(seed=0):
  """HWIO arrays for the first three VGG-19 convs (a truncated file)."""
  rng = np.random.default_rng(seed)
  out = {}
  for name in _PREFIX:
    cin = 3 if name == "conv1_1" else vgg.VGG19_WIDTHS[vgg.VGG19_CONVS[vgg.VGG19_CONVS.index(name) - 1]]
    cout = vgg.VGG19_WIDTHS[name]
    out[f"{name}/kernel"] = (rng.standard_normal((3, 3, cin, cout)) / np.sqrt(9 * cin)).astype(np.float32)
    out[f"{name}/bias"] = rng.normal(0, 0.01, cout).astype(np.float32)
  return out


def test_vgg19_loader_rejects_wrong_shapes(tmp_path):
  arrays = _vgg_arrays()
  arrays["conv1_2/kernel"] = arrays["conv1_2/kernel"][:, :, :, :32]
  path = str(tmp_path / "bad.npz")
  np.savez(path, **arrays)
  with pytest.raises(UserError) as e:
    vgg.load_vgg19_params(path)
  msg = str(e.value)
  assert "'conv1_2/kernel'" in msg
  assert "(3, 3, 64, 32)" in msg and "(3, 3, 64, 64)" in msg
  # The same through the extractor name and in torchvision layout.
  torch_bad = {
      "features.0.weight": np.zeros((64, 3, 5, 5), np.float32),
      "features.0.bias": np.zeros(64, np.float32)
  }
  np.savez(tmp_path / "bad_torch.npz", **torch_bad)
  with pytest.raises(UserError, match=r"'features.0.weight'.*\(64, 3, 5, 5\)"
                     r".*\(64, 3, 3, 3\)"):
    st.get_extractor(f"vgg19:{tmp_path / 'bad_torch.npz'}")
  with pytest.raises(UserError, match="not found"):
    vgg.load_vgg19_params(str(tmp_path / "missing.npz"))
  gap = _vgg_arrays()
  del gap["conv1_2/kernel"], gap["conv1_2/bias"]
  np.savez(tmp_path / "gap.npz", **gap)
  with pytest.raises(UserError, match="contiguous"):
    vgg.load_vgg19_params(str(tmp_path / "gap.npz"))


def test_vgg19_torchvision_names_and_neural_style(tmp_path):
  arrays = _vgg_arrays()
  np.savez(tmp_path / "flax.npz", **arrays)
  torch_arrays = {}
  for name in _PREFIX:
    i = vgg.TORCHVISION_INDEX[name]
    torch_arrays[f"features.{i}.weight"] = np.transpose(arrays[f"{name}/kernel"],
                                                        (3, 2, 0, 1))  # HWIO -> OIHW
    torch_arrays[f"features.{i}.bias"] = arrays[f"{name}/bias"]
  np.savez(tmp_path / "torch.npz", **torch_arrays)
  assert [vgg.TORCHVISION_INDEX[n] for n in _PREFIX] == [0, 2, 5]

  x = jnp.asarray(astronaut(16))[None]
  ex_flax = st.vgg19_extractor(str(tmp_path / "flax.npz"))
  ex_torch = st.get_extractor(f"vgg19:{tmp_path / 'torch.npz'}")
  fa, fb = ex_flax(x), ex_torch(x)
  # Only relu1_1 and relu2_1 exist in a 3-conv file; content falls back.
  assert [f.shape for f in fa] == [(1, 16, 16, 64), (1, 8, 8, 128)]
  assert ex_flax.content_layers == (1,)
  for a, b in zip(fa, fb):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
  # ImageNet normalisation: conv1_1 of a constant image is the per-channel
  # normalised value times the summed kernel, plus bias (inside the border).
  grey = jnp.full((1, 8, 8, 3), 0.2)
  out = vgg.VGG19(output_layers=("conv1_1",)).apply(
      {"params": {
          "conv1_1": {
              "kernel": arrays["conv1_1/kernel"],
              "bias": arrays["conv1_1/bias"]
          }
      }}, grey)[0]
  norm = (0.6 - np.array(vgg.IMAGENET_MEAN)) / np.array(vgg.IMAGENET_STD)
  want = np.einsum("c,hwco->o", norm, arrays["conv1_1/kernel"]) + arrays["conv1_1/bias"]
  np.testing.assert_allclose(np.asarray(out[0, 4, 4]), want, atol=1e-4)

  style = jnp.asarray(chelsea(16))
  _, m = st.neural_style(x, style, jax.random.PRNGKey(0), extractor=ex_flax, steps=10, return_metrics=True)
  assert float(m["style"][-1]) < float(m["style"][0])

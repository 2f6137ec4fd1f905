"""Tests of the style-transfer refiner (vid_jax/refiners/style*.py, models/vgg.py).

Real photographs from scikit-image (astronaut as content, chelsea as style /
colour reference), downscaled so the whole module runs in well under 90 s.
"""

import functools
import os
import subprocess
import sys
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from vid_jax.errors import UserError
from vid_jax.models import vgg
from vid_jax.refiners import style as st

skimage = pytest.importorskip("skimage")
from skimage import color as skcolor  # pylint: disable=g-import-not-at-top
from skimage import data as skdata  # pylint: disable=g-import-not-at-top
from skimage import transform as sktransform  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _photo(img: np.ndarray, size: int) -> np.ndarray:
  """uint8 [H, W, 3] -> float32 [size, size, 3] in [-1, 1]."""
  small = sktransform.resize(img, (size, size), anti_aliasing=True)
  return (small * 2.0 - 1.0).astype(np.float32)


@functools.lru_cache(maxsize=None)
def astronaut(size: int) -> np.ndarray:
  return _photo(skdata.astronaut(), size)


@functools.lru_cache(maxsize=None)
def chelsea(size: int) -> np.ndarray:
  return _photo(skdata.chelsea()[:, 50:350], size)


def _batch(size: int = 32) -> jnp.ndarray:
  """Two different real images [2, size, size, 3]."""
  return jnp.stack([astronaut(size), chelsea(size)])


# ----------------------------------------------------------------------------
# Colour science.
# ----------------------------------------------------------------------------


def test_rgb_to_lab_matches_skimage():
  rgb = np.concatenate([
      skdata.astronaut()[::4, ::4].reshape(-1, 3) / 255.0,
      np.random.default_rng(0).random((2000, 3)),
      np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1],
                [1, 1, 0], [0, 1, 1], [1, 0, 1], [0.01, 0.02, 0.03]]),
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


def test_reinhard_reproduces_reference_lab_statistics():
  content = jnp.asarray(astronaut(48))[None]
  reference = jnp.asarray(chelsea(40))      # another size on purpose
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
    "sketch": st.sketch,
    "cartoon": st.cartoon,
    "pixel_art": st.pixel_art,
    "pixel_art_palette": functools.partial(
        st.pixel_art, pixel_size=3,
        palette=((-1, -1, -1), (1, 1, 1), (1, -0.5, -0.8), (-0.5, -0.5, 0.6))),
    "reinhard": _reinhard_fixed,
    "posterize": st.posterize,
    "duotone": st.duotone,
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_contract(name):
  fn = FILTERS[name]
  jitted = jax.jit(fn)
  images = _batch(32)                                        # [2, 32, 32, 3]
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
    np.testing.assert_allclose(np.asarray(jitted(images[i:i + 1]))[0],
                               out[i], atol=1e-5)


@pytest.mark.parametrize("name", ["sketch", "posterize", "duotone"])
def test_filter_keeps_bfloat16(name):
  images = _batch(16).astype(jnp.bfloat16)
  out = jax.jit(FILTERS[name])(images)
  assert out.dtype == jnp.bfloat16 and out.shape == images.shape


def test_filter_outputs_have_the_promised_structure():
  images = _batch(32)
  post = np.asarray(jax.jit(functools.partial(st.posterize, levels=3))(images))
  assert set(np.unique(np.round(post, 5))) <= {-1.0, 0.0, 1.0}
  sk = np.asarray(jax.jit(st.sketch)(images))
  np.testing.assert_array_equal(sk[..., 0], sk[..., 1])        # grey
  pix = np.asarray(jax.jit(functools.partial(
      st.pixel_art, pixel_size=4, num_colors=5))(images))
  assert len(np.unique(pix[0].reshape(-1, 3), axis=0)) <= 5
  blocks = pix[0].reshape(8, 4, 8, 4, 3)
  assert np.all(blocks == blocks[:, :1, :, :1, :])              # 4x4 blocks
  duo = np.asarray(jax.jit(functools.partial(
      st.duotone, dark=(-1, -1, 1), light=(1, 1, 1)))(images))
  np.testing.assert_array_equal(duo[..., 2], 1.0)


def test_filter_rejects_bad_images():
  with pytest.raises(UserError, match="float"):
    st.sketch(jnp.zeros((1, 8, 8, 3), jnp.uint8))
  with pytest.raises(UserError, match=r"\[B, H, W, 3\]"):
    st.posterize(jnp.zeros((8, 8, 3)))


# ----------------------------------------------------------------------------
# Neural style.
# ----------------------------------------------------------------------------


def test_style_losses_zero_when_image_is_the_style():
  style = jnp.asarray(chelsea(32))
  images = jnp.stack([style, jnp.asarray(astronaut(32))])   # [same, other]
  ex = st.random_extractor(0)

  @jax.jit
  def per_layer(images, style):
    feats, targets = ex(images), ex(style[None])
    grams = [st.gram_loss(f, st.gram_matrix(t)[0])
             for f, t in zip(feats, targets)]
    adains = [st.adain_loss(f, jnp.mean(t, axis=(0, 1, 2)),
                            jnp.std(t, axis=(0, 1, 2)))
              for f, t in zip(feats, targets)]
    return jnp.stack(grams), jnp.stack(adains)              # [layers, 2]

  for losses in per_layer(images, style):
    losses = np.asarray(losses)
    assert losses.shape == (4, 2)
    assert np.all(losses[:, 0] < 1e-6), losses
    assert np.all(losses[:, 1] > 1e-3), losses
  # The combined loss of the optimisation ("both" averages gram and adain).
  loss = np.asarray(st.style_loss_value(images, style, kind="both"))
  assert loss[0] < 1e-10 and loss[1] > 1e-2


def test_random_extractor_is_deterministic_and_seeded():
  x = jnp.asarray(astronaut(32))[None]
  a = st.random_extractor(0)(x)
  b = st.get_extractor("random:0")(x)
  c = st.get_extractor("random:1")(x)
  assert [f.shape for f in a] == [(1, 32, 32, 32), (1, 16, 16, 64),
                                  (1, 8, 8, 128), (1, 4, 4, 256)]
  for fa, fb in zip(a, b):
    np.testing.assert_array_equal(np.asarray(fa), np.asarray(fb))
  assert not np.allclose(np.asarray(a[0]), np.asarray(c[0]))


def test_neural_style_lowers_held_out_style_loss():
  content = jnp.asarray(astronaut(32))[None]
  style = jnp.asarray(chelsea(32))
  out, metrics = st.neural_style(content, style, jax.random.PRNGKey(0),
                                 extractor="random:0", steps=50,
                                 content_weight=3.0, return_metrics=True)
  assert out.shape == content.shape and out.dtype == content.dtype
  assert float(jnp.abs(out).max()) <= 1.0
  assert metrics["loss"].shape == (50,)
  assert float(metrics["loss"][-1]) < float(metrics["loss"][0])
  held = "random:1"   # a different random network, never optimised against
  before = st.style_loss_value(content, style, extractor=held)
  after = st.style_loss_value(out, style, extractor=held)
  assert float(after[0]) <= 0.5 * float(before[0])
  # Content stays: much closer to the content than the style image is.
  kept = st.content_loss_value(out, content, extractor=held)
  style_as_content = st.content_loss_value(style[None], content,
                                           extractor=held)
  assert float(kept[0]) < 0.5
  assert float(kept[0]) < 0.7 * float(style_as_content[0])


def test_neural_style_batch_and_multi_style_match_single_runs():
  contents = _batch(16)
  styles = jnp.stack([jnp.asarray(chelsea(16)), jnp.asarray(astronaut(16))])
  small = st.random_extractor(0, widths=(8, 16))
  kw = dict(extractor=small, steps=10, style_loss="both")
  key = jax.random.PRNGKey(0)
  multi = st.neural_style_multi(contents, styles, key, **kw)
  assert multi.shape == (2,) + contents.shape
  single = st.neural_style(contents[1:], styles[0], key, **kw)
  np.testing.assert_allclose(np.asarray(multi[0, 1:]), np.asarray(single),
                             atol=2e-3)
  # Repeated calls reuse the compiled loop.
  again = st.neural_style(contents[1:], styles[0], key, **kw)
  np.testing.assert_array_equal(np.asarray(again), np.asarray(single))
  fn, _ = st.neural_style_runner(small, steps=10, style_loss="both")
  assert fn._cache_size() == 1  # pylint: disable=protected-access


def test_neural_style_lbfgs():
  content = jnp.asarray(astronaut(16))[None]
  style = jnp.asarray(chelsea(16))
  out, m = st.neural_style(content, style, jax.random.PRNGKey(0),
                           extractor=st.random_extractor(0, widths=(8, 16)),
                           steps=6, optimizer="lbfgs",
                           style_loss="adain", return_metrics=True)
  assert out.shape == content.shape
  assert float(m["loss"][-1]) < 0.5 * float(m["loss"][0])


class _TinyD(nn.Module):
  """Stands in for the project discriminator (same call contract)."""

  @nn.compact
  def __call__(self, x, attrs=None, *, train, return_features=False):
    assert x.shape[1:] == (16, 16, 3), x.shape   # resized to its resolution
    assert attrs is not None and attrs.shape == (x.shape[0], 2)
    f1 = nn.leaky_relu(nn.Conv(8, (4, 4), strides=2)(x), 0.2)
    f2 = nn.leaky_relu(nn.Conv(16, (4, 4), strides=2)(f1), 0.2)
    logits = nn.Dense(1)(f2.reshape(x.shape[0], -1))[:, 0]
    return (logits, [f1, f2]) if return_features else logits


def test_discriminator_and_function_extractors():
  d = _TinyD()
  variables = jax.jit(functools.partial(d.init, train=False))(
      jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, 2)))
  models = types.SimpleNamespace(resolution=16, attribute_names=("a", "b"),
                                 discriminator=d, d_variables=variables)
  ex = st.discriminator_extractor(models)
  content = jnp.asarray(astronaut(24))[None]
  style = jnp.asarray(chelsea(24))
  feats = jax.jit(ex)(content)
  assert [f.shape for f in feats] == [(1, 8, 8, 8), (1, 4, 4, 16)]
  out = st.neural_style(content, style, jax.random.PRNGKey(0), extractor=ex,
                        steps=30)
  before = st.style_loss_value(content, style, extractor=ex)
  after = st.style_loss_value(out, style, extractor=ex)
  assert float(after[0]) < 0.5 * float(before[0])

  def features(images):   # a plain feature function is an extractor too
    return ex(images)
  for a, b in zip(jax.jit(st.get_extractor(features))(content), feats):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_extractor_and_layers_are_user_errors():
  x = jnp.asarray(astronaut(16))[None]
  with pytest.raises(UserError, match="unknown extractor"):
    st.get_extractor("alexnet")
  with pytest.raises(UserError, match="workdir"):
    st.get_extractor("discriminator")
  with pytest.raises(UserError, match="out of range"):
    st.neural_style(x, x[0], jax.random.PRNGKey(0), steps=1,
                    style_layers=(7,))
  with pytest.raises(UserError, match="float"):
    st.neural_style(jnp.zeros((1, 8, 8, 3), jnp.uint8), x[0],
                    jax.random.PRNGKey(0), steps=1)
  with pytest.raises(UserError, match="style must be one image"):
    st.neural_style(x, jnp.stack([x[0], x[0]]), jax.random.PRNGKey(0),
                    steps=1)


# ----------------------------------------------------------------------------
# VGG-19 loader.
# ----------------------------------------------------------------------------

_PREFIX = ("conv1_1", "conv1_2", "conv2_1")


def _vgg_arrays(seed=0):
  """HWIO arrays for the first three VGG-19 convs (a truncated file)."""
  rng = np.random.default_rng(seed)
  out = {}
  for name in _PREFIX:
    cin = 3 if name == "conv1_1" else vgg.VGG19_WIDTHS[
        vgg.VGG19_CONVS[vgg.VGG19_CONVS.index(name) - 1]]
    cout = vgg.VGG19_WIDTHS[name]
    out[f"{name}/kernel"] = (rng.standard_normal((3, 3, cin, cout)) /
                             np.sqrt(9 * cin)).astype(np.float32)
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
  torch_bad = {"features.0.weight": np.zeros((64, 3, 5, 5), np.float32),
               "features.0.bias": np.zeros(64, np.float32)}
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
    torch_arrays[f"features.{i}.weight"] = np.transpose(
        arrays[f"{name}/kernel"], (3, 2, 0, 1))               # HWIO -> OIHW
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
      {"params": {"conv1_1": {"kernel": arrays["conv1_1/kernel"],
                              "bias": arrays["conv1_1/bias"]}}}, grey)[0]
  norm = (0.6 - np.array(vgg.IMAGENET_MEAN)) / np.array(vgg.IMAGENET_STD)
  want = np.einsum("c,hwco->o", norm, arrays["conv1_1/kernel"]) + arrays[
      "conv1_1/bias"]
  np.testing.assert_allclose(np.asarray(out[0, 4, 4]), want, atol=1e-4)

  style = jnp.asarray(chelsea(16))
  _, m = st.neural_style(x, style, jax.random.PRNGKey(0), extractor=ex_flax,
                         steps=10, return_metrics=True)
  assert float(m["style"][-1]) < float(m["style"][0])


# ----------------------------------------------------------------------------
# Tool.
# ----------------------------------------------------------------------------


def _run_tool(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  return subprocess.run([sys.executable, os.path.join(REPO, "tools",
                                                      "stylize.py"), *args],
                        capture_output=True, text=True, env=env, cwd=REPO,
                        timeout=300, check=False)


def test_stylize_tool_end_to_end(tmp_path):
  images = np.round((_batch(24) + 1) * 127.5).astype(np.uint8)  # [2,24,24,3]
  np.savez(tmp_path / "in.npz", images=np.asarray(images))
  Image.fromarray(np.asarray(images[1])).save(tmp_path / "style.png")
  out = tmp_path / "out.png"
  r = _run_tool(f"--input={tmp_path / 'in.npz'}",
                f"--style=reinhard:{tmp_path / 'style.png'}", "--size=16",
                f"--out={out}")
  assert r.returncode == 0, r.stderr
  grid = np.asarray(Image.open(out))
  assert grid.shape == (16, 2 * 2 * 16, 3)        # 2 pairs side by side
  assert not np.array_equal(grid[:, :16], grid[:, 16:32])

  r = _run_tool(f"--input={tmp_path / 'in.npz'}", "--style=pixel_art",
                f"--out={out}")
  assert r.returncode == 0, r.stderr
  grid = np.asarray(Image.open(out))
  assert grid.shape == (24, 4 * 24, 3)
  np.testing.assert_array_equal(grid[:, :24], images[0])   # input kept

  r = _run_tool(f"--input={tmp_path / 'in.npz'}", "--style=oil",
                f"--out={out}")
  assert r.returncode == 2
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: unknown --style")

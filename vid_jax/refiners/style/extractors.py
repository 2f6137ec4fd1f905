"""Feature extractors for neural style transfer, none of which needs a download.

`get_extractor(spec)`:
  * "random" / "random:SEED": a multi-scale random-weight conv net
    (Ustyuzhaninov et al. 2016; He, Wang & Hopcroft 2016), deterministic from
    the seed (numpy RNG, identical on every backend), with unit-norm filters and
    a fixed per-layer scale that brings each layer to unit RMS on a 1/f-noise
    probe.
  * "discriminator:WORKDIR": the block features of a trained discriminator
    (`discriminator_extractor` also takes a loaded `Models`).
  * "vgg19:PATH": VGG-19 (vid_jax.models.vgg) with weights from a local .npz.
  * any callable `images [B,H,W,3] in [-1,1] -> list of [B,h,w,c]` features.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax import inference
from vid_jax.errors import UserError
from vid_jax.models import vgg

FeatureFn = Callable[[jax.Array], Sequence[jax.Array]]


@dataclasses.dataclass(frozen=True, eq=False)  # eq=False: hash by identity
class Extractor:
  """A differentiable feature extractor.

  Attributes:
    name: for messages.
    apply: `(params, images [B,H,W,3] in [-1,1]) -> list of [B,h,w,c]`.
    params: pytree passed to `apply` (an argument of the jitted loop, not a
      baked-in constant).
    style_layers: indices of the features used for style; None = all.
    content_layers: indices used for content; None = (len(features) // 2,).
  """
  name: str
  apply: Callable[[Any, jax.Array], Sequence[jax.Array]]
  params: Any = ()
  style_layers: tuple[int, ...] | None = None
  content_layers: tuple[int, ...] | None = None

  def __call__(self, images: jax.Array) -> list[jax.Array]:
    return list(self.apply(self.params, images))


def _reflect_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """'SAME' conv with reflect padding (no dark frame at the borders)."""
  r = kernel.shape[0] // 2
  mode = "reflect" if min(x.shape[1], x.shape[2]) > r else "edge"
  x = jnp.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode=mode)
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _avg_pool2(x: jax.Array) -> jax.Array:
  b, h, w, c = x.shape
  x = x[:, :h - h % 2, :w - w % 2, :]
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _random_apply(params, images: jax.Array) -> list[jax.Array]:
  x = images.astype(jnp.float32)  # [B, H, W, 3]
  feats = []
  for i, layer in enumerate(params):
    if i > 0 and min(x.shape[1], x.shape[2]) >= 2:
      x = _avg_pool2(x)  # next scale
    x = jax.nn.relu(_reflect_conv(x, layer["kernel"])) * layer["scale"]
    feats.append(x)
  return feats


def _pink_noise(rng: np.random.Generator, size: int) -> np.ndarray:
  """A [1, size, size, 3] 1/f-noise image in about [-1, 1] (natural spectrum)."""
  fy = np.fft.fftfreq(size)[:, None]
  fx = np.fft.fftfreq(size)[None, :]
  amp = 1.0 / np.maximum(np.sqrt(fx**2 + fy**2), 1.0 / size)
  chans = []
  for _ in range(3):
    phase = np.exp(2j * np.pi * rng.random((size, size)))
    img = np.real(np.fft.ifft2(amp * phase))
    chans.append(img / (3 * img.std() + 1e-12))
  return np.clip(np.stack(chans, -1)[None], -1, 1).astype(np.float32)


@functools.lru_cache(maxsize=16)
def random_extractor(seed: int = 0, *, widths: tuple[int, ...] = (32, 64, 128, 256),
                     kernel_size: int = 3) -> Extractor:
  """Multi-scale random-weight conv net, deterministic from `seed`.

  One reflect-padded conv + ReLU per scale, 2x average pooling between
  scales; features after every conv. Filters are Gaussian, then scaled to
  unit L2 norm; each layer is multiplied by a fixed scale so its RMS is 1 on
  a 1/f-noise probe (per-layer normalisation that does not depend on the
  image, so contrast and colour statistics stay visible to the losses).

  Args:
    seed: weight seed (numpy RNG: same weights on every backend).
    widths: channels per scale.
    kernel_size: odd conv size.

  Returns:
    Extractor; default content layer is the middle scale.
  """
  if kernel_size % 2 != 1:
    raise UserError(f"random extractor kernel_size must be odd; got "
                    f"{kernel_size}")
  rng = np.random.default_rng(seed)
  kernels, cin = [], 3
  for w in widths:
    k = rng.standard_normal((kernel_size, kernel_size, cin, w))
    k /= np.sqrt(np.sum(k**2, axis=(0, 1, 2), keepdims=True))
    kernels.append(k.astype(np.float32))
    cin = w
  probe = _pink_noise(rng, 64)
  # Concrete evaluation even when first called under a jit trace (cached).
  with jax.ensure_compile_time_eval():
    scales = np.asarray(_calibrate(tuple(jnp.asarray(k) for k in kernels), jnp.asarray(probe)))
  params = tuple({
      "kernel": jnp.asarray(k),
      "scale": jnp.asarray(sc, jnp.float32)
  } for k, sc in zip(kernels, scales))
  return Extractor(name=f"random:{seed}", apply=_random_apply, params=params)


@jax.jit
def _calibrate(kernels, probe):
  """Per-layer scales giving unit RMS on the probe, layer after layer."""
  x, scales = probe, []
  for i, k in enumerate(kernels):
    if i > 0:
      x = _avg_pool2(x)
    x = jax.nn.relu(_reflect_conv(x, k))
    scale = 1.0 / (jnp.sqrt(jnp.mean(x * x)) + 1e-12)
    x = x * scale
    scales.append(scale)
  return jnp.stack(scales)


def _vgg_layer_number(name: str) -> tuple[int, int]:
  b, l = name[4:].split("_")
  return int(b), int(l)


@functools.lru_cache(maxsize=4)
def vgg19_extractor(path: str, *, pool: str = "avg",
                    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                    content_layer: str = "relu4_2") -> Extractor:
  """VGG-19 with weights from a local .npz (format: vid_jax/models/vgg.py).

  Layers deeper than the file provides are dropped; if the content layer is
  missing, the deepest available style layer is used for content.

  Args:
    path: the .npz weights file.
    pool: "avg" (smoother synthesis, Gatys et al.) or "max".
    style_layers: VGG layer names for the style statistics.
    content_layer: VGG layer name for the content loss.

  Returns:
    Extractor over the VGG activations.
  """
  variables, present = vgg.load_vgg19_params(path)
  have = {"relu" + c[4:] for c in present} | set(present)
  style = tuple(n for n in style_layers if n in have)
  if not style:
    raise UserError(f"VGG-19 weights {path!r} stop at {present[-1]}; none of "
                    f"the style layers {style_layers} is available")
  content = content_layer if content_layer in have else max(style, key=_vgg_layer_number)
  outputs = style + ((content,) if content not in style else ())
  module = vgg.VGG19(output_layers=outputs, pool=pool)
  return Extractor(name=f"vgg19:{path}", apply=lambda v, x: module.apply(v, x), params=variables,
                   style_layers=tuple(range(len(style))), content_layers=(outputs.index(content),))


def discriminator_extractor(source, *, step: int | None = None) -> Extractor:
  """Block features of a trained discriminator.

  Args:
    source: a training workdir (str / PathLike), or a loaded
      `vid_jax.inference.Models`.
    step: checkpoint step when `source` is a workdir (None = latest).

  Returns:
    Extractor; images are resized to the discriminator's resolution, and a
    conditional (projection) discriminator gets all-zero attributes, which
    only its logit (not its features) depends on.
  """
  if isinstance(source, (str, os.PathLike)):
    models = inference.load_models(os.fspath(source), step=step)
    name = f"discriminator:{os.fspath(source)}"
  else:
    models, name = source, "discriminator"
  res = int(models.resolution)
  num_attrs = len(models.attribute_names)
  module = models.discriminator

  def apply(variables, images):
    b = images.shape[0]
    x = images.astype(jnp.float32)
    if x.shape[1:3] != (res, res):
      x = jax.image.resize(x, (b, res, res, 3), method="linear")
    attrs = jnp.zeros((b, num_attrs), jnp.float32) if num_attrs else None
    _, feats = module.apply(variables, x, attrs, train=False, return_features=True)
    return feats

  return Extractor(name=name, apply=apply, params=models.d_variables)


@functools.lru_cache(maxsize=32)
def feature_extractor(fn: FeatureFn, *, style_layers: tuple[int, ...] | None = None,
                      content_layers: tuple[int, ...] | None = None) -> Extractor:
  """Wraps a feature function `images -> list of NHWC features`."""
  return Extractor(name=getattr(fn, "__name__", "features"), apply=lambda _, x: fn(x), params=(),
                   style_layers=style_layers, content_layers=content_layers)


def get_extractor(spec: str | Extractor | FeatureFn) -> Extractor:
  """Resolves an extractor from a name, an Extractor or a feature function.

  Args:
    spec: "random", "random:SEED", "discriminator:WORKDIR", "vgg19:PATH",
      an Extractor, or a callable `images -> list of features`.

  Returns:
    The Extractor (cached per spec, so repeated calls reuse compiled code).
  """
  if isinstance(spec, Extractor):
    return spec
  if callable(spec):
    return feature_extractor(spec)
  if not isinstance(spec, str):
    raise UserError(f"extractor must be a name or a function; got {spec!r}")
  kind, _, arg = spec.partition(":")
  if kind == "random":
    try:
      seed = int(arg) if arg else 0
    except ValueError:
      raise UserError(f"bad extractor {spec!r}: the seed after 'random:' must "
                      "be an integer") from None
    return random_extractor(seed)
  if kind == "vgg19":
    if not arg:
      raise UserError("extractor 'vgg19' needs a weights file: "
                      "'vgg19:/path/to/vgg19.npz'")
    return vgg19_extractor(os.path.abspath(arg))
  if kind == "discriminator":
    if not arg:
      raise UserError("extractor 'discriminator' needs a training workdir: "
                      "'discriminator:/path/to/workdir'")
    return _cached_discriminator(os.path.abspath(arg))
  raise UserError(f"unknown extractor {spec!r}; use random[:SEED], "
                  "discriminator:WORKDIR or vgg19:WEIGHTS.npz")


@functools.lru_cache(maxsize=4)
def _cached_discriminator(workdir: str) -> Extractor:
  return discriminator_extractor(workdir)

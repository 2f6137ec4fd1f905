"""Neural style transfer (Gatys et al. 2016; AdaIN statistics, Huang & Belongie
2017) as pure JAX, with feature extractors that need no download.

The pixels of a batch of content images are optimised so that their deep
features match the content image's (content loss) and their feature
statistics match the style image's (Gram matrices and/or per-channel mean and
std), plus a total-variation term. The loop is a `lax.scan` of optax steps
inside one `jax.jit`; several styles run at once under `jax.vmap`.

Feature extractors (`get_extractor(spec)`):
  * "random" / "random:SEED": a multi-scale random-weight conv net
    (Ustyuzhaninov et al. 2016; He, Wang & Hopcroft 2016), deterministic from
    the seed (numpy RNG, identical on every backend), with unit-norm filters and
    a fixed per-layer scale that brings each layer to unit RMS on a 1/f-noise
    probe.
  * "discriminator:WORKDIR": the block features of a trained discriminator
    (`discriminator_extractor` also takes a loaded `Models`).
  * "vgg19:PATH": VGG-19 (vid_jax.models.vgg) with weights from a local .npz.
  * any callable `images [B,H,W,3] in [-1,1] -> list of [B,h,w,c]` features.

All losses are normalised per layer by the size of their target (relative
squared error), so layers of different scale weigh alike and the weights below
mean the same for every extractor.

The factory `neural_style_transform(...)` follows the optax mould
(NamedTuple of pure `init`/`update` functions, state in its own NamedTuple);
`neural_style` / `neural_style_multi` wrap it in a jitted scan.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vid_jax import inference
from vid_jax.errors import UserError
from vid_jax.models import vgg

__all__ = [
    "Extractor",
    "get_extractor",
    "random_extractor",
    "vgg19_extractor",
    "discriminator_extractor",
    "feature_extractor",
    "gram_matrix",
    "gram_loss",
    "adain_loss",
    "content_loss",
    "total_variation",
    "style_loss_value",
    "content_loss_value",
    "NeuralStyleState",
    "NeuralStyle",
    "neural_style_transform",
    "neural_style",
    "neural_style_multi",
    "neural_style_runner",
]

_EPS = 1e-8
_HI = jax.lax.Precision.HIGHEST

FeatureFn = Callable[[jax.Array], Sequence[jax.Array]]


# ----------------------------------------------------------------------------
# Extractors.
# ----------------------------------------------------------------------------


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
  return jax.lax.conv_general_dilated(
      x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _avg_pool2(x: jax.Array) -> jax.Array:
  b, h, w, c = x.shape
  x = x[:, :h - h % 2, :w - w % 2, :]
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _random_apply(params, images: jax.Array) -> list[jax.Array]:
  x = images.astype(jnp.float32)                          # [B, H, W, 3]
  feats = []
  for i, layer in enumerate(params):
    if i > 0 and min(x.shape[1], x.shape[2]) >= 2:
      x = _avg_pool2(x)                                   # next scale
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
def random_extractor(seed: int = 0, *,
                     widths: tuple[int, ...] = (32, 64, 128, 256),
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
    scales = np.asarray(_calibrate(tuple(jnp.asarray(k) for k in kernels),
                                   jnp.asarray(probe)))
  params = tuple({"kernel": jnp.asarray(k),
                  "scale": jnp.asarray(sc, jnp.float32)}
                 for k, sc in zip(kernels, scales))
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
                    style_layers: tuple[str, ...] = (
                        "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
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
  content = content_layer if content_layer in have else max(
      style, key=_vgg_layer_number)
  outputs = style + ((content,) if content not in style else ())
  module = vgg.VGG19(output_layers=outputs, pool=pool)
  return Extractor(
      name=f"vgg19:{path}",
      apply=lambda v, x: module.apply(v, x),
      params=variables,
      style_layers=tuple(range(len(style))),
      content_layers=(outputs.index(content),))


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
    _, feats = module.apply(variables, x, attrs, train=False,
                            return_features=True)
    return feats

  return Extractor(name=name, apply=apply, params=models.d_variables)


@functools.lru_cache(maxsize=32)
def feature_extractor(fn: FeatureFn, *,
                      style_layers: tuple[int, ...] | None = None,
                      content_layers: tuple[int, ...] | None = None
                     ) -> Extractor:
  """Wraps a feature function `images -> list of NHWC features`."""
  return Extractor(name=getattr(fn, "__name__", "features"),
                   apply=lambda _, x: fn(x), params=(),
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


# ----------------------------------------------------------------------------
# Losses (per image: [B]).
# ----------------------------------------------------------------------------


def gram_matrix(features: jax.Array) -> jax.Array:
  """Gram matrix per image, normalised by the pixel count.

  Args:
    features: [B, H, W, C].

  Returns:
    float32 [B, C, C].
  """
  b, h, w, c = features.shape
  f = features.astype(jnp.float32).reshape(b, h * w, c)
  return jnp.einsum("bnc,bnd->bcd", f, f, precision=_HI) / (h * w)


def _moments(features: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Per-channel mean and std: [B, H, W, C] -> 2 x [B, C]."""
  f = features.astype(jnp.float32)
  mean = jnp.mean(f, axis=(1, 2))
  var = jnp.mean((f - mean[:, None, None, :]) ** 2, axis=(1, 2))
  return mean, jnp.sqrt(var + _EPS)


def gram_loss(features: jax.Array, target_gram: jax.Array) -> jax.Array:
  """Relative squared Gram error ||G - T||^2 / ||T||^2.

  Args:
    features: [B, H, W, C].
    target_gram: [C, C] or [B, C, C].

  Returns:
    [B].
  """
  g = gram_matrix(features)
  t = jnp.broadcast_to(target_gram, g.shape)
  return jnp.sum((g - t) ** 2, axis=(1, 2)) / (
      jnp.sum(t * t, axis=(1, 2)) + _EPS)


def adain_loss(features: jax.Array, target_mean: jax.Array,
               target_std: jax.Array) -> jax.Array:
  """Relative squared error of per-channel mean and std (AdaIN statistics).

  Args:
    features: [B, H, W, C].
    target_mean: [C] or [B, C].
    target_std: [C] or [B, C].

  Returns:
    [B].
  """
  mean, std = _moments(features)
  tm = jnp.broadcast_to(target_mean, mean.shape)
  ts = jnp.broadcast_to(target_std, std.shape)
  err = jnp.sum((mean - tm) ** 2 + (std - ts) ** 2, axis=-1)
  return err / (jnp.sum(tm * tm + ts * ts, axis=-1) + _EPS)


def content_loss(features: jax.Array, target: jax.Array) -> jax.Array:
  """Relative squared feature error ||F - T||^2 / ||T||^2: [B,h,w,c] -> [B]."""
  f = features.astype(jnp.float32)
  t = target.astype(jnp.float32)
  axes = (1, 2, 3)
  return jnp.sum((f - t) ** 2, axis=axes) / (jnp.sum(t * t, axis=axes) + _EPS)


def total_variation(images: jax.Array) -> jax.Array:
  """Mean squared difference of neighbouring pixels: [B, H, W, C] -> [B]."""
  x = images.astype(jnp.float32)
  dy = jnp.mean((x[:, 1:] - x[:, :-1]) ** 2, axis=(1, 2, 3))
  dx = jnp.mean((x[:, :, 1:] - x[:, :, :-1]) ** 2, axis=(1, 2, 3))
  return dy + dx


def _layers(n: int, chosen: Sequence[int] | None, default: Sequence[int],
            what: str) -> tuple[int, ...]:
  idx = tuple(default if chosen is None else chosen)
  for i in idx:
    if not -n <= i < n:
      raise UserError(f"{what} layer index {i} out of range: the extractor "
                      f"returns {n} feature maps")
  if not idx:
    raise UserError(f"{what} layers are empty")
  return tuple(i % n for i in idx)


def _style_layers(ex: Extractor, n: int, chosen) -> tuple[int, ...]:
  return _layers(n, chosen if chosen is not None else ex.style_layers,
                 range(n), "style")


def _content_layers(ex: Extractor, n: int, chosen) -> tuple[int, ...]:
  return _layers(n, chosen if chosen is not None else ex.content_layers,
                 (n // 2,), "content")


_STYLE_KINDS = ("gram", "adain", "both")


def _style_targets(feats, layers, kind):
  """Targets of one style image's features (batch 1) -> dict of lists."""
  out = {}
  if kind in ("gram", "both"):
    out["gram"] = [gram_matrix(feats[i])[0] for i in layers]     # [C, C]
  if kind in ("adain", "both"):
    moments = [_moments(feats[i]) for i in layers]
    out["mean"] = [m[0] for m, _ in moments]                     # [C]
    out["std"] = [s[0] for _, s in moments]                      # [C]
  return out


def _style_term(feats, targets, layers, kind) -> jax.Array:
  """Mean over style layers of the chosen statistics' loss -> [B]."""
  terms = []
  for j, i in enumerate(layers):
    if kind in ("gram", "both"):
      terms.append(gram_loss(feats[i], targets["gram"][j]))
    if kind in ("adain", "both"):
      terms.append(adain_loss(feats[i], targets["mean"][j],
                              targets["std"][j]))
  return sum(terms) / len(terms)


def _as_style_batch(style: jax.Array) -> jax.Array:
  style = jnp.asarray(style)
  if style.ndim == 3:
    style = style[None]
  if style.ndim != 4 or style.shape[0] != 1 or style.shape[-1] != 3:
    raise UserError(f"style must be one image [H, W, 3] in [-1, 1]; got shape "
                    f"{tuple(style.shape)} (use neural_style_multi for "
                    "several styles)")
  return style.astype(jnp.float32)


@functools.lru_cache(maxsize=32)
def _style_loss_fn(ex: Extractor, kind: str, layers: tuple[int, ...] | None):
  def fn(params, images, style):
    feats = list(ex.apply(params, images))
    sf = list(ex.apply(params, style))
    idx = _style_layers(ex, len(feats), layers)
    return _style_term(feats, _style_targets(sf, idx, kind), idx, kind)
  return jax.jit(fn)


@functools.lru_cache(maxsize=32)
def _content_loss_fn(ex: Extractor, layers: tuple[int, ...] | None):
  def fn(params, images, content):
    feats = list(ex.apply(params, images))
    cf = list(ex.apply(params, content))
    idx = _content_layers(ex, len(feats), layers)
    return sum(content_loss(feats[i], cf[i]) for i in idx) / len(idx)
  return jax.jit(fn)


def style_loss_value(images: jax.Array, style: jax.Array, *,
                     extractor: str | Extractor | FeatureFn = "random",
                     kind: str = "gram",
                     layers: Sequence[int] | None = None) -> jax.Array:
  """Style loss of `images` against one style image under an extractor.

  The same (per-layer normalised) loss the optimisation uses; handy to score
  a result with a network other than the one optimised. Jitted and cached.

  Args:
    images: [B, H, W, 3] in [-1, 1].
    style: [H', W', 3] in [-1, 1].
    extractor: see `get_extractor`.
    kind: "gram", "adain" or "both".
    layers: style layer indices (None = the extractor's default).

  Returns:
    [B] relative style error (0 when the statistics match exactly).
  """
  if kind not in _STYLE_KINDS:
    raise UserError(f"style loss must be one of {_STYLE_KINDS}; got {kind!r}")
  ex = get_extractor(extractor)
  layers = None if layers is None else tuple(layers)
  return _style_loss_fn(ex, kind, layers)(ex.params, jnp.asarray(images),
                                          _as_style_batch(style))


def content_loss_value(images: jax.Array, content: jax.Array, *,
                       extractor: str | Extractor | FeatureFn = "random",
                       layers: Sequence[int] | None = None) -> jax.Array:
  """Relative content error of `images` against `content` ([B,H,W,3]) -> [B]."""
  ex = get_extractor(extractor)
  layers = None if layers is None else tuple(layers)
  return _content_loss_fn(ex, layers)(ex.params, jnp.asarray(images),
                                      jnp.asarray(content))


# ----------------------------------------------------------------------------
# The optimisation, optax style.
# ----------------------------------------------------------------------------


class NeuralStyleState(NamedTuple):
  """State of one neural style optimisation (a pytree)."""
  images: jax.Array         # [B, H, W, 3] float32, the pixels optimised
  opt_state: optax.OptState
  targets: dict             # content features and style statistics
  feature_params: Any       # extractor params (an argument, never a constant)
  step: jax.Array           # int32 []


class NeuralStyle(NamedTuple):
  """Pure functions of a neural style transfer (optax-style factory result).

  init(content [B,H,W,3], style [H',W',3], key, feature_params=None) -> state
  update(state) -> (state, metrics dict of scalars)
  loss(images, targets, feature_params) -> (total scalar, dict of [B] terms)
  """
  init: Callable[..., NeuralStyleState]
  update: Callable[[NeuralStyleState], tuple[NeuralStyleState, dict]]
  loss: Callable[..., tuple[jax.Array, dict]]
  extractor: Extractor


def neural_style_transform(
    extractor: str | Extractor | FeatureFn = "random", *,
    style_loss: str = "gram",
    content_weight: float = 1.0,
    style_weight: float = 10.0,
    tv_weight: float = 1.0,
    optimizer: str = "adam",
    learning_rate: float = 0.03,
    style_layers: Sequence[int] | None = None,
    content_layers: Sequence[int] | None = None,
    init: str = "content",
    init_noise: float = 0.0) -> NeuralStyle:
  """Builds the pure init/update functions of a neural style transfer.

  Args:
    extractor: see `get_extractor`.
    style_loss: "gram" (Gatys), "adain" (per-channel mean/std) or "both".
    content_weight: weight of the relative content error.
    style_weight: weight of the relative style error (mean over layers).
    tv_weight: weight of the total variation (pixels in [-1, 1]).
    optimizer: "adam" (pixels clipped to [-1, 1] after every step) or
      "lbfgs" (optax.lbfgs with zoom line search; clipped at the end; the
      line search is shared by the whole batch).
    learning_rate: Adam step size (ignored by L-BFGS, which searches it).
    style_layers: feature indices for style (None: extractor default, all).
    content_layers: feature indices for content (None: extractor default).
    init: "content" (start from the content image) or "noise" (uniform noise).
    init_noise: std of Gaussian noise added to a "content" start.

  Returns:
    NeuralStyle(init, update, loss, extractor).
  """
  ex = get_extractor(extractor)
  if style_loss not in _STYLE_KINDS:
    raise UserError(f"style_loss must be one of {_STYLE_KINDS}; got "
                    f"{style_loss!r}")
  if init not in ("content", "noise"):
    raise UserError(f"init must be 'content' or 'noise'; got {init!r}")
  if optimizer == "adam":
    tx = optax.adam(learning_rate)
  elif optimizer == "lbfgs":
    tx = optax.lbfgs()
  else:
    raise UserError(f"optimizer must be 'adam' or 'lbfgs'; got {optimizer!r}")
  style_layers = None if style_layers is None else tuple(style_layers)
  content_layers = None if content_layers is None else tuple(content_layers)

  def loss(images, targets, feature_params):
    feats = list(ex.apply(feature_params, images))
    n = len(feats)
    s_idx = _style_layers(ex, n, style_layers)
    c_idx = _content_layers(ex, n, content_layers)
    c = sum(content_loss(feats[i], t)
            for i, t in zip(c_idx, targets["content"])) / len(c_idx)
    s = _style_term(feats, targets["style"], s_idx, style_loss)
    tv = total_variation(images)
    per_image = content_weight * c + style_weight * s + tv_weight * tv
    terms = {"content": c, "style": s, "tv": tv, "loss": per_image}
    # Sum over the batch: with Adam every image is optimised independently.
    return jnp.sum(per_image), terms

  def init_fn(content, style, key, feature_params=None):
    if feature_params is None:
      feature_params = ex.params
    content = jnp.asarray(content)
    if content.ndim != 4 or content.shape[-1] != 3:
      raise UserError(f"content must be [B, H, W, 3] in [-1, 1]; got shape "
                      f"{tuple(content.shape)}")
    content = content.astype(jnp.float32)
    style = _as_style_batch(style)
    cf = list(ex.apply(feature_params, content))
    sf = list(ex.apply(feature_params, style))
    n = len(cf)
    s_idx = _style_layers(ex, n, style_layers)
    c_idx = _content_layers(ex, n, content_layers)
    targets = {
        "content": [jax.lax.stop_gradient(cf[i]) for i in c_idx],
        "style": jax.lax.stop_gradient(_style_targets(sf, s_idx, style_loss)),
    }
    if init == "content":
      x0 = content
      if init_noise > 0:
        x0 = x0 + init_noise * jax.random.normal(key, content.shape)
    else:
      x0 = jax.random.uniform(key, content.shape, minval=-1.0, maxval=1.0)
    x0 = jnp.clip(x0, -1.0, 1.0)
    return NeuralStyleState(images=x0, opt_state=tx.init(x0), targets=targets,
                            feature_params=feature_params,
                            step=jnp.zeros([], jnp.int32))

  def update(state):
    def value_fn(x):
      return loss(x, state.targets, state.feature_params)[0]

    if optimizer == "adam":
      (_, terms), grad = jax.value_and_grad(loss, has_aux=True)(
          state.images, state.targets, state.feature_params)
      updates, opt_state = tx.update(grad, state.opt_state, state.images)
      images = jnp.clip(optax.apply_updates(state.images, updates), -1.0, 1.0)
    else:
      value, grad = optax.value_and_grad_from_state(value_fn)(
          state.images, state=state.opt_state)
      updates, opt_state = tx.update(grad, state.opt_state, state.images,
                                     value=value, grad=grad, value_fn=value_fn)
      images = optax.apply_updates(state.images, updates)
      terms = loss(state.images, state.targets, state.feature_params)[1]
    metrics = {k: jnp.mean(v) for k, v in terms.items()}
    return state._replace(images=images, opt_state=opt_state,
                          step=state.step + 1), metrics

  return NeuralStyle(init=init_fn, update=update, loss=loss, extractor=ex)


@functools.lru_cache(maxsize=32)
def _runner(ex: Extractor, steps: int, multi: bool, hparams: tuple):
  """Jitted `(feature_params, content, style(s), key) -> (images, metrics)`."""
  t = neural_style_transform(ex, **dict(hparams))

  def run(feature_params, content, style, key):
    state = t.init(content, style, key, feature_params)
    state, metrics = jax.lax.scan(lambda s, _: t.update(s), state, None,
                                  length=steps)
    return jnp.clip(state.images, -1.0, 1.0), metrics   # metrics: [steps]

  if multi:
    run = jax.vmap(run, in_axes=(None, None, 0, None))
  return jax.jit(run)


def neural_style_runner(extractor: str | Extractor | FeatureFn = "random", *,
                        steps: int = 200, multi: bool = False,
                        **hparams) -> tuple[Callable, Extractor]:
  """The jitted loop behind `neural_style`, for AOT compile or benchmarks.

  Args:
    extractor: see `get_extractor`.
    steps: optimisation steps.
    multi: vmap over a leading style axis (as `neural_style_multi`).
    **hparams: as `neural_style_transform`.

  Returns:
    (fn, extractor): `fn(extractor.params, content, style, key) -> (images,
    metrics)`, a `jax.jit` function (so `fn.lower(...).compile()` works).
  """
  if steps < 1:
    raise UserError(f"steps must be >= 1; got {steps}")
  ex = get_extractor(extractor)
  return _runner(ex, int(steps), bool(multi),
                 tuple(sorted(_freeze(hparams).items()))), ex


def _run(content, style, key, extractor, steps, multi, hparams,
         return_metrics):
  if steps < 1:
    raise UserError(f"steps must be >= 1; got {steps}")
  content = jnp.asarray(content)
  if not jnp.issubdtype(content.dtype, jnp.floating):
    raise UserError(f"content must be float in [-1, 1]; got dtype "
                    f"{content.dtype} (convert uint8 with x / 127.5 - 1)")
  ex = get_extractor(extractor)
  images, metrics = _runner(ex, int(steps), multi,
                            tuple(sorted(hparams.items())))(
                                ex.params, content, style, key)
  images = images.astype(content.dtype)
  return (images, metrics) if return_metrics else images


def _freeze(hparams: dict) -> dict:
  for k in ("style_layers", "content_layers"):
    if hparams.get(k) is not None:
      hparams[k] = tuple(hparams[k])
  return hparams


def neural_style(content: jax.Array, style: jax.Array, key: jax.Array, *,
                 extractor: str | Extractor | FeatureFn = "random",
                 steps: int = 200, return_metrics: bool = False,
                 **hparams) -> jax.Array | tuple[jax.Array, dict]:
  """Stylizes a batch of content images with one style image.

  Args:
    content: [B, H, W, 3] in [-1, 1].
    style: [H', W', 3] in [-1, 1] (any size).
    key: PRNG key for the start image ("noise" init or `init_noise`).
    extractor: "random", "random:SEED", "discriminator:WORKDIR",
      "vgg19:PATH", an Extractor or a feature function.
    steps: optimisation steps (one lax.scan inside one jit; compiled once per
      extractor, shapes and hparams).
    return_metrics: also return the per-step metrics (dict of [steps]).
    **hparams: keyword hparams of `neural_style_transform` (style_loss,
      content_weight, style_weight, tv_weight, optimizer, learning_rate,
      style_layers, content_layers, init, init_noise).

  Returns:
    [B, H, W, 3] in [-1, 1] (the content dtype), or (images, metrics).
  """
  return _run(content, style, key, extractor, steps, False, _freeze(hparams),
              return_metrics)


def neural_style_multi(content: jax.Array, styles: jax.Array, key: jax.Array,
                       *, extractor: str | Extractor | FeatureFn = "random",
                       steps: int = 200, return_metrics: bool = False,
                       **hparams) -> jax.Array | tuple[jax.Array, dict]:
  """Stylizes a batch of contents with each of several styles (vmap).

  Args:
    content: [B, H, W, 3] in [-1, 1].
    styles: [S, H', W', 3] in [-1, 1].
    key: PRNG key (shared by the styles).
    extractor, steps, return_metrics, **hparams: as in `neural_style`.

  Returns:
    [S, B, H, W, 3] in [-1, 1], or (images, metrics dict of [S, steps]).
  """
  styles = jnp.asarray(styles)
  if styles.ndim != 4 or styles.shape[-1] != 3:
    raise UserError(f"styles must be [S, H, W, 3] in [-1, 1]; got shape "
                    f"{tuple(styles.shape)}")
  return _run(content, styles, key, extractor, steps, True, _freeze(hparams),
              return_metrics)

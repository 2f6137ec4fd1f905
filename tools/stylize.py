r"""Stylizes images or generated avatars and writes an (input | stylized) grid.

Examples:
  python tools/stylize.py --input=photo.png --size=128 --style=cartoon \
      --out=/tmp/cartoon.png
  python tools/stylize.py --input=samples.npz --style=reinhard:ref.png \
      --out=/tmp/reinhard.png
  python tools/stylize.py --workdir=/tmp/run --num=8 --style=neural:starry.png \
      --extractor=discriminator --steps=300 --out=/tmp/neural.png

--input is an image file (PNG/JPEG, one image) or an .npz holding uint8
[N, H, W, 3] under "images" (what tools/generate.py writes). --workdir alone
generates --num avatars with the run's EMA generator (seeded by --seed).
--extractor=discriminator uses the discriminator of --workdir (which may be
given together with --input for that purpose); discriminator:DIR names
another run. Each output row pairs an input with its stylized version.
"""

import math
import os
import sys

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from vid_jax import inference
from vid_jax.errors import UserError
from vid_jax.refiners import style as st

_INPUT = flags.DEFINE_string("input", None, "Image file or .npz (uint8 NHWC "
                             "under 'images').")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Training run: generate "
    "--num avatars (when no --input) and/or the "
    "discriminator for --extractor=discriminator.")
_NUM = flags.DEFINE_integer("num", 8, "Avatars to generate from --workdir.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed for generation and neural "
                             "init.")
_STYLE = flags.DEFINE_string(
    "style", None, "sketch | cartoon | pixel_art | posterize | duotone | "
    "reinhard:REF.png | neural:STYLE.png")
_EXTRACTOR = flags.DEFINE_string(
    "extractor", "random", "Neural features: random[:SEED] | discriminator"
    "[:WORKDIR] | vgg19:WEIGHTS.npz")
_STEPS = flags.DEFINE_integer("steps", 200, "Neural optimisation steps.")
_STYLE_LOSS = flags.DEFINE_enum("style_loss", "gram", ["gram", "adain", "both"], "Neural style statistics.")
_STYLE_WEIGHT = flags.DEFINE_float("style_weight", 10.0, "Neural style "
                                   "weight (content weight is 1).")
_SIZE = flags.DEFINE_integer(
    "size", None, "Resize (shorter side, then centre "
    "crop) inputs and references to SIZE x SIZE.")
_OUT = flags.DEFINE_string("out", None, "Output PNG.")


def _fail(msg):
  raise UserError(msg)


def _square(img, size):
  """uint8 [H, W, 3] -> [size, size, 3]: shorter side to size, centre crop."""
  h, w = img.shape[:2]
  s = size / min(h, w)
  nh, nw = max(size, round(h * s)), max(size, round(w * s))
  im = Image.fromarray(img).resize((nw, nh), Image.LANCZOS)
  top, left = (nh - size) // 2, (nw - size) // 2
  return np.asarray(im)[top:top + size, left:left + size]


def _read_image(path, what):
  if not os.path.isfile(path):
    _fail(f"{what} {path!r} not found")
  try:
    with Image.open(path) as im:
      return np.asarray(im.convert("RGB"))
  except Exception as e:  # PIL raises several types for bad files
    _fail(f"cannot read {what} {path!r} as an image ({e})")


def _load_inputs(path):
  """-> uint8 [N, H, W, 3]."""
  if path.endswith(".npz"):
    if not os.path.isfile(path):
      _fail(f"--input {path!r} not found")
    with np.load(path) as f:
      if "images" not in f.files:
        _fail(f"--input {path!r} has no 'images' array (keys: {f.files}); "
              "expected uint8 [N, H, W, 3] as tools/generate.py writes")
      images = f["images"]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
      _fail(f"--input {path!r}: 'images' must be uint8 [N, H, W, 3]; got "
            f"{images.dtype} {images.shape}")
    return images
  return _read_image(path, "--input")[None]


def _generate(workdir, num, seed):
  """-> uint8 [num, R, R, 3]: the avatars `tools/generate.py --seed` draws."""
  models = inference.load_models(workdir)
  k_z, k_y = jax.random.split(jax.random.PRNGKey(seed))
  z = jax.random.normal(k_z, (num, models.z_dim))
  attrs = models.sample_attributes(k_y, num)  # None when unconditional
  images = np.asarray(jax.jit(models.generate)(z, attrs), np.float32)
  return np.round((images + 1.0) * 127.5).clip(0, 255).astype(np.uint8)


def _grid(inputs, outputs):
  """Pairs (input | stylized), tiled ceil(sqrt(N)) pairs per row."""
  n, h, w, _ = inputs.shape
  per_row = math.ceil(math.sqrt(n))
  rows = math.ceil(n / per_row)
  grid = np.full((rows * h, per_row * 2 * w, 3), 255, np.uint8)
  for i in range(n):
    r, c = divmod(i, per_row)
    grid[r * h:(r + 1) * h, c * 2 * w:c * 2 * w + w] = inputs[i]
    grid[r * h:(r + 1) * h, c * 2 * w + w:(c + 1) * 2 * w] = outputs[i]
  return grid


def run():
  """Parses the flags, stylizes and writes the grid."""

  if not _STYLE.value:
    _fail("--style is required (sketch, cartoon, pixel_art, posterize, "
          "duotone, reinhard:REF.png or neural:STYLE.png)")
  if not _OUT.value:
    _fail("--out is required (a .png path)")
  name, _, ref_path = _STYLE.value.partition(":")
  if name not in st.STYLE_NAMES:
    _fail(f"unknown --style {_STYLE.value!r}; choose one of "
          f"{', '.join(st.STYLE_NAMES)} (reinhard:REF.png, neural:STYLE.png)")
  if name in ("reinhard", "neural") and not ref_path:
    _fail(f"--style={name} needs an image: --style={name}:PATH.png")
  if _SIZE.value is not None and _SIZE.value < 8:
    _fail(f"--size must be >= 8; got {_SIZE.value}")

  if _INPUT.value:
    images = _load_inputs(_INPUT.value)
  elif _WORKDIR.value:
    if _NUM.value < 1:
      _fail(f"--num must be >= 1; got {_NUM.value}")
    images = _generate(_WORKDIR.value, _NUM.value, _SEED.value)
  else:
    _fail("give --input=IMAGE_OR_NPZ or --workdir=RUN_DIR")
  if _SIZE.value:
    images = np.stack([_square(im, _SIZE.value) for im in images])

  kwargs, reference = {}, None
  if ref_path:
    ref = _read_image(ref_path, "style image")
    if _SIZE.value:
      ref = _square(ref, _SIZE.value)
    reference = jnp.asarray(ref, jnp.float32) / 127.5 - 1.0
  if name == "neural":
    extractor = _EXTRACTOR.value
    if extractor == "discriminator":
      if not _WORKDIR.value:
        _fail("--extractor=discriminator needs --workdir (or use "
              "--extractor=discriminator:WORKDIR)")
      extractor = f"discriminator:{_WORKDIR.value}"
    kwargs = dict(extractor=extractor, steps=_STEPS.value, style_loss=_STYLE_LOSS.value,
                  style_weight=_STYLE_WEIGHT.value)
  x = jnp.asarray(images, jnp.float32) / 127.5 - 1.0  # [N, H, W, 3]
  out = st.stylize(x, name, reference=reference, key=jax.random.PRNGKey(_SEED.value), **kwargs)
  out = np.round((np.asarray(out, np.float32) + 1.0) * 127.5)
  out = out.clip(0, 255).astype(np.uint8)
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  Image.fromarray(_grid(images, out)).save(_OUT.value)
  print(f"wrote {_OUT.value}: {len(images)} x (input | {_STYLE.value})")


def main(argv):
  if len(argv) > 1:
    print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
    sys.exit(2)
  try:
    run()
  except (UserError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  app.run(main)

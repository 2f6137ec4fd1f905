r"""Turns photos or avatars into the generator's nearest avatars, then edits and restyles them.

  python tools/encode.py --input=photo.png --out=out/                    # the shipped zoo:encoder
  python tools/encode.py --encoder_workdir=runs/encoder --input=photos/ --edit=+Eyeglasses,-Smiling \
      --style=sketch --steps=50 --out=out/ --npz=out/avatars.npz

`--input`: an image file, a folder of images, or an .npz with uint8 NHWC `images`; any size or aspect
is centre-cropped and resized (a note says so). Per input NAME, `--out` gets NAME_reconstruction.png,
NAME_edited.png (with --edit) and NAME_strip.png (input | reconstruction | edited, 4x). `--npz` writes
uint8 NHWC `reconstructions` (and `edited`) in input order, with `names` and the latents `z`.
The encoder's workdir names its GAN and classifier, so no other model flag is needed.
"""
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging
from PIL import Image

from vid_jax import writer
from vid_jax.data import photos
from vid_jax.data.loader import to_uint8
from vid_jax.encoder import apply_edits, check_edits, load_encoder, parse_edits
from vid_jax.errors import UserError
from vid_jax.identity.avatar import STYLES
from vid_jax.refiners import gan_inversion
from vid_jax.refiners import style as style_lib

_ENCODER = flags.DEFINE_string("encoder_workdir", "zoo:encoder",
                               "The encoder: a tools/train_encoder.py workdir or a zoo entry.")
_INPUT = flags.DEFINE_string("input", None,
                             "An image file, a folder of images, or an .npz with uint8 `images`.")
_EDIT = flags.DEFINE_string("edit", "", "Attributes to add (+) or remove (-), e.g. +Eyeglasses,-Smiling.")
_STYLE = flags.DEFINE_string("style", "none", f"Look of the outputs: {', '.join(STYLES)}.")
_STEPS = flags.DEFINE_integer(
    "steps", None, "Inversion steps after the encoder (default: the encoder's "
    "config, 50; 0 = the encoder alone).")
_OUT = flags.DEFINE_string("out", None, "Output folder (PNG files per input).")
_NPZ = flags.DEFINE_string("npz", "", "Also write the outputs to this .npz (uint8 NHWC).")
_SEED = flags.DEFINE_integer(
    "seed", -1, "-1: start from the posterior mean; else sample the start from "
    "q(z | x) with this seed.")
flags.mark_flags_as_required(["input", "out"])
MAX_BATCH = 64
UPSCALE = 4


def _batches(n: int):
  """(start, size) of each call; one compiled size, the smallest power of two >= min(n, MAX_BATCH)."""
  size = 1 << (min(n, MAX_BATCH) - 1).bit_length()
  return [(s, size) for s in range(0, n, size)]


def run():
  edits = parse_edits(_EDIT.value)
  if _STYLE.value not in STYLES:
    raise UserError(f"--style={_STYLE.value!r} is unknown; use one of {', '.join(STYLES)}")
  if _STEPS.value is not None and _STEPS.value < 0:
    raise UserError(f"--steps={_STEPS.value}: give 0 (the encoder alone) or more Adam steps")
  if _NPZ.value and not _NPZ.value.endswith(".npz"):
    raise UserError(f"--npz={_NPZ.value}: give a file name ending in .npz")
  enc = load_encoder(_ENCODER.value)
  check_edits(edits, g_names=enc.frozen.g_names, directions=enc.directions)  # before any work
  inputs = photos.read_inputs(_INPUT.value, size=enc.frozen.resolution)
  for note in inputs.notes:
    print(f"note: {note}", file=sys.stderr)
  n = len(inputs.images)
  z_all, rec_all, ed_all, y_all = [], [], [], []
  for start, size in _batches(n):
    x = inputs.images[start:start + size]
    k = len(x)
    if k < size:
      x = np.concatenate([x, np.repeat(x[-1:], size - k, 0)])
    key = None if _SEED.value < 0 else jax.random.PRNGKey(_SEED.value + start)
    res = gan_inversion.invert(x, encoder=enc, steps=_STEPS.value, key=key)
    rec = res.reconstructions
    if edits:
      z, y = apply_edits(res.z, res.y, edits, g_names=enc.frozen.g_names, directions=enc.directions)
      ed_all.append(np.asarray(enc.frozen.generate(enc.frozen.variables(), z, y))[:k])
    z_all.append(np.asarray(res.z)[:k])
    y_all.append(np.asarray(res.y)[:k])
    rec_all.append(np.asarray(rec)[:k])
  rec = np.concatenate(rec_all)
  plain_u8, y_cat = to_uint8(rec), np.concatenate(y_all)  # before the style: the PSNR and the reading
  edited = np.concatenate(ed_all) if edits else None
  if _STYLE.value != "none":
    rec = np.asarray(style_lib.stylize(jnp.asarray(rec), _STYLE.value))
    edited = None if edited is None else np.asarray(style_lib.stylize(jnp.asarray(edited), _STYLE.value))
  rec_u8, ed_u8 = to_uint8(rec), None if edited is None else to_uint8(edited)
  os.makedirs(_OUT.value, exist_ok=True)
  g_names = enc.frozen.g_names
  for i, name in enumerate(inputs.names):
    panels = [inputs.images[i], rec_u8[i]] + ([] if ed_u8 is None else [ed_u8[i]])
    writer.save_png(os.path.join(_OUT.value, f"{name}_reconstruction.png"), rec_u8[i])
    if ed_u8 is not None:
      writer.save_png(os.path.join(_OUT.value, f"{name}_edited.png"), ed_u8[i])
    strip = np.concatenate(panels, axis=1)
    big = Image.fromarray(strip).resize((strip.shape[1] * UPSCALE, strip.shape[0] * UPSCALE), Image.NEAREST)
    big.save(os.path.join(_OUT.value, f"{name}_strip.png"))
    mse = np.mean(np.square(inputs.images[i].astype(np.float64) - plain_u8[i].astype(np.float64)))
    reads = [a for a, v in zip(g_names, y_cat[i]) if v > 0.5]
    print(
        json.dumps({
            "input": name,
            "psnr_db": round(10 * np.log10(255**2 / max(mse, 1e-10)), 2),
            "attributes": reads,
            "strip": os.path.join(_OUT.value, f"{name}_strip.png")
        }))
  if _NPZ.value:
    arrays = {"reconstructions": rec_u8, "names": np.asarray(inputs.names), "z": np.concatenate(z_all)}
    if ed_u8 is not None:
      arrays["edited"] = ed_u8
    os.makedirs(os.path.dirname(os.path.abspath(_NPZ.value)), exist_ok=True)
    np.savez(_NPZ.value, **arrays)
  print(f"{photos.describe(inputs)} -> {_OUT.value}" + (f" and {_NPZ.value}" if _NPZ.value else ""),
        file=sys.stderr)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not flags.FLAGS["verbosity"].present:  # orbax logs every restore at INFO
    logging.set_verbosity(logging.ERROR)
  try:
    run()
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)

"""The encoder's held-out evaluation (metrics.json, docs/encoder.md).

On avatars of a dataset seed the training never saw: reconstruction PSNR (uint8 images, median and
10th percentile) encoder-only and with the inversion's refinement; the classifier's agreement between
input and reconstruction over G's attributes and over the others the data varies; edit success
(+Eyeglasses on inputs without them, and +A along each direction on inputs without A: the classifier
sees A on the edited avatar, and how many other attributes it still reads as on the reconstruction);
the generator's limit (the PSNR a long inversion reaches).
"""
from __future__ import annotations

import time

import jax
import numpy as np

from vid_jax.data.avatar_source import AvatarSource
from vid_jax.encoder.directions import apply_edits
from vid_jax.refiners.gan_inversion import invert

EDIT_ATTRIBUTE = "Eyeglasses"


def psnr_uint8(a, b) -> np.ndarray:
  """Per-image PSNR in dB of two [B, H, W, 3] float images in [-1, 1], both quantised to uint8."""
  q = lambda x: np.clip(np.rint((np.asarray(x, np.float64) + 1.0) * 127.5), 0, 255)
  mse = np.mean(np.square(q(a) - q(b)), axis=(1, 2, 3))
  return 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def _summary(psnr, agree_g, agree_o) -> dict:
  return {
      "psnr_median": round(float(np.median(psnr)), 3),
      "psnr_p10": round(float(np.percentile(psnr, 10)), 3),
      "agreement_g": round(float(agree_g), 4),
      "agreement_other": round(float(agree_o), 4)
  }


def evaluate(models, *, seed: int, num_images: int, batch_size: int, limit_images: int,
             limit_steps: int) -> dict:
  """The figures above on `num_images` avatars of dataset seed `seed` (see the module docstring)."""
  t0 = time.perf_counter()
  frozen, fvars = models.frozen, models.frozen.variables()
  src = AvatarSource(size=frozen.resolution, seed=seed, num_examples=num_images)
  batch = src.get_batch(np.arange(num_images))  # rendered once
  images, truth = batch["image"], batch["attributes"]  # uint8 [N, R, R, 3], bool [N, 40]
  c_names, g_names = frozen.c_names, frozen.g_names
  varying = [i for i in range(len(c_names)) if 0 < truth[:, i].mean() < 1]
  g_cols = [c_names.index(n) for n in g_names]
  o_cols = [i for i in varying if c_names[i] not in g_names]
  classify = jax.jit(lambda x: frozen.classify(fvars, x)[0] > 0)
  generate = jax.jit(lambda z, y: frozen.generate(fvars, z, y))
  steps = int(models.inversion["steps"])
  rows = {k: [] for k in ("x", "enc", "ref", "p_in", "p_enc", "p_ref", "z", "y")}
  for s in range(0, num_images, batch_size):
    x = images[s:s + batch_size]
    if len(x) < batch_size:  # one compiled shape: pad, then drop the padding
      x = np.concatenate([x, np.repeat(x[-1:], batch_size - len(x), 0)])
    n = min(batch_size, num_images - s)
    enc = invert(x, encoder=models, steps=0)
    ref = invert(x, encoder=models, steps=steps)
    xf = x.astype(np.float32) / 127.5 - 1.0
    for k, v in (("x", xf), ("enc", enc.reconstructions), ("ref", ref.reconstructions),
                 ("p_in", classify(xf)), ("p_enc", classify(enc.reconstructions)),
                 ("p_ref", classify(ref.reconstructions)), ("z", ref.z), ("y", ref.y)):
      rows[k].append(np.asarray(v)[:n])
  r = {k: np.concatenate(v) for k, v in rows.items()}

  def agreement(p, cols):
    return float(np.mean(p[:, cols] == r["p_in"][:, cols])) if cols else float("nan")

  out = {"heldout": {"dataset_seed": seed, "images": num_images}}
  out["encoder_only"] = _summary(psnr_uint8(r["x"], r["enc"]), agreement(r["p_enc"], g_cols),
                                 agreement(r["p_enc"], o_cols))
  out["refined"] = {
      "steps": steps
  } | _summary(psnr_uint8(r["x"], r["ref"]), agreement(r["p_ref"], g_cols), agreement(r["p_ref"], o_cols))
  out["refinement_gain_db"] = round(out["refined"]["psnr_median"] - out["encoder_only"]["psnr_median"], 3)

  def edit(name, others):
    col = c_names.index(name)
    idx = np.flatnonzero(~r["p_in"][:, col])
    if not len(idx):
      return {"inputs": 0}
    z, y = apply_edits(r["z"][idx], r["y"][idx], ((name, 1),), g_names=g_names, directions=models.directions)
    p = np.asarray(classify(generate(z, y)))
    same = lambda cols: round(float(np.mean(p[:, cols] == r["p_ref"][idx][:, cols])), 4)
    return {
        "inputs": int(len(idx)),
        "success": round(float(p[:, col].mean()), 4),
        "others_unchanged": same([i for i in others if i != col]),
        "others_unchanged_g": same([i for i in g_cols if i != col]),
        "others_unchanged_other": same([i for i in o_cols if i != col])
    }

  out["edit_" + EDIT_ATTRIBUTE.lower()] = edit(EDIT_ATTRIBUTE, g_cols + o_cols)  # G's bit: y flipped
  out["edit_directions"] = {
      n: edit(n, g_cols + o_cols) for n in models.directions.names if c_names.index(n) in varying
  }
  if limit_steps and limit_images:
    # Pixel MSE alone: the best PSNR G reaches for these images, whatever the encoder and the other terms.
    lim = invert(images[:limit_images], encoder=models, steps=limit_steps, weights={
        "pixel": 1.0,
        "d_feature": 0.0,
        "encoder": 0.0
    })
    p = psnr_uint8(images[:limit_images].astype(np.float32) / 127.5 - 1.0, lim.reconstructions)
    same = psnr_uint8(images[:limit_images].astype(np.float32) / 127.5 - 1.0, r["ref"][:limit_images])
    out["generator_limit"] = {
        "images": int(limit_images),
        "steps": int(limit_steps),
        "loss": "pixel",
        "refined_psnr_median_same_images": round(float(np.median(same)), 3),
        "psnr_median": round(float(np.median(p)), 3),
        "psnr_p10": round(float(np.percentile(p, 10)), 3)
    }
  out["eval_s"] = round(time.perf_counter() - t0, 1)
  return out


def flat_scalars(d: dict, prefix: str = "") -> dict:
  """The numeric leaves of a nested dict as {'a/b': value}."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out |= flat_scalars(v, f"{prefix}{k}/")
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
      out[f"{prefix}{k}"] = float(v)
  return out

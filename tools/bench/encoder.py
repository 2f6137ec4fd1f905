r"""Speed of the encoder and of GAN inversion (docs/encoder.md).

  python tools/bench/encoder.py                       # zoo:avatar_gan + zoo:classifier, batch 64
  python tools/bench/encoder.py --steps=50 --reps=3

Prints one JSON line: encoder images/s at --batch (jitted, compile excluded, median of --reps) beside
its peer of the same size measured in the same run, the GAN's discriminator (forward only); the
encoder-only inversion (encode, the classifier's reading, G) and the refined one (--steps Adam steps
per image) in images/s. Speed does not depend on the weights: the encoder is freshly initialised
(--width), the GAN and classifier are the given ones.
"""
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from vid_jax.config import load_config_file
from vid_jax.encoder import train as encoder_train

from vid_jax.encoder.bundle import EncoderModels
from vid_jax.encoder.directions import Directions
from vid_jax.encoder.frozen import load_frozen
from vid_jax.errors import UserError
from vid_jax.models.encoder import Encoder
from vid_jax.models.layers import resolve_conv_impl
from vid_jax.refiners import gan_inversion

_GAN = flags.DEFINE_string("gan_workdir", "zoo:avatar_gan", "Conditional GAN: a workdir or a zoo entry.")
_CLASSIFIER = flags.DEFINE_string("classifier_workdir", "zoo:classifier",
                                  "Classifier: a workdir or a zoo entry.")
_BATCH = flags.DEFINE_integer("batch", 64, "Images per call.")
_WIDTH = flags.DEFINE_integer("width", 32, "Encoder width (configs/encoder_avatars.py: 32).")
_STEPS = flags.DEFINE_integer("steps", 50, "Refinement steps of the timed inversion.")
_REPS = flags.DEFINE_integer("reps", 5, "Timed repetitions (the refined inversion: max(1, reps // 2)).")
_TRAIN = flags.DEFINE_bool(
    "train", True, "Also time the two training stages' steps (configs/encoder_avatars.py "
    "weights, --batch) and project the config's training time from them.")


def _time(fn, *args, reps):
  t0 = time.perf_counter()
  jax.block_until_ready(fn(*args))
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return compile_s, float(np.median(times))


def main(argv):
  del argv
  try:
    frozen = load_frozen(gan_workdir=_GAN.value, classifier_workdir=_CLASSIFIER.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  b, r = _BATCH.value, frozen.resolution
  module = Encoder(resolution=r, width=_WIDTH.value, z_dim=frozen.z_dim, conv_impl=resolve_conv_impl("auto"))
  params = module.init(jax.random.key(0), jnp.zeros((1, r, r, 3)))["params"]
  enc = EncoderModels(
      module=module, params=params, frozen=frozen, directions=Directions(
          (), np.zeros((0, frozen.z_dim), np.float32), np.zeros((0,), np.float32)), inversion={
              "steps": _STEPS.value,
              "lr": 0.05,
              "pixel": 1.0,
              "d_feature": 0.5,
              "encoder": 0.1
          }, meta={"step": 0})
  fvars = frozen.variables()
  y = frozen.gan.sample_attributes(jax.random.key(1), b)
  x = frozen.generate(fvars, jax.random.normal(jax.random.key(2), (b, frozen.z_dim)), y)
  images = np.clip(np.rint((np.asarray(x) + 1.0) * 127.5), 0, 255).astype(np.uint8)
  result = {
      "what": "encoder and inversion speed",
      "backend": jax.default_backend(),
      "device": str(jax.devices()[0].device_kind),
      "cpu_count": os.cpu_count(),
      "machine": platform.machine(),
      "batch": b,
      "resolution": r,
      "encoder_width": _WIDTH.value,
      "encoder_params": int(sum(np.prod(p.shape) for p in jax.tree.leaves(params))),
      "reps": _REPS.value
  }
  encode = jax.jit(lambda p, imgs: module.apply({"params": p}, imgs))
  d_fwd = jax.jit(lambda v, imgs, yy: frozen.discriminate(v, imgs, yy)[0])
  c_enc, t_enc = _time(encode, params, x, reps=_REPS.value)
  c_d, t_d = _time(d_fwd, fvars, x, y, reps=_REPS.value)
  result["encoder_images_per_s"] = round(b / t_enc, 1)
  result["discriminator_images_per_s"] = round(b / t_d, 1)
  result["encoder_vs_discriminator"] = round(t_d / t_enc, 3)
  result["compile_s"] = {"encoder": round(c_enc, 2), "discriminator": round(c_d, 2)}
  inv = lambda steps: gan_inversion.invert(images, encoder=enc, steps=steps)
  c0, t0 = _time(lambda: inv(0), reps=_REPS.value)
  result["invert_encoder_only_images_per_s"] = round(b / t0, 1)
  c1, t1 = _time(lambda: inv(_STEPS.value), reps=max(1, _REPS.value // 2))
  result["invert_refined"] = {
      "steps": _STEPS.value,
      "images_per_s": round(b / t1, 2),
      "ms_per_step": round(1000 * t1 / max(1, _STEPS.value), 1)
  }
  result["compile_s"] |= {"invert": round(c0, 2), "invert_refined_first_call": round(c1, 2)}
  if _TRAIN.value:
    result["train"] = _train_speed(frozen, module, images)
  print(json.dumps(result))


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train_speed(frozen, module, images):
  """Median seconds per step of each stage (compile excluded) and the config's projected training time."""
  config = load_config_file(os.path.join(REPO, "configs", "encoder_avatars.py"))
  config.encoder.batch_size = _BATCH.value
  config.encoder.width = _WIDTH.value
  opts = encoder_train.options_from_config(config, device_count=1)
  tx = optax.adam(1e-4, b1=0.5)
  fvars = frozen.variables()
  out = {}
  for stage, fn in zip((1, 2), encoder_train.make_steps(module, tx, frozen, opts)):
    step = jax.jit(fn)
    params = module.init(jax.random.key(0), jnp.zeros((1, frozen.resolution, frozen.resolution, 3)))["params"]
    state = [params, tx.init(params)]

    def run(key):
      state[0], state[1], m = step(state[0], state[1], fvars, key, images)
      return m

    _, t = _time(run, jax.random.key(stage), reps=_REPS.value)
    out[f"stage{stage}_s_per_step"] = round(t, 3)
  steps = (config.encoder.stage1_steps, config.encoder.stage2_steps)
  out["config_steps"] = list(steps)
  out["projected_train_min"] = round(
      (steps[0] * out["stage1_s_per_step"] + steps[1] * out["stage2_s_per_step"]) / 60, 1)
  return out


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
  app.run(main)

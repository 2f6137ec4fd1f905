"""Generates avatars with a trained run's EMA generator (default: the shipped zoo:avatar_gan).

  python tools/generate.py --attrs=Smiling --num=64 --out=smiling.png      # the zoo's GAN (vid_jax/zoo.py)
  python tools/generate.py --workdir=runs/demo --num=64 --seed=0 --out=grid.png [--npz=samples.npz]
  python tools/generate.py --workdir=runs/cdcgan --attrs=Smiling,Eyeglasses --not=Male --out=smiling.png

For conditional runs, --attrs are set, --not are cleared, and every other
conditioned attribute is drawn from the training data's marginals.
"""
import sys

from absl import app, flags
import jax
import numpy as np

from vid_jax import inference, writer
from vid_jax.data.attributes import exclusive_request
from vid_jax.errors import UserError

_WORKDIR = flags.DEFINE_string(
    "workdir", "zoo:avatar_gan", "Training workdir (launch.py --workdir) or zoo entry "
    "(zoo:NAME or its folder); default the shipped zoo:avatar_gan.")
_NUM = flags.DEFINE_integer("num", 64, "Number of images.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of z (and sampled attributes).")
_OUT = flags.DEFINE_string("out", "samples.png", "Grid PNG path ('' = none).")
_NPZ = flags.DEFINE_string("npz", "", "Also write uint8 NHWC images under key `images` to this .npz.")
_ATTRS = flags.DEFINE_list("attrs", [], "Attributes to request (conditional runs).")
_NOT = flags.DEFINE_list("not", [], "Attributes to forbid (conditional runs).")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
_TRUNCATION = flags.DEFINE_float(
    "truncation", 0.0, "Latent truncation: 0 = z ~ N(0, I); t > 0 = each "
    "coordinate of z restricted to [-t, t] (nearer the mode, less varied).")


def main(argv):
  del argv
  try:
    if _NUM.value < 1:
      raise UserError(f"--num={_NUM.value}: give a positive number of images")
    truncation = inference.check_truncation(_TRUNCATION.value)
    models = inference.load_models(_WORKDIR.value, step=_STEP.value)
    k_z, k_y = jax.random.split(jax.random.PRNGKey(_SEED.value))
    z = inference.sample_latents(k_z, _NUM.value, models.z_dim, truncation)
    y = inference.request_attributes(models, k_y, _NUM.value, _ATTRS.value, getattr(flags.FLAGS, "not"))
    note = exclusive_request(_ATTRS.value, getattr(flags.FLAGS, "not"))[2]
    if note and y is not None:
      print(f"note: {note}", file=sys.stderr)
    images = writer.to_uint8(jax.device_get(jax.jit(models.generate)(z, y)))
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  if _OUT.value:
    writer.save_png(_OUT.value, writer.make_grid(images))
    print(f"wrote {_OUT.value} ({len(images)} images, step {models.step})")
  if _NPZ.value:
    extra = {} if y is None else {
        "attributes": np.asarray(y, np.uint8),
        "attribute_names": np.asarray(models.attribute_names)
    }
    np.savez(_NPZ.value, images=images, **extra)
    print(f"wrote {_NPZ.value}")


if __name__ == "__main__":
  app.run(main)

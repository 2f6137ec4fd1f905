"""Real avatars and the GAN's avatars for the same attribute requests, as one grid (docs' figures).

  python tools/real_vs_generated.py --out=docs/images/zoo_real_vs_generated.jpg   # zoo:avatar_gan
  python tools/real_vs_generated.py --workdir=runs/cdcgan --num=16 --out=cmp.png

Rows alternate: `--cols` held-out built-in avatars (a dataset seed training never used), then the
generator's avatars for exactly their conditioned attributes (fresh latents). Conditional runs only.
"""
import sys

from absl import app, flags
import jax
import numpy as np

from vid_jax import data, inference, writer
from vid_jax.data.attributes import ATTRIBUTE_INDEX
from vid_jax.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", "zoo:avatar_gan", "Training workdir or zoo entry (zoo:NAME).")
_NUM = flags.DEFINE_integer("num", 32, "Requests (real avatars), a multiple of --cols.")
_COLS = flags.DEFINE_integer("cols", 8, "Images per row.")
_DATA_SEED = flags.DEFINE_integer("data_seed", 1_000_003, "Seed of the held-out real avatars.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents.")
_OUT = flags.DEFINE_string("out", None, "Output image (.png or .jpg).")


def main(argv):
  del argv
  try:
    if not _OUT.value:
      raise UserError("--out=FILE is required, e.g. --out=real_vs_generated.png")
    if _NUM.value < 1 or _COLS.value < 1 or _NUM.value % _COLS.value:
      raise UserError(f"--num={_NUM.value} must be a positive multiple of --cols={_COLS.value}")
    models = inference.load_models(_WORKDIR.value)
    if not models.attribute_names:
      raise UserError(f"{_WORKDIR.value} is unconditional; this figure needs a conditional run")
    real = data.make_source("avatars", size=models.resolution, seed=_DATA_SEED.value,
                            num_examples=_NUM.value).get_batch(np.arange(_NUM.value))
    y = real["attributes"][:, [ATTRIBUTE_INDEX[a] for a in models.attribute_names]].astype(np.float32)
    z = inference.sample_latents(jax.random.PRNGKey(_SEED.value), _NUM.value, models.z_dim)
    fake = writer.to_uint8(jax.device_get(jax.jit(models.generate)(z, y)))
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  c = _COLS.value
  rows = [block for i in range(0, _NUM.value, c) for block in (real["image"][i:i + c], fake[i:i + c])]
  writer.save_png(_OUT.value, writer.make_grid(np.concatenate(rows), ncols=c))
  print(f"wrote {_OUT.value}: {_NUM.value} held-out avatars (odd rows) and the generator's avatars for "
        f"their attributes (even rows), step {models.step}")


if __name__ == "__main__":
  app.run(main)

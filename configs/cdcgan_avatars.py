"""Attribute-conditioned DCGAN on the built-in avatars (personalised avatars).

  python launch.py --config=configs/cdcgan_avatars.py --workdir=runs/cdcgan
  python tools/generate.py --workdir=runs/cdcgan --attrs=Smiling,Eyeglasses --not=Male --out=me.png

G gets the attribute vector through an input embedding and conditional
BatchNorm; D is a projection discriminator (Miyato & Koyama 2018).
Variants: `smoke` (a few tiny steps).
"""
from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  c = vc.base_config()
  c.data.source = "avatars"
  c.data.num_examples = 20_000
  c.data.cache_dir = "runs/cache/avatars64"  # make demo prepares it (tools/prepare_data.py)
  c.model.resolution = 64
  c.model.conditional = True
  c.model.attributes = vc.DEFAULT_CONDITIONAL_ATTRIBUTES
  c.train.num_steps = 2000
  c.train.batch_size = 64
  c.train.log_every = 50
  c.train.checkpoint_every = 500
  c.train.sample_every = 250
  if args.smoke:
    c = vc.smoke(c)
    c.data.cache_dir = ""
  return c

"""Attribute-conditioned DCGAN on CelebA 64x64 (tfds `celeb_a`), global batch 128.

  python launch.py --config=configs/cdcgan_celeba64.py --workdir=runs/cdcgan_celeba

Variants: `smoke`, `batch=N`.
"""
from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False, batch=128)
  c = vc.base_config()
  c.data.source = "tfds:celeb_a"
  c.data.num_examples = 0
  c.model.resolution = 64
  c.model.conditional = True
  c.model.attributes = vc.DEFAULT_CONDITIONAL_ATTRIBUTES
  c.train.batch_size = args.batch
  c.train.num_steps = 50_000
  c.train.log_every = 100
  c.train.checkpoint_every = 2000
  c.train.sample_every = 1000
  if args.smoke:
    c = vc.smoke(c)
  return c

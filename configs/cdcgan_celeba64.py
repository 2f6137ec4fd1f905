"""Attribute-conditioned DCGAN on CelebA 64x64 (tfds `celeb_a`), global batch 128.

  python launch.py --config=configs/cdcgan_celeba64.py --workdir=runs/cdcgan_celeba

The run of configs/dcgan_celeba64.py, conditioned on a dozen attributes
(projection D on the 4x4 feature map, conditional BatchNorm in G; no attribute head:
the avatar recipe of cdcgan_avatars.py is untested on CelebA). Variants: `smoke`, `batch=N`.
"""
from vid_jax import config as vc


def get_config(arg=None):
  c = vc.sibling_config(__file__, "dcgan_celeba64", arg)
  c.model.conditional = True
  c.model.attributes = vc.DEFAULT_CONDITIONAL_ATTRIBUTES
  return c

"""Attribute-conditioned DCGAN on the built-in avatars (personalised avatars).

  python launch.py --config=configs/cdcgan_avatars.py --workdir=runs/cdcgan
  python tools/generate.py --workdir=runs/cdcgan --attrs=Smiling,Eyeglasses --not=Male --out=me.png

The run of configs/dcgan_avatars.py (the demo's half-width DCGAN, 2000 steps, TTUR),
conditioned on a dozen attributes: G gets the attribute vector through an input
embedding and conditional BatchNorm; D is a projection discriminator (Miyato &
Koyama 2018). Variants: those of dcgan_avatars.py (`smoke`).
"""
from vid_jax import config as vc


def get_config(arg=None):
  c = vc.sibling_config(__file__, "dcgan_avatars", arg)
  c.model.conditional = True
  c.model.attributes = vc.DEFAULT_CONDITIONAL_ATTRIBUTES
  # AC-GAN's auxiliary attribute loss on top of the projection D: without it, 2000 steps left
  # Smiling (a small mouth shape) ignored by G — found in 1.6% of samples asking for it
  # (docs/metrics.md, "Conditional run").
  c.optim.aux_weight = 1.0
  return c

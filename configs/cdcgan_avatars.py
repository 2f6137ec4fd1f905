"""Attribute-conditioned DCGAN on the built-in avatars (personalised avatars).

  python launch.py --config=configs/cdcgan_avatars.py --workdir=runs/cdcgan
  python tools/generate.py --workdir=runs/cdcgan --attrs=Smiling,Eyeglasses --not=Male --out=me.png

The run of configs/dcgan_avatars.py (the demo's half-width DCGAN, 2000 steps, TTUR),
conditioned on a dozen attributes: G gets the attribute vector through an input
embedding and conditional BatchNorm; D is a projection discriminator (Miyato &
Koyama 2018) on its 4x4 feature map (`model.projection = "spatial"`, the default)
with an ADC-GAN attribute head (Hou et al. 2022). Variants: those of dcgan_avatars.py (`smoke`).
"""
from vid_jax import config as vc


def get_config(arg=None):
  c = vc.sibling_config(__file__, "dcgan_avatars", arg)
  c.model.conditional = True
  c.model.attributes = vc.DEFAULT_CONDITIONAL_ATTRIBUTES
  # An attribute head on D's features with its loss on top of the projection D. Measured on
  # 2,000-step runs (docs/metrics.md, "Conditional run"): with AC-GAN's head (reals only) G
  # learned to satisfy it with patterns the independent classifier does not read as the
  # attribute (G's head loss fell below D's own on reals while Smiling stayed at 7-15%); the
  # ADC-GAN head, which also learns to tell fakes' attributes from reals', gave the best FID and
  # attribute rates. The weight multiplies a mean over the 12 attributes (12 = one per attribute).
  c.optim.aux_weight = 12.0
  c.optim.aux_mode = "adc"
  return c

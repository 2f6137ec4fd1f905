"""Attribute-conditioned DCGAN on the built-in avatars (personalised avatars).

  python launch.py --config=configs/cdcgan_avatars.py --workdir=runs/cdcgan
  python tools/generate.py --workdir=runs/cdcgan --attrs=Smiling,Eyeglasses --not=Male --out=me.png

The run of configs/dcgan_avatars.py with a full-width G, conditioned on a dozen attributes: a
projection D (Miyato & Koyama 2018) with an ADC-GAN attribute head (Hou et al. 2022), mode
seeking (Mao et al. 2019) and a matching-aware D (Reed et al. 2016). Why each setting:
docs/experiments/configs.md. Variants: `smoke` (dcgan_avatars.py's few tiny steps, for tests),
`demo` (the GAN `make demo` trains for the identity designer; docs/identity.md).
"""
from vid_jax import config as vc

DEMO_STEPS = 1200  # `make demo`: fits its 20 minutes with the classifier and nickname runs


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False, demo=False)
  c = vc.sibling_config(__file__, "dcgan_avatars", "smoke" if args.smoke else None)
  c.model.conditional = True
  c.model.attributes = vc.DEFAULT_CONDITIONAL_ATTRIBUTES
  c.model.g_width = 64           # full-width G (ngf 64); D stays at dcgan_avatars.py's 32
  c.model.g_cond_hidden = 256    # G reads [y, MLP(y)] (2 x 256 ReLU): attributes act in combination
  # D's attribute head, weighted per attribute (the loss is a mean over the 12): ADC-GAN's
  # (real, fake) x (absent, present) classes; G's loss the head's cross-entropy of (real, y).
  c.optim.aux_weight = 12.0
  c.optim.aux_mode = "adc"
  c.optim.mode_seeking = 0.1     # pairs of latents with the same attributes kept apart
  c.optim.mismatch_weight = 1.0  # D also sees each real with one attribute flipped, as a fake
  if args.demo:
    c.model.g_width = 32         # half-width G: ~2x the full-width G's speed
    c.train.num_steps = DEMO_STEPS
    c.train.checkpoint_every = 300
    c.train.sample_every = 300
  return c

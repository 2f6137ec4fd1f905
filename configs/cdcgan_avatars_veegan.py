"""configs/cdcgan_avatars.py with VEEGAN's z-reconstruction term on G (Srivastava et al. 2017).

  python launch.py --config=configs/cdcgan_avatars_veegan.py --workdir=runs/veegan

An encoder E (vid_jax/models/encoder.py, its mean head) learns to map G's fakes back to their
latents; G pays mean ||E(G(z, y)) - z||^2 at weight 1 (VEEGAN's reconstructor weight, not searched),
so distinct latents must stay distinguishable in the images. Measured against the shipped config in
docs/experiments/veegan.md. Variants: `smoke` (the tiny test config with the same option).
"""
from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  c = vc.sibling_config(__file__, "cdcgan_avatars", "smoke" if args.smoke else None)
  c.optim.z_reconstruction = 1.0  # G's weight of ||E(G(z, y)) - z||^2; E trains on the same term
  c.model.encoder_width = 32  # E's stem width: D's (dcgan_avatars.py's d_width)
  return c

"""configs/cdcgan_avatars.py with the options against noisy, blotchy samples, trained 1.25x as long
(2,500 steps), the last 1,000 with a decaying learning rate.

  python launch.py --config=configs/cdcgan_avatars_clean.py --workdir=runs/cdcgan_clean

Measured against configs/cdcgan_avatars.py in docs/experiments/avatar_quality.md: flat, grain-free
samples, but a worse domain FID and fewer requested attributes, so the zoo ships the other.
Variants: `smoke` (the tiny test config with the same options).
"""
from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  c = vc.sibling_config(__file__, "cdcgan_avatars", "smoke" if args.smoke else None)
  c.model.g_upsample = "nearest"  # 2x nearest resize + 3x3 conv, not the 4x4 transposed conv (Odena et al. 2016)
  c.model.d_spectral_norm = True  # spectrally normalised D without BatchNorm (Miyato et al. 2018)
  c.optim.diffaugment = "translation,color,cutout"  # on every image D sees (Zhao et al. 2020)
  c.optim.lr_decay_start = 1500  # constant lrs to here, then linear to 0 at num_steps
  c.train.num_steps = 2500  # the shipped config's 2,000 x 1.25 (2 CPU cores: ~40 min alone)
  c.train.keep = 20  # every checkpoint (step 2,000 is measured too)
  return c

"""The zoo's avatar generator (zoo/avatar_gan): configs/cdcgan_avatars.py with the options that
clean up its samples, trained 1.5x as long, the last third with a decaying learning rate.

  python launch.py --config=configs/avatar_zoo.py --workdir=runs/zoo/avatar_gan   # `make models`

Its checkpoints before step 2,000 (the decay starts there) are the options at constant learning
rates; measured against configs/cdcgan_avatars.py in docs/experiments/avatar_quality.md.
Variants: `smoke` (the tiny test config with the same options).
"""
from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  c = vc.sibling_config(__file__, "cdcgan_avatars", "smoke" if args.smoke else None)
  c.model.g_upsample = "nearest"  # 2x nearest resize + 3x3 conv, not the 4x4 transposed conv (Odena et al. 2016)
  c.model.d_spectral_norm = True  # spectrally normalised D without BatchNorm (Miyato et al. 2018)
  c.optim.diffaugment = "translation,color,cutout"  # on every image D sees (Zhao et al. 2020)
  c.optim.lr_decay_start = c.train.num_steps  # constant for the shipped config's steps, then linear to 0
  c.train.num_steps = c.train.num_steps * 3 // 2
  c.train.keep = 20  # every checkpoint (step 2,000 is measured too)
  return c

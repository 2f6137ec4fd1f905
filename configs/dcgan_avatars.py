"""DCGAN on the built-in procedural avatars: the `make demo` job (2 CPU cores, < 15 min).

  python launch.py --config=configs/dcgan_avatars.py --workdir=runs/demo
  python launch.py --config=configs/dcgan_avatars.py:smoke --workdir=/tmp/smoke

Variants (`:arg`, comma-separated): `smoke` (a few tiny steps, for tests). Why each setting:
docs/experiments/configs.md.
"""
from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  c = vc.base_config()
  c.data.source = "avatars"
  c.data.num_examples = 20_000
  c.data.cache_dir = "runs/cache/avatars64"  # written by `make demo` (tools/prepare_data.py)
  c.model.resolution = 64
  c.model.g_width = 32           # half the DCGAN widths (ngf = ndf = 32): ~4x fewer FLOPs
  c.model.d_width = 32
  c.optim.g_lr = 4e-4            # two time-scale update rule (Heusel et al. 2017): G faster than D
  c.optim.d_lr = 1e-4
  c.optim.ema_decay = 0.995      # a ~200-step horizon for a 2000-step run
  c.train.num_steps = 2000
  c.train.batch_size = 64
  c.train.log_every = 50
  c.train.checkpoint_every = 500
  c.train.sample_every = 250
  if args.smoke:
    c = vc.smoke(c)
    c.data.cache_dir = ""        # tests read the avatars live
  return c

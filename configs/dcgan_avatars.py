"""DCGAN on the built-in procedural avatars: the `make demo` job (2 CPU cores, < 15 min).

  python launch.py --config=configs/dcgan_avatars.py --workdir=runs/demo
  python launch.py --config=configs/dcgan_avatars.py:smoke --workdir=/tmp/smoke

Variants (`:arg`, comma-separated): `smoke` (a few tiny steps, for tests).
"""
from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  c = vc.base_config()
  c.data.source = "avatars"
  c.data.num_examples = 20_000
  c.data.cache_dir = "runs/cache/avatars64"  # written by `make demo` (tools/prepare_data.py)
  c.model.resolution = 64
  # Half the DCGAN widths (ngf = ndf = 32): ~4x fewer FLOPs, so that 1500 steps fit the
  # demo's 15 minutes on 2 CPU cores (docs/performance.md); the 64-wide model is dcgan_celeba64.
  c.model.g_width = 32
  c.model.d_width = 32
  c.optim.ema_decay = 0.995  # a ~200-step horizon suits a 1500-step run
  c.train.num_steps = 1500
  c.train.batch_size = 64
  c.train.log_every = 50
  c.train.checkpoint_every = 500
  c.train.sample_every = 250
  if args.smoke:
    c = vc.smoke(c)
    c.data.cache_dir = ""
  return c

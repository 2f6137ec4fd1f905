"""DCGAN on CelebA 64x64 (tfds `celeb_a`), global batch 128, scaled for pods.

Prepare the data once (see docs/data.md), then:

  python launch.py --config=configs/dcgan_celeba64.py --workdir=runs/celeba64
  python launch.py --config=configs/dcgan_celeba64.py:batch=1024 --workdir=... --multihost   # TPU pod

Variants: `smoke` (tiny, a few steps), `batch=N` (global batch; learning rates stay
at DCGAN's 2e-4).
"""
from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False, batch=128)
  c = vc.base_config()
  c.data.source = "tfds:celeb_a"
  c.data.num_examples = 0
  c.model.resolution = 64
  c.train.batch_size = args.batch
  c.train.num_steps = 50_000
  c.train.log_every = 100
  c.train.checkpoint_every = 2000
  c.train.sample_every = 1000
  c.train.eval_every = 0
  if args.smoke:
    c = vc.smoke(c)
  return c

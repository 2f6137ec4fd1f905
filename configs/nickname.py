"""Nickname model: a character transformer over faker's per-locale names and words (docs/identity.md).

  python tools/train_nickname.py --config=configs/nickname.py --workdir=runs/nickname
  python tools/train_nickname.py --config=configs/nickname.py:smoke --workdir=/tmp/nick

Restarting with the same workdir resumes from its latest checkpoint. The default
trains in about a minute on two CPU cores; quality figures go to WORKDIR/metrics.json.

Variants (`:arg`, comma-separated): `smoke` (a tiny model, 200 steps in seconds, for tests).
"""
import ml_collections

from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  c = ml_collections.ConfigDict()

  c.data = ml_collections.ConfigDict()
  c.data.max_chars = 15            # longest name (characters); longer corpus strings are dropped
  c.data.heldout_fraction = 0.1    # share of each locale's strings held out (loss, novelty)
  c.data.seed = 0                  # which strings are held out
  c.data.locale_balance = 0.5      # locale drawn with prob ~ n_strings ** this (0 = all alike, 1 = by size)
  c.data.unk_rate = 0.05           # input characters replaced by UNK in training (keywords outside the vocab)

  c.model = ml_collections.ConfigDict()
  c.model.width = 48               # embedding / residual width (64: more copies of training names, no better loss)
  c.model.depth = 2                # transformer blocks
  c.model.heads = 4                # attention heads
  c.model.mlp_ratio = 4            # MLP hidden width / width
  c.model.dropout = 0.3            # dropout in training (the corpus is small: ~3,400 strings; 0.2: more copies)

  c.optim = ml_collections.ConfigDict()
  c.optim.lr = 3e-3                # peak AdamW learning rate (linear warmup, cosine decay)
  c.optim.warmup_steps = 100       # linear warmup from 0
  c.optim.end_lr_fraction = 0.05   # final lr / peak lr
  c.optim.weight_decay = 0.01      # AdamW decoupled weight decay
  c.optim.b2 = 0.99                # Adam second-moment decay
  c.optim.clip_norm = 1.0          # global gradient-norm clipping

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 1500         # optimizer steps
  c.train.batch_size = 128         # names per step
  c.train.steps_per_dispatch = 50  # steps per jitted call (lax.scan); divides the *_every fields
  c.train.log_every = 250          # TensorBoard / metrics.jsonl scalars
  c.train.checkpoint_every = 500   # orbax checkpoints (a run resumes from the latest)
  c.train.keep = 2                 # checkpoints kept
  c.train.seed = 0                 # init, batches and UNK/dropout draws

  c.eval = ml_collections.ConfigDict()
  c.eval.samples_per_locale = 512  # unsteered names drawn per locale for validity/uniqueness/novelty
  c.eval.batch_size = 512          # names per jitted sampling / loss call
  c.eval.temperature = 1.0         # sampling temperature of the quality figures
  c.eval.designer_requests = 64    # design_nicknames requests per locale for the rejection rate

  if args.smoke:  # 200 tiny steps: fewer leave a model that cannot end a name (tests need one that can)
    c.model.width = 32
    c.model.depth = 1
    c.model.heads = 2
    c.model.mlp_ratio = 2
    c.model.dropout = 0.0
    c.train.num_steps = 200
    c.train.batch_size = 64
    c.train.log_every = 100
    c.train.checkpoint_every = 100
    c.optim.warmup_steps = 20
    c.eval.samples_per_locale = 32
    c.eval.batch_size = 128
    c.eval.designer_requests = 8
  return c

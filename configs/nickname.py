"""Nickname model: a character transformer over faker's per-locale names and words (docs/identity.md).

  python tools/train_nickname.py --config=configs/nickname.py --workdir=runs/nickname

Resumes from the workdir's latest checkpoint; quality figures go to WORKDIR/metrics.json.
Variants (`:arg`): `smoke` (a tiny model, 200 steps, for tests). Runs: docs/experiments/nickname.md.
"""
import ml_collections

from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  cd = ml_collections.ConfigDict
  c = cd()
  c.data = cd(dict(
      max_chars=15,           # longest name (characters); longer corpus strings are dropped
      heldout_fraction=0.1,   # share of each locale's strings held out (loss, novelty)
      seed=0,                 # which strings are held out
      locale_balance=0.5,     # locale drawn with prob ~ n_strings ** this (0 = all alike, 1 = by size)
      unk_rate=0.05))         # input characters replaced by UNK in training (keywords outside the vocab)
  c.model = cd(dict(width=48, depth=2, heads=4,  # embedding width, transformer blocks, attention heads
                    mlp_ratio=4, dropout=0.3))  # MLP hidden width / width; dropout in training
  c.optim = cd(dict(lr=3e-3, warmup_steps=100,  # peak AdamW lr, linear warmup from 0, then cosine
                    end_lr_fraction=0.05, weight_decay=0.01,  # final / peak lr; decoupled decay
                    b2=0.99, clip_norm=1.0))  # Adam second-moment decay; global gradient-norm clip
  c.train = cd(dict(num_steps=1500, batch_size=128,  # optimizer steps, names per step
                    steps_per_dispatch=50,  # steps per jitted lax.scan; divides the *_every fields
                    log_every=250, checkpoint_every=500, keep=2,  # scalars, orbax saves, kept
                    seed=0))  # init, batches and UNK/dropout draws
  c.eval = cd(dict(samples_per_locale=512,  # unsteered names per locale: validity/uniqueness/novelty
                   batch_size=512, temperature=1.0,  # names per jitted call; sampling temperature
                   designer_requests=64))  # design_nicknames requests per locale (rejection rate)
  if args.smoke:  # 200 steps: fewer leave a model that cannot end a name (tests need one that can)
    c.model.update(dict(width=32, depth=1, heads=2, mlp_ratio=2, dropout=0.0))
    c.train.update(dict(num_steps=200, batch_size=64, log_every=100, checkpoint_every=100))
    c.optim.warmup_steps = 20
    c.eval.update(dict(samples_per_locale=32, batch_size=128, designer_requests=8))
  return c

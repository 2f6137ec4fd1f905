"""Trains the nickname model (character transformer over faker's per-locale names and words).

  python tools/train_nickname.py --config=configs/nickname.py --workdir=runs/nickname
  python tools/train_nickname.py --config=configs/nickname.py:smoke --workdir=/tmp/nick

Restarting with the same workdir resumes from its latest checkpoint. Prints the quality
figures (held-out, bigram and wrong-locale nats/char, novelty, uniqueness, validity,
rejection rate) as JSON; the full set is in WORKDIR/metrics.json. Override any config
field with `--config.section.field=value`.
"""
import json
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from vid_jax import checkpoint
from vid_jax.errors import UserError
from vid_jax.identity import nickname_train

_CONFIG = config_flags.DEFINE_config_file("config", None, "Nickname config (configs/nickname.py[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (checkpoints, metrics.json, TensorBoard).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    metrics = nickname_train.train_nickname(_CONFIG.value, _WORKDIR.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  keys = ("step", "heldout_nats_per_char", "bigram_nats_per_char", "wrong_locale_nats_per_char", "novelty",
          "uniqueness", "validity", "rejection_rate", "param_count", "wall_s")
  print(
      json.dumps({
          k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items() if k in keys
      }, indent=2))


if __name__ == "__main__":
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(checkpoint.quiet_orbax_info)
  app.run(main)

"""Trains the attribute classifier (domain FID/KID features, attribute accuracy of samples).

  python tools/train_classifier.py --config=configs/classifier_avatars.py --workdir=runs/classifier
  python tools/train_classifier.py --config=configs/classifier_avatars.py:res=32 --workdir=runs/clf32

Prints the held-out per-attribute accuracy as JSON; the full summary (majority
baselines, wall time) is in WORKDIR/classifier.json. Override any config field
with `--config.section.field=value`.
"""
import json
import sys

from absl import app, flags
from ml_collections import config_flags

from vid_jax import classifier_train
from vid_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Classifier config (configs/*.py[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (checkpoints, classifier.json).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    results = classifier_train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
  app.run(main)

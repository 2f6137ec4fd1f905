"""Trains the variational encoder of a conditional GAN (GAN inversion, `autoencode`; docs/encoder.md).

  python tools/train_encoder.py --config=configs/encoder_avatars.py --workdir=runs/encoder \
      --gan_workdir=zoo:avatar_gan --classifier_workdir=zoo:classifier

Self-supervised: the generator's own samples, then real images whose attributes the classifier
reads. Resumes a killed run; a finished workdir prints its metrics. Prints the held-out metrics as
JSON (also WORKDIR/metrics.json). Override any config field with `--config.section.field=value`.
"""
import json
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from vid_jax import checkpoint
from vid_jax.encoder import train
from vid_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None,
                                          "Encoder config (configs/encoder_avatars.py[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (checkpoints, metrics.json).")
_GAN = flags.DEFINE_string("gan_workdir", "zoo:avatar_gan",
                           "The conditional GAN to invert: a launch.py workdir or a zoo entry.")
_CLASSIFIER = flags.DEFINE_string(
    "classifier_workdir", "zoo:classifier",
    "The attribute classifier (reads y off real images): a workdir or a zoo entry.")
_REEVALUATE = flags.DEFINE_bool(
    "reevaluate", False, "Only evaluate the finished encoder in --workdir again "
    "(config.eval) and rewrite its metrics.json.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(checkpoint.quiet_orbax_info)
  try:
    if _REEVALUATE.value:
      metrics = train.reevaluate(_CONFIG.value, _WORKDIR.value)
    else:
      metrics = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value, gan_workdir=_GAN.value,
                                         classifier_workdir=_CLASSIFIER.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
  app.run(main)

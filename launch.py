"""Trains a vid_jax GAN: `python launch.py --config=configs/dcgan_avatars.py --workdir=runs/demo`.

Override any config field with `--config.section.field=value`. Restarting with the
same workdir resumes from its latest checkpoint.
"""
import os
import sys

from absl import app, flags, logging
import jax
from ml_collections import config_flags

from vid_jax import checkpoint
from vid_jax import train
from vid_jax.errors import NonFiniteLossError, UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.")
_MULTIHOST = flags.DEFINE_bool(
    "multihost", False, "Call jax.distributed.initialize() (multi-process GPU/TPU runs; set "
    "automatically where the cluster sets JAX_COORDINATOR_ADDRESS).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _MULTIHOST.value or os.environ.get("JAX_COORDINATOR_ADDRESS"):
    jax.distributed.initialize()
  logging.info("JAX %s: process %d/%d, %d devices (%s)", jax.__version__, jax.process_index(),
               jax.process_count(), jax.device_count(), jax.default_backend())
  try:
    result = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except NonFiniteLossError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  logging.info("done at step %d in %.1f s (compile %.1f s)", result["step"], result["wall_s"],
               result["compile_s"])


if __name__ == "__main__":
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(checkpoint.quiet_orbax_info)
  app.run(main)

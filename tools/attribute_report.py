"""Where a conditional run's attributes fail: rates by combination and by latent, as JSON.

  python tools/attribute_report.py --workdir=runs/cdcgan --classifier_workdir=runs/classifier \
      --attributes=Brown_Hair,Smiling

`by_combination`: --num_samples samples with attributes drawn from the data's marginals; for
each target, the rate at which the classifier finds it when each other attribute was also
requested (`with`) and when it was not (`without`). `by_latent`: --requests requests that
ask for the target, --latents latents each; `all_found` / `none_found` / `mixed` fractions of
requests next to what independent draws at the overall rate would give. A failure that
belongs to the request shows as none_found far above independent_none_found. See
docs/experiments/cdcgan_options.md ("Where brown fails"), vid_jax/evaluators/breakdown.py and
vid_jax/metrics/breakdown.py.
"""
import json
import sys

from absl import app, flags

from vid_jax.errors import UserError
from vid_jax.evaluators import breakdown

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir of a conditional run.")
_CLASSIFIER = flags.DEFINE_string(
    "classifier_workdir", None, "Attribute classifier workdir (default: the run's "
    "eval.classifier_workdir).")
_ATTRS = flags.DEFINE_list("attributes", [], "Targets (default: every conditioned attribute).")
_NUM = flags.DEFINE_integer("num_samples", 4000, "Samples for the by-combination rates.")
_REQUESTS = flags.DEFINE_integer("requests", 200, "Requests per target for the by-latent split.")
_LATENTS = flags.DEFINE_integer("latents", 8, "Latents per request (>= 2).")
_BATCH = flags.DEFINE_integer("batch_size", 200, "Images per generator call.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    result = breakdown.report_workdir(_WORKDIR.value, classifier_workdir=_CLASSIFIER.value,
                                      attributes=[a.strip() for a in _ATTRS.value if a.strip()],
                                      num_samples=_NUM.value, requests=_REQUESTS.value,
                                      latents=_LATENTS.value, batch_size=_BATCH.value, seed=_SEED.value,
                                      step=_STEP.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  app.run(main)

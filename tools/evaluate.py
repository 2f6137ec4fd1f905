"""Evaluates a finished (or running) training run: FID / KID, attribute accuracy, diversity, as JSON.

  python tools/evaluate.py --workdir=runs/demo --classifier_workdir=runs/classifier
  python tools/evaluate.py --workdir=zoo:avatar_gan --classifier_workdir=zoo:classifier   # the shipped zoo
  python tools/evaluate.py --workdir=runs/celeba64 --inception=pt_inception.npz --num_samples=10000

Feature spaces: `domain` (the attribute classifier's features; --classifier_workdir,
default the run's eval.classifier_workdir) and `inception_pytorch_fid`
(pytorch-fid's FID Inception; --inception, a .npz from tools/convert_inception.py).
Only the latter is comparable with published FIDs, and only at equal sample
counts. Each metric comes with its real-vs-real value (two disjoint real sets of
the same size). Conditional runs also get `diversity/same_attributes` (how far
apart samples with the same attributes are) next to its real value. The evaluators are the
run's own (vid_jax.evaluators, config.eval.evaluators) with the EMA generator training used,
so at the default --seed a checkpoint scores what its metrics.jsonl says. See docs/metrics.md.
"""
import json
import sys

from absl import app, flags

from vid_jax import evaluators, zoo
from vid_jax.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None,
                               "Training workdir (launch.py --workdir) or zoo entry (zoo:NAME).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None,
                                    "Generated and real images (default: the run's eval.num_samples).")
_CLASSIFIER = flags.DEFINE_string(
    "classifier_workdir", None, "Attribute classifier workdir or zoo entry (e.g. zoo:classifier; "
    "default: the run's eval.classifier_workdir; '' = none).")
_INCEPTION = flags.DEFINE_string("inception", "", "pytorch-fid Inception weights (.npz).")
_BATCH = flags.DEFINE_integer("batch_size", None, "Images per call (default: the run's eval.batch_size).")
_SEED = flags.DEFINE_integer(
    "seed", None, "Sampling, real-set and KID seed (default: the run's "
    "train.seed, as during training).")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
_TRUNCATION = flags.DEFINE_float(
    "truncation", 0.0, "Latent truncation: 0 = z ~ N(0, I); t > 0 = each "
    "coordinate of z restricted to [-t, t] (as tools/generate.py).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    # A zoo entry by its folder, so the result names where it was read from.
    workdir = zoo.resolve(_WORKDIR.value, "gan") if zoo.is_entry(_WORKDIR.value) else _WORKDIR.value
    clf = _CLASSIFIER.value
    clf = zoo.resolve(clf, "classifier") if clf and zoo.is_entry(clf) else clf
    result = evaluators.evaluate_workdir(workdir, num_samples=_NUM_SAMPLES.value, classifier_workdir=clf,
                                         inception=_INCEPTION.value, batch_size=_BATCH.value,
                                         seed=_SEED.value, step=_STEP.value, truncation=_TRUNCATION.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  app.run(main)

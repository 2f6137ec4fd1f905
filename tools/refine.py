r"""Refines generator latents for a request with RL (or a baseline); saves a grid.

  python tools/refine.py --workdir=/tmp/run --attrs=Smiling,Eyeglasses \
      --classifier_workdir=/tmp/clf --budget=512 --method=reinforce --out=grid.png

  # every method on the same requests and budget; table + one JSON line
  python tools/refine.py --workdir=/tmp/run --budget=256 --compare --json

  # another refine config, or one field of it
  python tools/refine.py --workdir=/tmp/run --refine_config.population=16 \
      --refine_config.weights.prior=0.1

Without --classifier_workdir the attribute reward is off and hit rates are
null; --attrs then only works for attributes a conditional generator knows.
Reward weights and method hparams come from --refine_config (default
configs/refine_avatars.py), not from the training run: a `refiners.rl` section
in an older run's config.json is ignored. The harness that runs and scores the
methods is tools/compare_refiners.py.
"""
import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags
import numpy as np
from PIL import Image

from vid_jax import inference
from vid_jax import sharding
from vid_jax.errors import UserError
from vid_jax.models import classifier as clf_lib
from vid_jax.refiners import rl

import compare_refiners  # tools/compare_refiners.py, beside this script

FLAGS = flags.FLAGS
_REFINE_CONFIG = config_flags.DEFINE_config_file(
    "refine_config",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "refine_avatars.py"),
    "Refiner config: reward weights and method hparams (configs/refine_avatars.py).", lock_config=True)
flags.DEFINE_string("workdir", None, "Training workdir (launch.py --workdir).")
flags.DEFINE_string("classifier_workdir", None, "Attribute classifier workdir (optional).")
flags.DEFINE_list("attrs", [], "Wanted CelebA attributes, e.g. Smiling,Eyeglasses.")
flags.DEFINE_list("not", [], "Unwanted CelebA attributes, e.g. Male.")
flags.DEFINE_integer("budget", None,
                     "Generator evaluations per request (default: the refine config's budget).")
flags.DEFINE_enum("method", "reinforce", list(rl.METHODS), "Refinement method (ignored with --compare).")
flags.DEFINE_string("out", None, "Write a PNG grid of the results here.")
flags.DEFINE_bool("compare", False, "Run every method on the same requests; print a table.")
flags.DEFINE_bool("json", False, "End with one JSON line of the results.")
flags.DEFINE_integer("num_requests", 8, "Copies of the request refined at once (different keys).")
flags.DEFINE_integer("seed", 0, "PRNG seed.")
flags.DEFINE_integer("amortized_steps", None,
                     "Training steps of the amortised policy (default: the refine config's).")
flags.DEFINE_string(
    "preferences", None, "Optional .npz of a user's pairwise choices: z_a [M, Z], "
    "z_b [M, Z], prefer_a [M]; enables the preference reward.")
flags.DEFINE_float("preference_weight", 1.0, "Weight of the preference reward when --preferences is set.")


def _save_grid(path, rows):
  """Saves rows of images [N, H, W, 3] in [-1, 1] as one PNG."""
  grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
  grid = np.clip(np.round((grid + 1.0) * 127.5), 0, 255).astype(np.uint8)
  Image.fromarray(grid).save(path)


def _format(x, spec):
  return "-" if x is None else format(x, spec)


def _table(report):
  lines = [f"{'method':<10} {'evals':>6} {'mean_reward':>12} {'hit_rate':>9}"]
  for name, m in report["methods"].items():
    for point in m["curve"]:
      lines.append(f"{name:<10} {point['evals']:>6d} "
                   f"{point['mean_reward']:>12.4f} "
                   f"{_format(point['attr_hit_rate'], '>9.3f')}")
  if "amortized" in report["methods"]:
    lines.append("amortized: plus "
                 f"{report['methods']['amortized']['train_evals']} generator "
                 "evaluations of training, shared by all requests")
  for name, m in report.get("one_shot", {}).items():
    lines.append(f"one-shot {name:<9}: mean_reward {m['mean_reward']:.4f}, "
                 f"hit_rate {_format(m['attr_hit_rate'], '.3f')} "
                 f"({m['samples']} samples)")
  terms = {n: m["terms"] for n, m in report["methods"].items()}
  lines.append("reward terms at the final budget (mean over requests): " + json.dumps({
      n: {
          k: round(v, 4) for k, v in t.items()
      } for n, t in terms.items()
  }))
  return "\n".join(lines)


def run(argv):
  """The tool; raises UserError on bad input."""
  del argv

  if not FLAGS.workdir:
    raise UserError("--workdir is required (a launch.py training workdir)")
  want = rl.attribute_vector(FLAGS.attrs, flag="--attrs")
  avoid = rl.attribute_vector(getattr(FLAGS, "not"), flag="--not")
  if FLAGS.num_requests < 1:
    raise UserError(f"--num_requests={FLAGS.num_requests}: must be >= 1")

  cfg = rl.merged_config(_REFINE_CONFIG.value)  # an unlocked copy the flags below may change
  if FLAGS.amortized_steps is not None:
    cfg.amortized.train_steps = FLAGS.amortized_steps
  if FLAGS.preferences:
    cfg.weights.preference = FLAGS.preference_weight
  rl.validate_config(cfg)
  models = inference.load_models(FLAGS.workdir)
  preference_pairs = None
  if FLAGS.preferences:
    preference_pairs = _load_preferences(FLAGS.preferences, models.z_dim)
  budget = cfg.budget if FLAGS.budget is None else FLAGS.budget
  if budget < 1:
    raise UserError(f"--budget={budget}: must be >= 1")

  classifier = None
  if FLAGS.classifier_workdir:
    classifier = clf_lib.load_classifier(FLAGS.classifier_workdir)

  key = jax.random.key(FLAGS.seed)
  k_task, k_run = jax.random.split(key)
  task = rl.model_task(models, classifier, cfg=cfg, key=k_task, preference_pairs=preference_pairs)
  for name in task.dropped:
    print(f"note: reward term {name!r} is off (nothing to compute it with)", file=sys.stderr)
  requests = task.make_requests(want, avoid, FLAGS.num_requests)
  mesh = None
  if jax.device_count() > 1 and FLAGS.num_requests % jax.device_count() == 0:
    mesh = sharding.make_mesh()
  methods = rl.METHODS if FLAGS.compare else (FLAGS.method,)
  for method in methods:  # fail on a too-small budget before compiling
    if method != "amortized":
      try:
        rl.num_steps(rl.make_refiner(method, cfg), budget)
      except ValueError as e:
        raise UserError(f"--budget={budget} with --method={method}: {e}") from e
  if "amortized" in methods:
    try:
      rl.num_steps(rl.best_of_n(population=cfg.population), budget)
    except ValueError as e:
      raise UserError(f"--budget={budget} with --method=amortized: {e}") from e

  report = compare_refiners.compare_methods(task, requests, k_run, cfg=cfg, budget=budget, methods=methods,
                                            mesh=mesh)
  print(_table(report))
  if FLAGS.out:
    _save_grid(FLAGS.out, [m["images"] for m in report["methods"].values()])
    print(f"wrote {FLAGS.out} (rows: {', '.join(report['methods'])}; "
          f"columns: {FLAGS.num_requests} requests)")
  if FLAGS.json:
    print(
        json.dumps({
            "budget": budget,
            "methods": {
                name: {
                    "mean_reward": m["mean_reward"],
                    "attr_hit_rate": m["attr_hit_rate"],
                    "evals": m["evals"]
                } for name, m in report["methods"].items()
            }
        }))


def _load_preferences(path, z_dim):
  """(z_a, z_b, prefer_a) from an .npz; UserError on a bad file."""
  try:
    with np.load(path) as f:
      z_a, z_b, prefer_a = f["z_a"], f["z_b"], f["prefer_a"]
  except (OSError, KeyError, ValueError) as e:
    raise UserError(f"--preferences={path}: cannot read z_a, z_b, prefer_a "
                    f"({e}); save them with numpy.savez") from e
  if (z_a.ndim != 2 or z_a.shape != z_b.shape or z_a.shape[1] != z_dim or prefer_a.shape != z_a.shape[:1]):
    raise UserError(f"--preferences={path}: need z_a, z_b [M, {z_dim}] and "
                    f"prefer_a [M]; got {z_a.shape}, {z_b.shape}, "
                    f"{prefer_a.shape}")
  return z_a, z_b, prefer_a


def main(argv):
  if not FLAGS["verbosity"].present:  # orbax logs every restore at INFO
    logging.set_verbosity(logging.WARNING)
  try:
    run(argv)
  except (UserError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)

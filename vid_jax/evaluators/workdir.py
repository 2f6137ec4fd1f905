"""Scores a training workdir's checkpoint with the run's evaluators (tools/evaluate.py)."""
from __future__ import annotations

import ml_collections

from vid_jax import inference
from vid_jax import paths
from vid_jax.errors import UserError
from vid_jax.evaluators import common

# eval fields added after runs were written, with the value those runs evaluate with.
_LEGACY_EVAL = {"inception": "", "batch_size": 100, "evaluators": "domain,inception,attributes,diversity"}
# Default eval.evaluators strings of earlier versions -> what they evaluate with now: evaluators
# added since that need nothing of the run (sharpness) score its old checkpoints too.
_EARLIER_DEFAULTS = {
    "domain,inception,attributes,diversity": "domain,inception,attributes,diversity,sharpness"
}


def eval_config(config, *, num_samples: int | None = None, classifier_workdir: str | None = None,
                inception: str = "", batch_size: int | None = None) -> ml_collections.ConfigDict:
  """A copy of a run's config with the tool's overrides in its `eval` section (None / "": the
  run's own value)."""
  config = ml_collections.ConfigDict(config.to_dict())
  e = config.eval
  for field, value in _LEGACY_EVAL.items():
    if field not in e:
      e[field] = value
  e.evaluators = _EARLIER_DEFAULTS.get(e.evaluators, e.evaluators)
  e.num_samples = num_samples or e.num_samples
  e.classifier_workdir = e.classifier_workdir if classifier_workdir is None else classifier_workdir
  e.inception = inception or e.inception
  e.batch_size = batch_size or e.batch_size
  if e.num_samples < 2 or e.batch_size < 1:
    raise UserError(f"--num_samples={e.num_samples} / --batch_size={e.batch_size}: need >= 2 and >= 1")
  return config


def evaluate_workdir(workdir: str, *, num_samples: int | None = None, classifier_workdir: str | None = None,
                     inception: str = "", batch_size: int | None = None, seed: int | None = None,
                     step: int | None = None, truncation: float = 0.0) -> dict:
  """Evaluates the EMA generator of a training workdir with the run's evaluators.

  Args:
    workdir: a launch.py workdir.
    num_samples: generated (and real) images; default the run's eval.num_samples.
    classifier_workdir: attribute classifier; default the run's eval.classifier_workdir.
    inception: pytorch-fid Inception .npz; default the run's eval.inception.
    batch_size: default the run's eval.batch_size.
    seed: sampling, real-set and KID seed; default the run's train.seed (as during training,
      so a checkpoint scores here what it scored in its metrics.jsonl).
    step: checkpoint step (default the latest).
    truncation: 0 (z ~ N(0, I), the default) or t > 0: z's coordinates restricted to [-t, t].

  Returns:
    A JSON-serialisable dict: workdir, step, num_samples, seed, truncation, real_images,
    feature_spaces, metrics.
  """
  truncation = inference.check_truncation(truncation)
  models = inference.load_models(workdir, step=step)
  config = eval_config(models.config, num_samples=num_samples, classifier_workdir=classifier_workdir,
                       inception=inception, batch_size=batch_size)
  seed = config.train.seed if seed is None else seed
  evaluators = common.from_config(config, generator=models.generator, marginals=models.sampling_marginals,
                                  seed=seed, truncation=truncation)
  metrics = common.evaluate(evaluators, models.g_variables)
  spaces = {e.name: e.provenance for e in evaluators if hasattr(e, "provenance")}
  return {
      "workdir":
          paths.absolute(workdir),
      "step":
          models.step,
      "num_samples":
          config.eval.num_samples,
      "seed":
          seed,
      "truncation":
          truncation,
      "real_images":
          "held-out avatars (another seed)"
          if config.data.source == "avatars" else f"random images of {config.data.source}",
      "feature_spaces":
          spaces,
      "metrics":
          metrics
  }

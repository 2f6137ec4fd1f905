"""Evaluators from the config through a registry (big_vision's `evaluators/common.py` shape).

  evaluators = common.from_config(config, generator=generator, marginals=marginals)
  metrics = common.evaluate(evaluators, variables)  # the EMA generator's variables

`config.eval.evaluators` names them (comma-separated); each runs where the `eval` section gives
it what it measures with, and is skipped otherwise:

  domain      FID / KID in the attribute classifier's features   eval.classifier_workdir
  inception   FID / KID in pytorch-fid's Inception pool3         eval.inception
  attributes  attribute accuracy of conditioned samples          a classifier, a conditional run
  diversity   same-attribute diversity (and its real value)      a conditional run
  sharpness   high-frequency energy, edge gradient, flatness     nothing (no feature space)
              (and their real values)

An evaluator is built once per run (real features are computed then) and called with the EMA
generator's variables (inference.make_ema_variables_fn of the train state, or a checkpoint's
inference.Models.g_variables); it returns {prefixed metric name: float}. The sampling key is
PRNGKey(seed) at every call, so the same checkpoint scores the same in training and in
tools/evaluate.py.
"""
from __future__ import annotations

import os
from typing import Callable, Protocol

from vid_jax import paths
from vid_jax.data.attributes import attribute_names as config_attribute_names
from vid_jax.errors import UserError
from vid_jax.evaluators import attributes, diversity, fid, sharpness
from vid_jax.evaluators.context import Context


class Evaluator(Protocol):
  name: str

  def __call__(self, variables) -> dict[str, float]:
    """The EMA generator's variables -> {metric name: float}."""


# name -> factory(Context) -> Evaluator, or None where the config gives it nothing to measure with.
REGISTRY: dict[str, Callable[[Context], Evaluator | None]] = {
    "domain": fid.domain,
    "inception": fid.inception,
    "attributes": attributes.make,
    "diversity": diversity.make,
    "sharpness": sharpness.make,
}
# Evaluators that measure without a feature space: evaluation that names only these needs neither
# eval.classifier_workdir nor eval.inception.
NEEDS_NO_FEATURES = frozenset({"sharpness"})


def names_of(config) -> list[str]:
  """The evaluator names of `config.eval.evaluators`; UserError naming an unknown one."""
  names = [n.strip() for n in config.eval.evaluators.split(",") if n.strip()]
  unknown = [n for n in names if n not in REGISTRY]
  if unknown:
    raise UserError(f"config.eval.evaluators={config.eval.evaluators!r}: unknown evaluator(s) "
                    f"{unknown}; use some of {', '.join(REGISTRY)}")
  return names


def needs_feature_space(config) -> bool:
  """Whether `config.eval.evaluators` names an evaluator that measures in a feature space."""
  return any(n not in NEEDS_NO_FEATURES for n in names_of(config))


def check_eval_config(config) -> None:
  """Cheap checks of the `eval` section before training starts (UserError per bad field)."""
  e = config.eval
  names_of(config)
  if e.num_samples < 2:
    raise UserError(f"config.eval.num_samples={e.num_samples!r}: must be >= 2")
  if e.batch_size < 1:
    raise UserError(f"config.eval.batch_size={e.batch_size!r}: must be >= 1")
  if config.train.eval_every and needs_feature_space(config) and not (e.classifier_workdir or e.inception):
    raise UserError(f"config.train.eval_every={config.train.eval_every} needs a feature space: set "
                    "config.eval.classifier_workdir (train one with tools/train_classifier.py) and/or "
                    "config.eval.inception (a .npz from tools/convert_inception.py), or "
                    "config.eval.evaluators='sharpness' (needs none), or set eval_every=0")
  if e.classifier_workdir and not paths.workdir_file(e.classifier_workdir, "checkpoints").is_dir():
    raise UserError(f"config.eval.classifier_workdir={e.classifier_workdir!r} holds no classifier "
                    "checkpoint; train one with python tools/train_classifier.py "
                    f"--config=configs/classifier_avatars.py --workdir={e.classifier_workdir}")
  if e.inception and not os.path.isfile(e.inception):
    raise UserError(f"config.eval.inception={e.inception!r} does not exist; convert pytorch-fid's "
                    "weights with tools/convert_inception.py --pth=FILE --out=FILE.npz")


def from_config(config, *, generator, marginals, seed: int | None = None,
                truncation: float = 0.0) -> list[Evaluator]:
  """The evaluators `config.eval` asks for, built (real images rendered, real features computed).

  Args:
    config: a run config (its eval, model, data and train.seed fields).
    generator: the run's Generator module.
    marginals: np.float32 [A], the data's marginals of the conditioned attributes
      (inference.sampling_marginals), or None for unconditional runs.
    seed: sampling, real-set and KID seed; default config.train.seed.
    truncation: latent truncation (0: z ~ N(0, I)).

  Raises:
    UserError: an unknown evaluator name, or no feature space (neither eval.classifier_workdir
      nor eval.inception) while eval.evaluators names more than NEEDS_NO_FEATURES.
  """
  names = names_of(config)
  # Before rendering any image.
  if needs_feature_space(config) and not (config.eval.classifier_workdir or config.eval.inception):
    raise UserError("evaluation needs --classifier_workdir (eval.classifier_workdir) and/or "
                    "--inception (eval.inception); eval.evaluators='sharpness' alone needs neither")
  if config.eval.num_samples < 2 or config.eval.batch_size < 1:
    raise UserError(f"eval num_samples={config.eval.num_samples} / batch_size="
                    f"{config.eval.batch_size}: need >= 2 and >= 1")
  ctx = Context(config=config, generator=generator, attribute_names=tuple(config_attribute_names(config)),
                marginals=marginals, seed=config.train.seed if seed is None else int(seed),
                truncation=truncation)
  built = (REGISTRY[name](ctx) for name in names)
  return [e for e in built if e is not None]


def evaluate(evaluators, variables) -> dict[str, float]:
  """Every evaluator's metrics of the EMA generator's `variables`, in one flat dict."""
  out = {}
  for evaluator in evaluators:
    out.update(evaluator(variables))
  return out

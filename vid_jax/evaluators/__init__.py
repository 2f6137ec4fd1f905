"""What a run is scored on: evaluators built from its config (`from_config`), each called with
the EMA generator's variables and returning {metric name: float}. See common.py for the
registry and docs/metrics.md for the definitions."""
from vid_jax.evaluators.attributes import (DEGRADATIONS, AttributeEvaluator, attribute_accuracy,
                                           attribute_robustness, classifier_columns)
from vid_jax.evaluators.common import REGISTRY, Evaluator, check_eval_config, evaluate, from_config
from vid_jax.evaluators.context import Context, RealImages, real_image_sets, reference_source
from vid_jax.evaluators.diversity import DiversityEvaluator, same_attribute_diversity
from vid_jax.evaluators.fid import DOMAIN, INCEPTION, FidEvaluator
from vid_jax.evaluators.sharpness import SharpnessEvaluator
from vid_jax.evaluators.workdir import evaluate_workdir

__all__ = (
    "DEGRADATIONS",
    "AttributeEvaluator",
    "attribute_accuracy",
    "attribute_robustness",
    "classifier_columns",
    "REGISTRY",
    "Evaluator",
    "check_eval_config",
    "evaluate",
    "from_config",
    "Context",
    "RealImages",
    "real_image_sets",
    "reference_source",
    "DiversityEvaluator",
    "same_attribute_diversity",
    "DOMAIN",
    "INCEPTION",
    "FidEvaluator",
    "SharpnessEvaluator",
    "evaluate_workdir",
)

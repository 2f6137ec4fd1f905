"""The refiner's hyper-parameters: defaults, validation, and refiners built from them.

The hyper-parameters are a config of their own, `configs/refine_avatars.py` (tools/refine.py's
`--refine_config`; a comment per field there), not a section of the GAN training config.
`default_config()` holds the same values for library callers that load no config file (the
identity designer); tests/rl_config_test.py checks that the two agree. A training workdir's
config.json from before the split may still hold a `refiners.rl` section; nothing reads it.
"""
from typing import Any, Mapping, Optional

import ml_collections

from vid_jax.errors import UserError
from vid_jax.refiners.rl.amortized import AmortizedPolicy, amortized, amortized_refiner
from vid_jax.refiners.rl.base import Refiner
from vid_jax.refiners.rl.methods import best_of_n, evolution_strategies, gradient_ascent, reinforce

METHODS = ("reinforce", "es", "amortized", "best_of_n", "gradient")


def default_config() -> ml_collections.ConfigDict:
  """The refiner's hyper-parameters; equal to configs/refine_avatars.py (which explains each)."""
  c = ml_collections.ConfigDict()
  c.weights = ml_collections.ConfigDict(
      dict(realism=1.0, attributes=1.0, uniqueness=1.0, preference=0.0, prior=0.0))
  c.realism_kind = "log_sigmoid"
  c.attr_threshold = 0.0
  c.bank_size = 64
  c.budget = 512
  c.population = 32
  c.reinforce = ml_collections.ConfigDict(
      dict(learning_rate=0.1, init_log_std=0.0, min_log_std=-3.0, max_log_std=0.5, baseline="loo",
           baseline_decay=0.9, normalize=True, kl_weight=0.01, entropy_weight=0.0))
  c.es = ml_collections.ConfigDict(dict(learning_rate=0.1, sigma=0.5, rank_shaping=True, kl_weight=0.01))
  c.gradient = ml_collections.ConfigDict(dict(chains=8, learning_rate=0.05, kl_weight=0.01))
  c.amortized = ml_collections.ConfigDict(
      dict(hidden=256, num_layers=2, learning_rate=1e-3, init_log_std=-1.0, kl_weight=0.01,
           entropy_weight=0.0, train_steps=200, requests_per_step=16, samples_per_request=8, mean_wanted=1.5,
           mean_avoided=0.5))
  return c


def _cfg_err(field: str, value: Any, fix: str) -> UserError:
  return UserError(f"refine_config.{field}={value!r}: {fix}")


def validate_config(cfg: ml_collections.ConfigDict) -> None:
  """Checks the refine config once, before anything compiles.

  Raises:
    UserError: naming the bad field and how to fix it.
  """
  known = set(default_config().weights)
  for name, w in cfg.weights.items():
    if name not in known:
      raise _cfg_err(f"weights.{name}", w, f"unknown term; use {sorted(known)}")
    if w < 0:
      raise _cfg_err(f"weights.{name}", w, "weights must be >= 0")
  if cfg.realism_kind not in ("log_sigmoid", "logit"):
    raise _cfg_err("realism_kind", cfg.realism_kind, "use log_sigmoid or logit")
  if cfg.budget < 1:
    raise _cfg_err("budget", cfg.budget, "must be >= 1")
  if cfg.population < 2 or cfg.population % 2:
    raise _cfg_err("population", cfg.population, "must be even and >= 2")
  if cfg.bank_size < 0:
    raise _cfg_err("bank_size", cfg.bank_size, "must be >= 0")
  if cfg.reinforce.baseline not in ("loo", "ema", "none"):
    raise _cfg_err("reinforce.baseline", cfg.reinforce.baseline, "use loo, ema or none")
  if cfg.reinforce.min_log_std > cfg.reinforce.max_log_std:
    raise _cfg_err("reinforce.min_log_std", cfg.reinforce.min_log_std, "must be <= reinforce.max_log_std")
  if cfg.es.sigma <= 0:
    raise _cfg_err("es.sigma", cfg.es.sigma, "must be > 0")
  if cfg.gradient.chains < 1:
    raise _cfg_err("gradient.chains", cfg.gradient.chains, "must be >= 1")
  a = cfg.amortized
  for field in ("hidden", "train_steps", "requests_per_step"):
    if a[field] < 1:
      raise _cfg_err(f"amortized.{field}", a[field], "must be >= 1")
  if a.samples_per_request < 2:
    raise _cfg_err("amortized.samples_per_request", a.samples_per_request, "must be >= 2")


def merged_config(section: Optional[Mapping[str, Any]]) -> ml_collections.ConfigDict:
  """`default_config()` overridden by the fields of `section` (None: the defaults)."""
  cfg = default_config()

  def merge(dst, src, prefix):
    for k, v in src.items():
      if k not in dst:
        raise _cfg_err(prefix + k, v, "unknown field")
      if isinstance(dst[k], ml_collections.ConfigDict):
        merge(dst[k], v, prefix + k + ".")
      else:
        dst[k] = v

  if section is not None:
    merge(cfg, section, "")
  return cfg


def make_refiner(method: str, cfg: ml_collections.ConfigDict, *,
                 amortized_model: Optional[tuple[AmortizedPolicy, Any]] = None) -> Refiner:
  """The refiner for `method` with hparams from the refine config.

  Args:
    method: one of METHODS.
    cfg: the refine config.
    amortized_model: (policy, trained params), needed for "amortized".

  Returns:
    The refiner.
  """
  if method == "reinforce":
    return reinforce(population=cfg.population, **cfg.reinforce)
  if method == "es":
    return evolution_strategies(population=cfg.population, **cfg.es)
  if method == "best_of_n":
    return best_of_n(population=cfg.population)
  if method == "gradient":
    return gradient_ascent(**cfg.gradient)
  if method == "amortized":
    if amortized_model is None:
      raise ValueError("method 'amortized' needs a trained policy "
                       "(train_amortized)")
    policy, params = amortized_model
    return amortized_refiner(policy, params, population=cfg.population)
  raise UserError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")


def amortized_from_config(cfg: ml_collections.ConfigDict) -> AmortizedPolicy:
  """The amortised policy with hparams from the refine config."""
  a = cfg.amortized
  return amortized(hidden=a.hidden, num_layers=a.num_layers, learning_rate=a.learning_rate,
                   init_log_std=a.init_log_std, kl_weight=a.kl_weight, entropy_weight=a.entropy_weight,
                   samples_per_request=a.samples_per_request)

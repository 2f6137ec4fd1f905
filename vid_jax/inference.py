"""Loads a finished (or running) training workdir's models for generation and refiners."""
import dataclasses
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vid_jax import checkpoint as ckpt_lib
from vid_jax import train_state as ts_lib
from vid_jax.config import check_retired
from vid_jax.data.attributes import attribute_names
from vid_jax.errors import UserError
from vid_jax.models import build_gan

STANDING_SEED = 0  # of the latents behind the EMA generator's BatchNorm statistics


def check_truncation(truncation: float) -> float:
  """The latent truncation threshold, checked: 0 (none) or a positive number of standard deviations."""
  t = float(truncation)
  if not t >= 0.0:  # also rejects NaN
    raise UserError(f"--truncation={truncation}: give 0 (no truncation) or a positive threshold in "
                    "standard deviations, e.g. 1.0")
  return t


def sample_latents(key, n: int, z_dim: int, truncation: float = 0.0):
  """z [n, z_dim] ~ N(0, I); with truncation t > 0, each coordinate from N(0, 1) restricted to
  [-t, t] (the truncation trick of Brock et al. 2019: samples nearer the mode, fewer of the
  rarer looks). Jittable with `truncation` static (a Python float)."""
  if truncation > 0.0:
    return jax.random.truncated_normal(key, -truncation, truncation, (n, z_dim))
  return jax.random.normal(key, (n, z_dim))


@dataclasses.dataclass(frozen=True)
class Models:
  """A run's EMA generator and discriminator, ready for inference (train=False)."""
  config: Any
  generator: Any
  g_variables: Any
  discriminator: Any
  d_variables: Any
  attribute_names: tuple[str, ...]
  attribute_marginals: Any  # np.float32 [A] or None
  step: int

  @property
  def z_dim(self) -> int:
    return self.config.model.z_dim

  @property
  def resolution(self) -> int:
    return self.config.model.resolution

  def generate(self, z, attrs=None):
    """z [B, z_dim] (+ attrs [B, A] in {0, 1}) -> images [B, R, R, 3] in [-1, 1]. Jittable."""
    return self.generator.apply(self.g_variables, z, attrs, train=False)

  def discriminate(self, images, attrs=None, return_features=False):
    """images [B, R, R, 3] -> logits [B] (or (logits, features)). Jittable."""
    return self.discriminator.apply(self.d_variables, images, attrs, train=False,
                                    return_features=return_features)

  @property
  def sampling_marginals(self):
    """np.float32 [A]: the data's marginals, 0.5 each when data_stats.json lacks them; None
    for unconditional models."""
    if not self.attribute_names:
      return None
    if self.attribute_marginals is not None:
      return np.asarray(self.attribute_marginals, np.float32)
    return np.full(len(self.attribute_names), 0.5, np.float32)

  def sample_attributes(self, key, n: int):
    """Attribute vectors [n, A] drawn independently from the data's marginals."""
    if not self.attribute_names:
      return None
    p = jnp.asarray(self.sampling_marginals, jnp.float32)
    return jax.random.bernoulli(key, p, (n, p.shape[0])).astype(jnp.float32)


def request_attributes(models: "Models", key, n: int, wanted, unwanted):
  """Attribute vectors [n, A] for a request: wanted = 1, unwanted = 0, the rest drawn from the
  data's marginals (so identities that ask for nothing else still differ). None for
  unconditional models (which accept no request).

  Raises:
    UserError: an attribute the run is not conditioned on, one both wanted and unwanted, or a
      request to an unconditional run.
  """
  names = models.attribute_names
  if not names:
    if wanted or unwanted:
      raise UserError("--attrs/--not need a conditional run; this workdir was trained "
                      "unconditionally (model.conditional=False); train configs/cdcgan_avatars.py")
    return None
  for a in list(wanted) + list(unwanted):
    if a not in names:
      raise UserError(f"attribute {a!r} is not conditioned in this run; use some of: {', '.join(names)}")
  both = set(wanted) & set(unwanted)
  if both:
    raise UserError(f"attribute(s) {sorted(both)} are in both --attrs and --not")
  y = models.sample_attributes(key, n)
  for a in wanted:
    y = y.at[:, names.index(a)].set(1.0)
  for a in unwanted:
    y = y.at[:, names.index(a)].set(0.0)
  return y


# Fields added after runs were written, with the value those older runs trained with.
LEGACY_DEFAULTS = {("optim", "aux_weight"): 0.0, ("optim", "aux_mode"): "ac",
                   ("model", "projection"): "pooled", ("optim", "lr_decay_start"): 0,
                   ("model", "g_cond_hidden"): 0, ("optim", "mode_seeking"): 0.0,
                   ("optim", "mismatch_weight"): 0.0, ("model", "aux_net_width"): 0,
                   ("optim", "d_batch"): "separate", ("model", "g_cond_spatial"): 0}


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise UserError(f"{workdir} is not a training workdir (no config.json); "
                    "give the --workdir of a launch.py run")
  with open(path, encoding="utf-8") as f:
    # A run of a retired option fails here, in one line; older runs lose the retired fields' "off" values.
    config = ml_collections.ConfigDict(check_retired(json.load(f), where=path))
  for (section, field), value in LEGACY_DEFAULTS.items():
    if field not in config[section]:
      config[section][field] = value
  return config


def load_models(workdir: str, step: int | None = None) -> Models:
  """Restores the latest (or `step`) checkpoint of `workdir` on the default device."""
  config = load_config(workdir)
  checkpointer = ckpt_lib.Checkpointer(workdir, keep=config.train.keep, read_only=True)
  if checkpointer.latest_step() is None:
    raise UserError(f"no checkpoint in {checkpointer.directory}; train first "
                    f"(python launch.py --config=... --workdir={workdir})")
  generator, discriminator = build_gan(config)
  names = attribute_names(config)
  abstract = jax.eval_shape(ts_lib.make_init_fn(config, generator, discriminator), jax.random.PRNGKey(0))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  state, _ = checkpointer.restore(ckpt_lib.abstract_with_sharding(abstract, device), step)
  checkpointer.close()
  marginals = None
  stats_path = os.path.join(workdir, "data_stats.json")
  if os.path.exists(stats_path):
    with open(stats_path, encoding="utf-8") as f:
      m = json.load(f).get("marginals")
    marginals = None if m is None else np.asarray(m, np.float32)
  # The EMA params get their own BatchNorm statistics (train_state.standing_batch_stats), measured
  # on fixed latents and, for conditional models, attributes drawn from the data's marginals.
  keys = jax.random.split(jax.random.PRNGKey(STANDING_SEED))
  z = jax.random.normal(keys[0], (ts_lib.STANDING_SAMPLES, config.model.z_dim))
  attrs = None
  if names:
    p = np.full(len(names), 0.5, np.float32) if marginals is None else marginals
    attrs = jax.random.bernoulli(keys[1], jnp.asarray(p), (ts_lib.STANDING_SAMPLES, len(names))).astype(jnp.float32)
  standing = jax.jit(lambda params, z, y: ts_lib.standing_batch_stats(generator, params, z, y))
  return Models(config=config, generator=generator,
                g_variables={"params": state.ema_params, "batch_stats": standing(state.ema_params, z, attrs)},
                discriminator=discriminator,
                d_variables={"params": state.d_params, "batch_stats": state.d_batch_stats},
                attribute_names=names, attribute_marginals=marginals, step=int(state.step))

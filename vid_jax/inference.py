"""The EMA generator for inference: its standing BatchNorm statistics (one recipe, used by
training's sample grids and evaluators and by every tool), the sampler, and loading a finished
(or running) training workdir's models for generation and refiners."""
import dataclasses
import functools
import json
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vid_jax import checkpoint as ckpt_lib
from vid_jax import paths
from vid_jax import train_state as ts_lib
from vid_jax import zoo
from vid_jax.data.attributes import attribute_names, exclusive_columns, exclusive_request
from vid_jax.errors import UserError
from vid_jax.models import build_gan

STANDING_SEED = 0  # of the latents (and attributes) behind the EMA generator's BatchNorm statistics


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


def sampling_marginals(names, marginals):
  """np.float32 [A]: the data's attribute marginals for sampling, 0.5 each where unknown (None);
  None for unconditional runs (no names)."""
  if not names:
    return None
  if marginals is not None:
    return np.asarray(marginals, np.float32)
  return np.full(len(names), 0.5, np.float32)


def draw_attributes(key, marginals, n: int, *, exclusive=()):
  """Attribute vectors [n, A] in {0, 1}: each column its own Bernoulli draw from `marginals` [A],
  except the `exclusive` columns (data.attributes.exclusive_columns: the hair colours), which are
  one categorical draw per row with the same marginals (none of them with the rest of the mass;
  renormalised if the marginals sum over 1). Jittable with `n` and `exclusive` static."""
  p = jnp.asarray(marginals, jnp.float32)
  k_ind, k_cat = jax.random.split(key)
  attrs = jax.random.bernoulli(k_ind, p, (n, p.shape[0])).astype(jnp.float32)
  if not exclusive:
    return attrs
  cols = jnp.asarray(exclusive)
  q = p[cols]
  q = q / jnp.maximum(1.0, jnp.sum(q))
  logits = jnp.log(jnp.concatenate([q, jnp.maximum(1.0 - jnp.sum(q), 0.0)[None]]) + 1e-12)
  pick = jax.random.categorical(k_cat, logits, shape=(n,))  # [n] in 0..len(cols), the last = none
  return attrs.at[:, cols].set(jax.nn.one_hot(pick, len(exclusive) + 1)[:, :-1])


def standing_inputs(*, z_dim: int, marginals, exclusive=()):
  """The fixed inputs of the EMA generator's standing statistics.

  Args:
    z_dim: latent size.
    marginals: [A] sampling marginals (`sampling_marginals`), or None (unconditional).
    exclusive: columns drawn as one categorical (`draw_attributes`).

  Returns:
    (z [STANDING_SAMPLES, z_dim], attributes [STANDING_SAMPLES, A] in {0, 1} or None): z from
    N(0, I), attributes drawn from the marginals, both from PRNGKey(STANDING_SEED).
  """
  keys = jax.random.split(jax.random.PRNGKey(STANDING_SEED))
  z = jax.random.normal(keys[0], (ts_lib.STANDING_SAMPLES, z_dim))
  attrs = None
  if marginals is not None:
    attrs = draw_attributes(keys[1], marginals, ts_lib.STANDING_SAMPLES, exclusive=tuple(exclusive))
  return z, attrs


def make_ema_variables_fn(generator, *, z_dim: int, marginals, exclusive=()):
  """`ema_params -> variables`: the EMA generator's params with their own BatchNorm statistics.

  The running statistics of the train state belong to the raw G params; the EMA params get
  standing statistics (train_state.standing_batch_stats) measured on `standing_inputs`. The one
  recipe for sample grids and evaluators during training and for every tool, so a checkpoint's
  EMA generator draws the same images in both. Compiled once; the params are an argument.

  Args:
    generator: the run's Generator module.
    z_dim: latent size.
    marginals: [A] sampling marginals (`sampling_marginals`), or None (unconditional).
    exclusive: columns drawn as one categorical (`draw_attributes`).
  """
  z, attrs = standing_inputs(z_dim=z_dim, marginals=marginals, exclusive=exclusive)
  standing = jax.jit(lambda params, z, y: ts_lib.standing_batch_stats(generator, params, z, y))
  return lambda ema_params: {"params": ema_params, "batch_stats": standing(ema_params, z, attrs)}


def sample_inputs(key, n: int, *, z_dim: int, marginals=None, truncation: float = 0.0, exclusive=()):
  """The inputs of `n` samples from one key: (z [n, z_dim], attributes [n, A] in {0, 1} or None).

  z as in `sample_latents`; the attributes from `marginals` [A] by `draw_attributes` (None:
  unconditional). Jittable with `n`, `truncation` and `exclusive` static.
  """
  k_z, k_a = jax.random.split(key)
  z = sample_latents(k_z, n, z_dim, truncation)
  if marginals is None:
    return z, None
  return z, draw_attributes(k_a, marginals, n, exclusive=tuple(exclusive))


def make_sample_fn(generator, *, z_dim: int, marginals=None, truncation: float = 0.0, exclusive=()):
  """`(variables, key, n) -> (images [n, R, R, 3] in [-1, 1], attributes [n, A] or None)`:
  G on `sample_inputs(key, n, ...)`. Compiled once per n; the variables are an argument, so
  new weights do not recompile."""
  p = None if marginals is None else jnp.asarray(marginals, jnp.float32)

  @functools.partial(jax.jit, static_argnums=2)
  def sample(variables, key, n):
    z, attrs = sample_inputs(key, n, z_dim=z_dim, marginals=p, truncation=truncation, exclusive=exclusive)
    return generator.apply(variables, z, attrs, train=False), attrs

  return sample


def make_generate_fn(generator, *, z_dim: int, truncation: float = 0.0):
  """`(variables, key, attributes [n, A]) -> images [n, R, R, 3]`: G on fresh latents drawn
  from the key as in `sample_latents` (compiled per n)."""

  @jax.jit
  def generate(variables, key, attrs):
    z = sample_latents(key, attrs.shape[0], z_dim, truncation)
    return generator.apply(variables, z, attrs, train=False)

  return generate


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
    return sampling_marginals(self.attribute_names, self.attribute_marginals)

  def sample_attributes(self, key, n: int):
    """Attribute vectors [n, A] drawn from the data's marginals (`draw_attributes`)."""
    if not self.attribute_names:
      return None
    return draw_attributes(key, self.sampling_marginals, n, exclusive=self.exclusive_columns)

  @property
  def exclusive_columns(self) -> tuple[int, ...]:
    """The attribute columns drawn as one categorical (the hair colours; data.attributes)."""
    return exclusive_columns(self.attribute_names)


def request_attributes(models: "Models", key, n: int, wanted, unwanted):
  """Attribute vectors [n, A] for a request: wanted = 1, unwanted = 0, the rest drawn from the
  data's marginals (so identities that ask for nothing else still differ). None for
  unconditional models (which accept no request). One hair colour per avatar: a wanted hair
  colour sets the others to 0, and several wanted keep the first named (the tools print
  `data.attributes.exclusive_request`'s note).

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
  wanted, unwanted, _ = exclusive_request(wanted, unwanted)
  unwanted = tuple(a for a in unwanted if a in names)
  y = models.sample_attributes(key, n)
  for a in wanted:
    y = y.at[:, names.index(a)].set(1.0)
  for a in unwanted:
    y = y.at[:, names.index(a)].set(0.0)
  return y


# Fields added after runs were written, with the value those older runs trained with.
LEGACY_DEFAULTS = {
    ("optim", "aux_weight"): 0.0,
    ("optim", "aux_mode"): "ac",
    ("model", "projection"): "pooled",
    ("optim", "lr_decay_start"): 0,
    ("model", "g_cond_hidden"): 0,
    ("optim", "mode_seeking"): 0.0,
    ("optim", "mismatch_weight"): 0.0,
    ("model", "aux_net_width"): 0,
    ("optim", "d_batch"): "separate",
    ("model", "g_cond_spatial"): 0,
    ("model", "g_upsample"): "convt",
    ("model", "d_spectral_norm"): False,
    ("optim", "diffaugment"): ""
}


def load_config(workdir: str) -> ml_collections.ConfigDict:
  run_config = ckpt_lib.read_run_config(workdir)
  if run_config is None:
    raise UserError(f"{workdir} is not a training workdir (no config.json); "
                    "give the --workdir of a launch.py run")
  config = ml_collections.ConfigDict(run_config)
  for (section, field), value in LEGACY_DEFAULTS.items():
    if field not in config[section]:
      config[section][field] = value
  return config


def load_models(source: str, step: int | None = None) -> Models:
  """The EMA generator and the discriminator of a training workdir or a zoo entry, on the default device.

  Args:
    source: a launch.py workdir (its latest or `step` checkpoint; the EMA generator's standing
      BatchNorm statistics computed here), or a zoo entry, `zoo:avatar_gan` or its folder (the
      variables stored as they were computed from its workdir; vid_jax.zoo).
    step: checkpoint step (default the latest; an entry holds one step).

  Raises:
    UserError: no run or entry there, a missing checkpoint, or an entry that fails its card.
  """
  if zoo.is_entry(source):
    return _load_entry(source, step)
  workdir = source
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
  marginals = _read_marginals(workdir)
  ema_variables = make_ema_variables_fn(generator, z_dim=config.model.z_dim,
                                        marginals=sampling_marginals(names, marginals),
                                        exclusive=exclusive_columns(names))
  return Models(config=config, generator=generator, g_variables=ema_variables(state.ema_params),
                discriminator=discriminator, d_variables={
                    "params": state.d_params,
                    "batch_stats": state.d_batch_stats
                }, attribute_names=names, attribute_marginals=marginals, step=int(state.step))


def _read_marginals(workdir):
  """data_stats.json's attribute marginals (np.float32 [A]) or None."""
  stats_path = paths.workdir_file(workdir, "data_stats.json")
  if not stats_path.exists():
    return None
  with stats_path.open("r", encoding="utf-8") as f:
    m = json.load(f).get("marginals")
  return None if m is None else np.asarray(m, np.float32)


def _load_entry(source: str, step: int | None) -> Models:
  """Models from a zoo entry: the stored EMA generator variables (params + standing statistics) and
  D's variables; no recipe runs, so they draw what the exported workdir drew (within the card's
  float16 error)."""
  entry = zoo.open_entry(source, "gan", step)
  config = load_config(entry.path)
  generator, discriminator = build_gan(config)
  abstract = jax.eval_shape(ts_lib.make_init_fn(config, generator, discriminator), jax.random.PRNGKey(0))
  flat = entry.weights()
  g_abstract = {"params": abstract.ema_params, "batch_stats": abstract.g_batch_stats}
  d_abstract = {"params": abstract.d_params, "batch_stats": abstract.d_batch_stats}
  return Models(config=config, generator=generator,
                g_variables=zoo.restore(flat, g_abstract, prefix="generator/",
                                        where=entry.path), discriminator=discriminator,
                d_variables=zoo.restore(flat, d_abstract, prefix="discriminator/",
                                        where=entry.path), attribute_names=attribute_names(config),
                attribute_marginals=_read_marginals(entry.path), step=entry.step)


PROBE_SAMPLES = 64  # fixed inputs of the float16 check of an export
IMAGE_TOLERANCE = 1.0 / 255  # half a uint8 level of [-1, 1] images: float16 storage changes no PNG pixel by > 1
LOGIT_TOLERANCE = 1e-2  # D's logits


def export_payload(workdir: str, step: int | None = None) -> "zoo.ExportPayload":
  """What a zoo entry of `workdir`'s GAN stores (tools/export_zoo.py): the EMA generator's variables as
  `load_models` computes them and D's, config.json, data_stats.json; the float16 check measures G's
  images on PROBE_SAMPLES fixed (z, attributes) and D's logits on those images."""
  if zoo.is_entry(workdir):
    raise UserError(f"{workdir} is a zoo entry already; export from the training workdir")
  models = load_models(workdir, step)
  variables = {"generator": models.g_variables, "discriminator": models.d_variables}
  arrays = {k: np.asarray(jax.device_get(v)) for k, v in zoo.flatten(variables).items()}
  files = {}
  for name in ("config.json", "data_stats.json"):
    f = paths.workdir_file(workdir, name)
    if f.exists():
      files[name] = f.read_bytes()
  k_z, k_y = jax.random.split(jax.random.PRNGKey(1))
  z = jax.random.normal(k_z, (PROBE_SAMPLES, models.z_dim))
  y = models.sample_attributes(k_y, PROBE_SAMPLES)
  g, d = models.generator, models.discriminator

  @jax.jit
  def images_fn(variables):
    return g.apply(variables, z, y, train=False)

  reference = images_fn(models.g_variables)

  @jax.jit
  def logits_fn(variables):
    return d.apply(variables, reference, y, train=False)

  def outputs(flat):
    tree = zoo.unflatten({k: jnp.asarray(v) for k, v in flat.items()}, variables)
    return {
        "images": np.asarray(images_fn(tree["generator"])),
        "discriminator_logits": np.asarray(logits_fn(tree["discriminator"]))
    }

  return zoo.ExportPayload(kind="gan", step=models.step, arrays=arrays, files=files, outputs=outputs,
                           tolerance={
                               "images": IMAGE_TOLERANCE,
                               "discriminator_logits": LOGIT_TOLERANCE
                           }, probe=f"{PROBE_SAMPLES} fixed (z, attributes) from PRNGKey(1)")

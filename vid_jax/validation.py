"""Checks a GAN run config once, before anything compiles: one UserError naming each bad field.

The config (vid_jax/config.py) is data and imports none of the code it configures. This module
checks each section against the code that owns its vocabulary (the models' resolutions, conv
implementations and projections; the config's loss and mode names) and hands the refiners' and
the evaluation's sections to the checks that live with them. `vid_jax.train.Trainer` and
tools/bench/gan_step.py call `validate` before building anything.
"""
import os

from vid_jax.augment import AUGMENTATIONS, parse_policy
from vid_jax.config import AUX_MODES, D_BATCHES, DTYPES, LOSSES, check_retired
from vid_jax.data.attributes import ATTRIBUTE_INDEX, attribute_names
from vid_jax.errors import UserError
from vid_jax.evaluators import common as evaluate
from vid_jax.models.discriminator import PROJECTIONS
from vid_jax.models.generator import RESOLUTIONS, UPSAMPLES
from vid_jax.models.layers import CONV_IMPLS
from vid_jax.refiners import adversarial


def _err(field, value, fix):
  return UserError(f"config.{field}={value!r}: {fix}")


def validate(config, *, device_count: int, process_count: int = 1) -> None:
  """Checks a GAN run config before anything compiles; raises UserError naming the bad field."""
  check_retired(config, where="the config", trained=False)
  m, o, t, d = config.model, config.optim, config.train, config.data
  if m.resolution not in RESOLUTIONS:
    raise _err("model.resolution", m.resolution, f"use one of {', '.join(map(str, RESOLUTIONS))}")
  if m.dtype not in DTYPES:
    raise _err("model.dtype", m.dtype, f"use one of {', '.join(DTYPES)}")
  if m.conv_impl not in CONV_IMPLS:
    raise _err("model.conv_impl", m.conv_impl, f"use one of {', '.join(CONV_IMPLS)}")
  if m.g_upsample not in UPSAMPLES:
    raise _err("model.g_upsample", m.g_upsample, f"use one of {', '.join(UPSAMPLES)}")
  if not isinstance(m.d_spectral_norm, bool):
    raise _err("model.d_spectral_norm", m.d_spectral_norm, "must be True or False")
  for field in ("z_dim", "g_width", "d_width"):
    if m[field] < 1:
      raise _err(f"model.{field}", m[field], "must be a positive integer")
  if m.conditional:
    names = attribute_names(config)
    unknown = [a for a in names if a not in ATTRIBUTE_INDEX]
    if not names or unknown:
      raise _err(
          "model.attributes", m.attributes,
          f"unknown attribute(s) {unknown}; use comma-separated CelebA names such as Smiling,Eyeglasses")
  if m.g_cond_hidden < 0:
    raise _err("model.g_cond_hidden", m.g_cond_hidden,
               "must be 0 (linear attribute embedding) or a positive width")
  if m.g_cond_spatial < 0:
    raise _err("model.g_cond_spatial", m.g_cond_spatial,
               "must be 0 (per-channel conditional BatchNorm) or a positive number of maps")
  if m.aux_net_width < 0:
    raise _err("model.aux_net_width", m.aux_net_width,
               "must be 0 (the head reads D's features) or a positive stem width")
  if m.aux_net_width and not o.aux_weight:
    raise _err("model.aux_net_width", m.aux_net_width,
               "feeds the attribute head, which is off; set optim.aux_weight > 0 or this to 0")
  if m.projection not in PROJECTIONS:
    raise _err("model.projection", m.projection, f"use one of {', '.join(PROJECTIONS)}")
  if o.loss not in LOSSES:
    raise _err("optim.loss", o.loss, f"unknown loss; use one of {', '.join(LOSSES)}")
  if o.n_critic < 1:
    raise _err("optim.n_critic", o.n_critic, "must be >= 1")
  if o.r1_gamma < 0:
    raise _err("optim.r1_gamma", o.r1_gamma, "must be >= 0")
  aux = o.aux_weight
  if aux < 0:
    raise _err("optim.aux_weight", aux, "must be >= 0")
  if aux and not m.conditional:
    raise _err(
        "optim.aux_weight", aux, "the auxiliary attribute loss needs model.conditional=True; "
        "set it to 0 for unconditional runs")
  if o.mode_seeking < 0:
    raise _err("optim.mode_seeking", o.mode_seeking, "must be >= 0")
  if o.mode_seeking and t.batch_size % 2:
    raise _err("optim.mode_seeking", o.mode_seeking,
               f"pairs fakes, so train.batch_size ({t.batch_size}) must be even")
  if o.mismatch_weight < 0:
    raise _err("optim.mismatch_weight", o.mismatch_weight, "must be >= 0")
  if o.mismatch_weight and not m.conditional:
    raise _err("optim.mismatch_weight", o.mismatch_weight, "mismatched attributes need "
               "model.conditional=True; set it to 0 for unconditional runs")
  if o.d_batch not in D_BATCHES:
    raise _err("optim.d_batch", o.d_batch, f"use one of {', '.join(D_BATCHES)}")
  unknown = [name for name in parse_policy(o.diffaugment) if name not in AUGMENTATIONS]
  if unknown:
    raise _err(
        "optim.diffaugment", o.diffaugment,
        f"unknown augmentation(s) {unknown}; use \"\" (off) or a comma list of {', '.join(AUGMENTATIONS)}")
  if o.aux_mode not in AUX_MODES:
    raise _err("optim.aux_mode", o.aux_mode, f"use one of {', '.join(AUX_MODES)}")
  if o.lr_decay_start < 0 or (o.lr_decay_start and o.lr_decay_start >= t.num_steps):
    raise _err("optim.lr_decay_start", o.lr_decay_start,
               f"must be 0 (constant lrs) or a G step before train.num_steps ({t.num_steps})")
  if not 0.0 <= o.ema_decay < 1.0:
    raise _err("optim.ema_decay", o.ema_decay, "must be in [0, 1)")
  if t.batch_size < 1 or t.batch_size % device_count:
    raise _err(
        "train.batch_size", t.batch_size,
        f"the global batch must be a positive multiple of the device count ({device_count}); "
        f"e.g. --config.train.batch_size={max(1, t.batch_size // device_count) * device_count or device_count}"
    )
  if t.batch_size % process_count:
    raise _err("train.batch_size", t.batch_size, f"must be divisible by the process count ({process_count})")
  if t.num_steps < 1:
    raise _err("train.num_steps", t.num_steps, "must be >= 1")
  k = t.steps_per_dispatch
  if k < 1:
    raise _err("train.steps_per_dispatch", k, "must be >= 1")
  for field in ("num_steps", "log_every", "checkpoint_every", "sample_every"):
    if t[field] < 0 or t[field] % k:
      raise _err(f"train.{field}", t[field],
                 f"must be a non-negative multiple of train.steps_per_dispatch ({k})")
  if t.eval_every < 0 or t.eval_every % k:
    raise _err("train.eval_every", t.eval_every,
               f"must be a non-negative multiple of train.steps_per_dispatch ({k})")
  if t.keep < 1:
    raise _err("train.keep", t.keep, "must be >= 1")
  if d.on_bad_file not in ("skip", "error"):
    raise _err("data.on_bad_file", d.on_bad_file, "use skip or error")
  src = d.source
  if not (src == "avatars" or src.startswith("tfds:") or src.startswith("folder:")):
    raise _err("data.source", src, "use avatars, tfds:celeb_a or folder:PATH")
  if src.startswith("folder:") and not d.cache_dir and not os.path.isdir(src[len("folder:"):]):
    raise _err("data.source", src, "the folder does not exist; give an existing image folder")
  # The sections whose code checks them itself, each naming its own fields.
  adversarial.validate_config(config.refiners.adversarial)
  evaluate.check_eval_config(config)

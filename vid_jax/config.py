"""Shared config defaults and `:arg` parsing. Configs are data: this module imports no model,
metric or refiner; `vid_jax.validation.validate` checks a run config before anything compiles."""
import importlib.util
import os

import ml_collections

from vid_jax.errors import UserError

# A useful dozen CelebA attributes for conditional models: the ones the avatar
# data draws most visibly and that users ask for.
DEFAULT_CONDITIONAL_ATTRIBUTES = ",".join(
    ("Male", "Smiling", "Eyeglasses", "Wearing_Hat", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair",
     "Bald", "Bangs", "Mustache", "Young"))
LOSSES = ("ns", "hinge")
DTYPES = ("float32", "bfloat16")
AUX_MODES = ("ac", "adc")
D_BATCHES = ("separate", "joint")  # how D's BatchNorm sees reals and fakes (optim.d_batch)
# Options measured worse and set by no shipped config, removed with their code on RETIRED_ON (the
# last commit that has them: RETIRED_AFTER); docs/experiments/configs.md lists what they measured.
RETIRED_ON, RETIRED_AFTER = "2026-12-06", "ac0f74f"
RETIRED_FIELDS = {
    ("model", "d_cond_shift"): False,
    ("model", "d_stage_projection"): False,
    ("model", "d_cond_hidden"): 0,
    ("optim", "aux_lr"): 0.0
}  # field -> its "off" value
RETIRED_VALUES = {("optim", "aux_mode"): ("adc_ratio",)}  # field -> values no longer accepted
# Retired later, each with its own date and last commit: VEEGAN's z-reconstruction term (issue 30,
# docs/experiments/veegan.md: FID, diversity and grain level or worse at step 1,000).
RETIRED_LATER = {
    ("optim", "z_reconstruction"): ("2026-12-06", "7b3635a"),
    ("model", "encoder_width"): ("2026-12-06", "7b3635a")
}
RETIRED_FIELDS |= {("optim", "z_reconstruction"): 0.0, ("model", "encoder_width"): 32}


def parse_arg(arg: str | None, **defaults):
  """Parses `'smoke,batch=32'`-style config args into a ConfigDict (big_vision style).

  Every key must be in `defaults`; bare words set booleans to True.
  """
  out = ml_collections.ConfigDict(defaults)
  for part in filter(None, (arg or "").split(",")):
    key, _, value = part.partition("=")
    if key not in defaults:
      raise UserError(f"config arg {key!r} is unknown; known: {', '.join(sorted(defaults))}")
    default = defaults[key]
    if not value:
      out[key] = True
    elif isinstance(default, bool):
      out[key] = value.lower() in ("1", "true", "yes")
    else:
      out[key] = type(default)(value)
  return out


def check_retired(config, *, where: str, trained: bool = True) -> dict:
  """A run's config as a dict without the retired fields; UserError if it turns a retired option on.

  Args:
    config: a dict (a run's config.json) or a ConfigDict.
    where: what the config is, for the message (e.g. "runs/x/config.json").
    trained: the config is a finished run's ("was trained with") rather than a new one's ("sets").

  Returns:
    A dict copy of `config` without the retired fields, which older runs hold at their "off" value.
  """
  config = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else config
  config = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()}
  verb, fix = ("was trained with", "retrain without it") if trained else ("sets", "drop it")
  for (section, field), off in RETIRED_FIELDS.items():
    value = config.get(section, {}).pop(field, off)
    if value != off:
      raise _retired(where, verb, f"{section}.{field}={value!r}", fix, *RETIRED_LATER.get((section, field),
                                                                                          ()))
  for (section, field), values in RETIRED_VALUES.items():
    value = config.get(section, {}).get(field)
    if value in values:
      raise _retired(where, verb, f"{section}.{field}={value!r}", fix)
  return config


def _retired(where: str, verb: str, option: str, fix: str, on: str = RETIRED_ON,
             after: str = RETIRED_AFTER) -> UserError:
  return UserError(f"{where} {verb} {option}, an option retired on {on} (measured worse, "
                   f"docs/experiments/configs.md); {fix} or check out an older vid_jax "
                   f"(git checkout {after})")


def load_config_file(path: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """`get_config(arg)` of a config file (configs are loaded by path, not imported as a package)."""
  if not os.path.exists(path):
    raise UserError(f"no config file {path}")
  name = "vid_jax_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def sibling_config(config_file: str, name: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """The config `name` from the same folder as `config_file` (for configs built on another)."""
  return load_config_file(os.path.join(os.path.dirname(os.path.abspath(config_file)), f"{name}.py"), arg)


def base_config() -> ml_collections.ConfigDict:
  """Defaults shared by every experiment config; experiments override fields."""
  c = ml_collections.ConfigDict()

  c.data = ml_collections.ConfigDict()
  c.data.source = "avatars"  # avatars | tfds:celeb_a | folder:PATH
  c.data.num_examples = 20_000  # dataset size for `avatars`; a limit (0 = all) for the others
  c.data.seed = 0  # which avatars are drawn (independent of train.seed)
  c.data.cache_dir = ""  # prepared cache (tools/prepare_data.py); "" = read the source live
  c.data.on_bad_file = "skip"  # folder sources: skip | error on unreadable files
  c.data.flip = False  # random horizontal flips
  c.data.data_dir = ""  # tfds data_dir ("" = tfds default)

  c.model = ml_collections.ConfigDict()
  c.model.resolution = 64  # 32 | 64 | 128
  c.model.z_dim = 100  # latent size
  c.model.g_width = 64  # ngf: generator base width
  c.model.g_upsample = "convt"  # G's 2x stages: convt (4x4 transposed conv) | nearest | bilinear (+ 3x3 conv)
  c.model.d_width = 64  # ndf: discriminator base width
  c.model.d_spectral_norm = False  # spectrally normalised D convs (SNGAN), D's BatchNorms dropped
  c.model.dtype = "float32"  # compute dtype: float32 | bfloat16 (params stay float32)
  c.model.conv_impl = "auto"  # auto | native | fast (auto = fast on CPU, native on GPU/TPU)
  c.model.conditional = False  # attribute-conditioned G and projection D
  c.model.attributes = DEFAULT_CONDITIONAL_ATTRIBUTES  # comma-separated CelebA names (conditional only)
  c.model.projection = "spatial"  # projection D's features: spatial (4x4 map) | pooled (Miyato & Koyama's sum)
  c.model.g_cond_hidden = 0  # conditional G: width of an MLP embedding of the attributes (0 = linear)
  # Experimental (vid_jax.experimental): r > 0 adds r attribute maps (4x4, resized) to the shifts
  # of each of G's conditional BatchNorms.
  c.model.g_cond_spatial = 0
  # Experimental: D's attribute head reads its own CNN of this stem width (0 = D's features).
  c.model.aux_net_width = 0

  c.optim = ml_collections.ConfigDict()
  c.optim.loss = "ns"  # ns (non-saturating BCE) | hinge
  c.optim.g_lr = 2e-4  # Adam learning rates (Radford et al. 2016)
  c.optim.d_lr = 2e-4
  c.optim.b1 = 0.5
  c.optim.b2 = 0.999
  c.optim.n_critic = 1  # D updates per G update
  c.optim.r1_gamma = 0.0  # R1 penalty weight on real images (0 = off)
  c.optim.aux_weight = 0.0  # AC-GAN auxiliary attribute loss (conditional only; 0 = off): D's head on reals, G on fakes
  # ac: the head learns reals' attributes (AC-GAN) | adc: (real, fake) x attribute classes (ADC-GAN's
  # head), G's loss the cross-entropy of (real, y)
  c.optim.aux_mode = "ac"
  # Mode-seeking term on G (Mao et al. 2019; 0 = off): fakes come in pairs with the same attributes
  # and G is penalised by 1 / (image distance / latent distance). Needs an even batch.
  c.optim.mode_seeking = 0.0
  # Matching-aware D (Reed et al. 2016; 0 = off): D also sees each real image with one of its
  # attributes flipped, labelled fake, so D's conditional part learns each attribute from real data.
  c.optim.mismatch_weight = 0.0
  # separate: D's BatchNorm normalises the real and the fake batch each by its own statistics
  # (DCGAN's practice); joint (experimental): reals and fakes go through D as one batch with shared
  # statistics, in D's update and in G's, so a shift common to the fakes is not normalised away.
  c.optim.d_batch = "separate"
  c.optim.diffaugment = ""  # DiffAugment of every D input: "" (off) or e.g. "translation,color,cutout"
  c.optim.lr_decay_start = 0  # G step from which both lrs fall linearly to 0 at train.num_steps (0 = constant)
  c.optim.ema_decay = 0.999  # EMA of G's params used for samples

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 1000  # G updates
  c.train.batch_size = 64  # global batch, split over all devices
  c.train.seed = 0
  c.train.steps_per_dispatch = 1  # train steps per jitted call (lax.scan)
  c.train.log_every = 50
  c.train.checkpoint_every = 500
  c.train.keep = 3  # checkpoints kept
  c.train.sample_every = 250  # PNG grid of EMA samples from a fixed z
  c.train.num_samples_grid = 64
  c.train.eval_every = 0  # FID/KID etc. (0 = off)

  c.eval = ml_collections.ConfigDict()
  # vid_jax.evaluators registry names; each runs where the fields below give it what it needs:
  # domain (classifier_workdir), inception (inception), attributes (a classifier, a conditional
  # run), diversity (a conditional run), sharpness (nothing: grain, blur, flat regions vs real)
  c.eval.evaluators = "domain,inception,attributes,diversity,sharpness"
  c.eval.num_samples = 1000  # samples for metrics during training (and tools/evaluate.py)
  c.eval.classifier_workdir = ""  # attribute classifier for domain FID/KID and attribute accuracy
  c.eval.inception = ""  # pytorch-fid Inception .npz (tools/convert_inception.py) for inception_pytorch_fid/*
  c.eval.batch_size = 100  # images per generate / feature call during evaluation

  c.refiners = ml_collections.ConfigDict()
  c.refiners.adversarial = adversarial_defaults()  # PGD on D's inputs in training; docs/adversarial.md
  return c


def adversarial_defaults() -> ml_collections.ConfigDict:
  """The `refiners.adversarial` section: adversarial training of D (vid_jax.refiners.adversarial)."""
  c = ml_collections.ConfigDict()
  c.enabled = False  # perturb D's inputs with PGD inside the train step
  c.norm = "linf"  # "linf" or "l2"
  # Budget in the [-1, 1] image scale: 2/255 of the [0, 1] pixel range, times 2.
  c.eps = 2 / 255 * 2
  # Absolute step, eps / 2 (in the [-1, 1] scale): three steps can cross the
  # ball from any random start.
  c.step_size = 2 / 255
  c.num_steps = 3  # PGD steps per train step (each costs one D forward+backward)
  c.fraction = 0.5  # share of the real and of the fake batch that is perturbed
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config to a few-step run that exercises every code path."""
  c.model.resolution = 32
  c.model.g_width = 8
  c.model.d_width = 8
  c.data.num_examples = 64
  c.train.num_steps = 4
  c.train.batch_size = 8
  c.train.log_every = 2
  c.train.checkpoint_every = 2
  c.train.sample_every = 2
  c.train.num_samples_grid = 16
  c.eval.num_samples = 64
  return c

"""The identity designer: one person's wishes -> avatar, cover, nickname and bio for N identities.

  models = load_designer_models(workdir=..., classifier_workdir=..., nickname_workdir=...)
  wishes = make_wishes(models, locales=["zh_CN"], keywords=["猫", "摄影"], attrs=["Smiling"], ...)
  design = design_identities(models, wishes)   # batched: every part runs once for all N

Each part is a pure JAX function of (params, key, request) behind its module (avatar.py,
nickname.py, bio.py, cover.py); this module splits the key, calls them in order (the bio reads the
avatar's attributes and the nickname, the cover the avatar's palette and the handle) and assembles
one `identity.json` record per identity (schema: vid_jax/identity/identity.schema.json).
"""
import dataclasses
import importlib.metadata
import time
from typing import Any, Optional

import jax
import numpy as np

from vid_jax import encoder as encoder_lib
from vid_jax import inference
from vid_jax.data import attributes as attributes_lib
from vid_jax.errors import UserError
from vid_jax.identity import avatar as avatar_lib
from vid_jax.identity import bio as bio_lib
from vid_jax.identity import cover as cover_lib
from vid_jax.identity import locales as locales_lib
from vid_jax.identity import nickname as nickname_lib
from vid_jax.identity import originality
from vid_jax.models import classifier as classifier_lib

SCHEMA_ID = "vid_jax.identity/1"
MAX_KEYWORDS = 8
MAX_KEYWORD_CHARS = 32
MAX_NUM = 1024
COVER_MODES = cover_lib.MODES
# Generator evaluations per avatar for REINFORCE over z (2 steps of 32): on the demo models the
# classifier found Smiling in 81% -> 98% of 64 avatars (128: 100%), at ~0.6 s per avatar.
REFINE_BUDGET = 64
REFERENCE_IMAGES = 20_000  # training images the originality check compares with (all of the demo's)


@dataclasses.dataclass(frozen=True)
class DesignerModels:
  """Everything the designer reads, loaded once.

  Attributes:
    avatar: `inference.Models` of a conditional GAN run.
    classifier: attribute classifier or None (then no refinement and no predicted attributes).
    nickname: `nickname.NicknameModel`.
    references: training images' pixel features for the originality check (None = off).
    sources: {part: {"path", "step", ...}} for identity.json's `models`.
  """
  avatar: Any
  classifier: Any
  nickname: Any
  references: Optional[originality.ReferenceSet]
  sources: dict
  encoder: Any = None  # vid_jax.encoder.EncoderModels of `avatar` (--from_image), or None


@dataclasses.dataclass(frozen=True)
class Wishes:
  """One person's wishes, checked (make_wishes)."""
  locales: tuple[str, ...]
  keywords: tuple[str, ...]
  attrs: tuple[str, ...]
  avoid: tuple[str, ...]
  style: str
  num: int
  seed: int
  taken: frozenset = frozenset()
  cover_mode: str = cover_lib.DEFAULT_MODE
  refine_budget: int = REFINE_BUDGET
  photo: Any = None  # uint8 [R, R, 3]: the avatar is this photo's inversion (--from_image)
  photo_name: str = ""


def load_designer_models(*, workdir: str, nickname_workdir: str, classifier_workdir: str = "",
                         reference_images: int = REFERENCE_IMAGES,
                         encoder_workdir: str = "") -> DesignerModels:
  """Loads the GAN, the classifier (if given), the nickname model and the originality references.

  Each source is a training workdir or a zoo entry (`zoo:avatar_gan`, `zoo:classifier`,
  `zoo:nickname`, or an entry's folder; vid_jax.zoo), as tools/design.py's defaults are.

  Raises:
    UserError: a missing or unconditional GAN run, a missing classifier or nickname model, a zoo
      entry that fails its card.
  """
  models = inference.load_models(workdir)
  if not models.attribute_names:
    raise UserError(f"--workdir={workdir} is an unconditional run (model.conditional=False); the designer "
                    "needs attributes: use the zoo's (--workdir=zoo:avatar_gan) or train one with python "
                    "launch.py --config=configs/cdcgan_avatars.py --workdir=runs/cdcgan, or use "
                    "tools/generate.py for this run")
  classifier = classifier_lib.load_classifier(classifier_workdir) if classifier_workdir else None
  nickname = nickname_lib.load_nickname_model(nickname_workdir)
  references = None
  if reference_images > 0:
    # Pixel space (16x16 area-downsampled): a copy is a copy of the picture, while two different
    # avatars with the same attributes sit close in the classifier's space. All 20,000 demo
    # images take ~3 s here.
    references = originality.reference_set(models.config, num=reference_images)
  sources = {
      "software": {
          name: _version(name) for name in ("vid_jax", "jax", "flax", "faker", "pypinyin")
      },
      "avatar": {
          "path": workdir,
          "step": int(models.step),
          "attributes": list(models.attribute_names)
      },
      "classifier":
          None if classifier is None else {
              "path": classifier_workdir,
              "attributes": list(classifier.attribute_names)
          },
      "nickname": {
          "path": nickname_workdir,
          "step": int(nickname.step)
      },
      "originality":
          None if references is None else {
              "images": int(references.features.shape[0]),
              "space": references.space
          },
  }
  encoder = None
  if encoder_workdir:
    encoder = _load_encoder(encoder_workdir, workdir=workdir, models=models, classifier=classifier,
                            classifier_workdir=classifier_workdir)
    sources["encoder"] = {"path": encoder_workdir, "step": encoder.step}
  return DesignerModels(models, classifier, nickname, references, sources, encoder)


def _load_encoder(encoder_workdir, *, workdir, models, classifier, classifier_workdir):
  """The encoder of the designer's GAN (its meta must name that GAN), sharing the loaded models."""
  meta = encoder_lib.bundle.read_meta(encoder_workdir)
  if meta["gan"] != encoder_lib.bundle.source_ref(workdir):
    raise UserError(
        f"--encoder_workdir={encoder_workdir} inverts the GAN {meta['gan']}, not --workdir={workdir}; "
        f"give --workdir={meta['gan']} or an encoder trained for {workdir} (tools/train_encoder.py)")
  frozen = None
  if classifier is not None and meta["classifier"] == encoder_lib.bundle.source_ref(classifier_workdir):
    frozen = encoder_lib.Frozen(gan=models, classifier=classifier)
  return encoder_lib.load_encoder(encoder_workdir, frozen=frozen)


def _version(package: str) -> str:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return "unknown"


def make_wishes(models: DesignerModels, *, locales, keywords=(), attrs=(), avoid=(), style="none", num=1,
                seed=0, taken=frozenset(), cover_mode=cover_lib.DEFAULT_MODE, refine_budget=REFINE_BUDGET,
                photo=None, photo_name="") -> Wishes:
  """Checks a request against the loaded models; one UserError naming the flag otherwise."""
  locales = tuple(locales)
  if not locales:
    raise UserError("--locale is empty; give one or more of " + ", ".join(locales_lib.LOCALES))
  for loc in locales:
    locales_lib.check_locale(loc)
  keywords = tuple(k.strip() for k in keywords)
  if len(keywords) > MAX_KEYWORDS:
    raise UserError(f"--keywords has {len(keywords)} words; give at most {MAX_KEYWORDS}")
  for k in keywords:
    if not k:
      raise UserError(
          "--keywords has an empty word; separate words by single commas, e.g. --keywords=cat,photo")
    if len(k) > MAX_KEYWORD_CHARS:
      raise UserError(f"--keywords: {k[:20]!r}... is {len(k)} characters; keep each word to "
                      f"{MAX_KEYWORD_CHARS}")
  names = models.avatar.attribute_names
  for flag, values in (("--attrs", attrs), ("--not", avoid)):
    unknown = [a for a in values if a not in names]
    if unknown:
      raise UserError(f"{flag}: {unknown} not known to the avatar generator; use some of {', '.join(names)}")
  both = sorted(set(attrs) & set(avoid))
  if both:
    raise UserError(f"--attrs and --not both name {both}; an attribute cannot be wanted and unwanted")
  # One hair colour per avatar: several asked for keep the first (the tool prints the note).
  attrs, avoid, _ = attributes_lib.exclusive_request(attrs, avoid)
  avoid = tuple(a for a in avoid if a in names)
  if style not in avatar_lib.STYLES:
    raise UserError(f"--style={style!r} is unknown; use one of {', '.join(avatar_lib.STYLES)}")
  if not 1 <= num <= MAX_NUM:
    raise UserError(f"--num={num}: give 1 to {MAX_NUM} identities")
  if cover_mode not in COVER_MODES:
    raise UserError(f"--cover={cover_mode!r} is unknown; use one of {', '.join(COVER_MODES)}")
  if refine_budget < 0:
    raise UserError(f"--refine_budget={refine_budget}: must be >= 0 (0 = no refinement)")
  if photo is not None and models.encoder is None:
    raise UserError("--from_image needs an encoder of the avatar GAN (--encoder_workdir; "
                    "tools/train_encoder.py trains one)")
  return Wishes(locales=locales, keywords=keywords, attrs=tuple(attrs), avoid=tuple(avoid), style=style,
                num=int(num), seed=int(seed), taken=frozenset(taken), cover_mode=cover_mode,
                refine_budget=int(refine_budget), photo=photo, photo_name=photo_name)


@dataclasses.dataclass(frozen=True)
class Design:
  """The designer's output: records for identity.json and the images to write.

  Attributes:
    identities: one identity.json dict per identity (files named relative to its folder).
    avatars: uint8 [N, R, R, 3] after the style.
    covers: uint8 [N, H, W, 3] after the style.
    stats: batch figures (nickname rejection rate, timings, originality resamples).
  """
  identities: list
  avatars: np.ndarray
  covers: np.ndarray
  stats: dict


def part_keys(seed: int) -> dict:
  """The PRNG key of each part for a seed (every part gets its own stream)."""
  keys = jax.random.split(jax.random.PRNGKey(seed), 4)
  return dict(zip(("avatar", "nickname", "bio", "cover"), keys))


def to_uint8(images) -> np.ndarray:
  """float [-1, 1] -> uint8 [0, 255] (round half to even, like writer.to_uint8)."""
  return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _timed(fn):
  start = time.perf_counter()
  out = jax.block_until_ready(fn())
  return out, time.perf_counter() - start


def design_identities(models: DesignerModels, wishes: Wishes) -> Design:
  """Designs `wishes.num` identities in batched calls; deterministic given the wishes."""
  n = wishes.num
  keys = part_keys(wishes.seed)
  k_avatar, k_nick, k_bio, k_cover = keys["avatar"], keys["nickname"], keys["bio"], keys["cover"]
  locales = [wishes.locales[i % len(wishes.locales)] for i in range(n)]
  refine = wishes.refine_budget if models.classifier is not None else 0
  if wishes.photo is not None:
    av, t_avatar = _timed(
        lambda: avatar_lib.photo_avatars(models.encoder, wishes.photo, num=n, wanted=wishes.attrs, unwanted=
                                         wishes.avoid, classifier=models.classifier, style=wishes.style))
  else:
    av, t_avatar = _timed(lambda: avatar_lib.design_avatars(
        models.avatar, key=k_avatar, num=n, wanted=wishes.attrs, unwanted=wishes.avoid, classifier=models.
        classifier, refine_budget=refine, style=wishes.style, references=models.references))
  (nicks, nick_stats), t_nick = _timed(lambda: nickname_lib.design_nicknames(
      models.nickname, key=k_nick, locales=locales, keywords=[list(wishes.keywords)] * n, taken=wishes.taken))
  shown = _shown_attributes(models, av)
  bios, t_bio = _timed(
      lambda: bio_lib.design_bios(key=k_bio, locales=locales, keywords=[list(wishes.keywords)] * n, attributes
                                  =shown, nicknames=[x["display"] for x in nicks]))
  seeds = np.asarray([cover_lib.handle_seed(x["handle"]) for x in nicks], np.int32)
  (covers, cover_info
  ), t_cover = _timed(lambda: cover_lib.make_covers(key=k_cover, generate=models.avatar.generate, z=av.z, y=av
                                                    .y, avatars=av.raw, seeds=seeds, mode=wishes.cover_mode))
  if wishes.style != "none":
    covers = avatar_lib.style_lib.stylize(covers, wishes.style)
  covers = to_uint8(jax.device_get(covers))
  per = lambda t: round(1000.0 * t / n, 2)
  timings = {"avatar": per(t_avatar), "nickname": per(t_nick), "bio": per(t_bio), "cover": per(t_cover)}
  timings["total"] = round(sum(timings.values()), 2)
  records = [
      _record(models, wishes, i, locales[i], av, nicks[i], bios[i], cover_info, covers.shape, timings)
      for i in range(n)
  ]
  stats = {
      "nickname": nick_stats,
      "timings_ms_per_identity": timings,
      "avatars_resampled": int(av.resampled.sum()),
      "num": n
  }
  return Design(identities=records, avatars=to_uint8(av.images), covers=covers, stats=stats)


def _shown_attributes(models: DesignerModels, av: avatar_lib.AvatarResult) -> list[dict]:
  """What each avatar shows: the classifier's reading where there is one, else what G was asked."""
  names = models.avatar.attribute_names
  out = []
  for i in range(av.z.shape[0]):
    if av.predicted is not None:
      out.append({n: bool(p > 0.5) for n, p in zip(models.classifier.attribute_names, av.predicted[i])})
    else:
      out.append({n: bool(v > 0.5) for n, v in zip(names, av.y[i])})
  return out


def _hex(rgb) -> str:
  r, g, b = (int(np.clip(round(float(c) * 255), 0, 255)) for c in rgb)
  return f"#{r:02x}{g:02x}{b:02x}"


def _record(models, wishes, i, locale, av, nick, bio, cover_info, cover_shape, timings) -> dict:
  names = models.avatar.attribute_names
  originality_record = None
  if models.references is not None and wishes.photo is None:
    originality_record = {
        "space": av.space,
        "nearest_training_distance": round(float(av.nearest[i]), 4),
        "typical_real_distance": round(float(av.typical), 4),
        "ratio": round(float(av.nearest[i]) / max(float(av.typical), 1e-12), 4),
        "resampled": int(av.resampled[i])
    }
  return {
      "schema": SCHEMA_ID,
      "index": i,
      "seed": wishes.seed,
      "locale": locale,
      "request": {
          "locales": list(wishes.locales),
          "keywords": list(wishes.keywords),
          "attrs": list(wishes.attrs),
          "not": list(wishes.avoid),
          "style": wishes.style,
          "from_image": wishes.photo_name or None
      },
      "nickname": {
          "display": nick["display"],
          "handle": nick["handle"],
          "log_prob": round(float(nick["log_prob"]), 4)
      },
      "bio": {
          "text": bio["text"],
          "keywords_covered": list(bio["keywords_covered"]),
          "score": round(float(bio["score"]), 4)
      },
      "avatar": {
          "requested":
              avatar_lib.requested_dict(names, av.y[i], wishes.attrs, wishes.avoid),
          "predicted":
              None if av.predicted is None else avatar_lib.predicted_dict(models.classifier.attribute_names,
                                                                          av.predicted[i]),
          "style":
              wishes.style,
          "z": [round(float(v), 5) for v in av.z[i]],
          "refined":
              av.reward is not None,
          "reward":
              None if av.reward is None else round(float(av.reward[i]), 4),
          "originality":
              originality_record,
          "files": {
              "64": "avatar.png",
              "256": "avatar_256.png"
          },
      },
      "cover": {
          "size": [int(cover_shape[2]), int(cover_shape[1])],
          "mode": wishes.cover_mode,
          "palette": [_hex(c) for c in np.asarray(cover_info["palette"][i])],
          "file": "cover.png"
      },
      "models": models.sources,
      "timings_ms": timings,
  }

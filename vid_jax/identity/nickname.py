"""Nicknames: a display name in the locale's script and its Latin handle, from the nickname model.

  model = load_nickname_model("runs/nickname")
  names, stats = design_nicknames(model, key=jax.random.key(0), locales=["zh_CN", "en_US"],
                                  keywords=[["猫", "摄影"], ["cat"]], taken=frozenset({"catrina"}))

Each round draws `candidates` names for every unfilled request in one jitted `sample`
call and checks them in order; the first acceptable one fills the request. Rejected:
not terminated / too short / a character outside the locale's script ("invalid"),
caught by the profanity filter (display or handle), a string of the model's data set
(training or held-out: "training_copy"), a handle or display in `taken`, or a handle or
display already given in this call ("duplicate").

Keywords steer by forcing their characters into the name: a keyword in the locale's
script becomes a prefix (for zh_CN also an infix after one drawn character, as in
小猫X); en_US reads Chinese and Japanese keywords as pinyin / romaji. A keyword the
display cannot show (Latin for zh_CN and ja_JP) becomes the handle's prefix instead
(cat_xiaowei). Han characters outside the vocabulary are shown as given while the model
reads UNK (trained with random UNK inputs, so it continues after them). A kanji keyword
for ja_JP is shown too, but has no reading: the handle romanises only the kana after it.
"""
import dataclasses
import json
import unicodedata

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from vid_jax import paths
from vid_jax import zoo
from vid_jax.errors import UserError
from vid_jax.identity import handles
from vid_jax.identity import profanity
from vid_jax.identity.locales import LOCALES, check_locale, locale_id
from vid_jax.identity.nickname_data import EOS, UNK, Vocab, encode_names
from vid_jax.identity.nickname_model import NicknameTransformer, sample

__all__ = ["NicknameModel", "load_nickname_model", "sample", "design_nicknames", "draw_nicknames"]

META_VERSION = 1
ITEMS = ("state", "params", "meta")  # orbax items: train state (resume), params (inference), metadata
TRAIN_HINT = "python tools/train_nickname.py --config=configs/nickname.py --workdir={workdir}"
MIN_CHARS = {"en_US": 3, "zh_CN": 2, "ja_JP": 2}  # shortest acceptable display
INFIX_STARTS = {"en_US": (0,), "zh_CN": (0, 1), "ja_JP": (0,)}  # where a keyword may be forced
HANDLE_PREFIX_MAX = 8
REASONS = ("invalid", "profanity", "training_copy", "taken", "duplicate")


@dataclasses.dataclass(frozen=True)
class NicknameModel:
  """A trained nickname model and what the designer needs beside it.

  Attributes:
    params: the transformer's params.
    module: the NicknameTransformer (static config).
    vocab: the character vocabulary.
    config: the training config (a plain dict).
    known_names: locale -> frozenset of the data set's strings (training and held-out).
    training_names: locale -> frozenset of the training split (novelty is measured against it).
    step: training step of the checkpoint.
  """
  params: dict
  module: NicknameTransformer
  vocab: Vocab
  config: dict
  known_names: dict
  training_names: dict
  step: int

  @property
  def max_chars(self) -> int:
    return self.module.max_len - 2


def checkpoint_manager(workdir: str, *, read_only: bool, keep: int = 2) -> ocp.CheckpointManager:
  """WORKDIR/checkpoints with the items ITEMS (synchronous saves)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only, read_only=read_only,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(paths.checkpoint_directory(workdir), options=options, item_names=ITEMS)


def module_from_meta(meta: dict) -> NicknameTransformer:
  return NicknameTransformer(**meta["model"])


def load_nickname_model(source: str) -> NicknameModel:
  """Restores the latest nickname checkpoint in a workdir (tools/train_nickname.py), or a zoo entry
  (`zoo:nickname` or its folder; vid_jax.zoo).

  Raises:
    UserError: no nickname checkpoint there (the message says how to train one), or an entry that
      fails its card.
  """
  if zoo.is_entry(source):
    entry = zoo.open_entry(source, "nickname")
    meta = entry.read_json("meta.json")
    _check_meta(meta, entry.path, TRAIN_HINT.format(workdir="runs/nickname") + " (or `make models`)")
    module = module_from_meta(meta)
    params = zoo.restore(entry.weights(), _abstract_params(module), prefix="params/", where=entry.path)
    return _model(meta, params, entry.step)
  meta, params, step = _restore(source)
  return _model(meta, params, step)


def _abstract_params(module: NicknameTransformer):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(
      (1, module.max_len), jnp.int32))["params"])


def _check_meta(meta, where: str, train: str) -> None:
  if not meta or meta.get("kind") != "nickname":
    raise UserError(f"{where} holds a checkpoint that is not a nickname model's; train one with: {train}")
  if meta.get("version") != META_VERSION:
    raise UserError(f"the nickname model in {where} was made by another version ({meta.get('version')}, "
                    f"now {META_VERSION}); retrain it: {train}")


def _model(meta: dict, params, step: int) -> NicknameModel:
  train = {loc: frozenset(meta["train_names"][loc]) for loc in LOCALES}
  known = {loc: train[loc] | frozenset(meta["heldout_names"][loc]) for loc in LOCALES}
  return NicknameModel(params=params, module=module_from_meta(meta), vocab=Vocab(tuple(meta["chars"])),
                       config=meta["config"], known_names=known, training_names=train, step=int(step))


def _restore(workdir: str):
  """(meta, params, step) of the latest checkpoint in `workdir`."""
  hint = "train one with: " + TRAIN_HINT.format(workdir=workdir or "runs/nickname")
  if not workdir or not paths.workdir_file(workdir, "checkpoints").is_dir():
    raise UserError(f"no nickname model in {workdir!r} (no checkpoints/ folder); {hint}")
  manager = checkpoint_manager(workdir, read_only=True)
  try:
    step = manager.latest_step()
    if step is None:
      raise UserError(f"no nickname checkpoint in {workdir}/checkpoints; {hint}")
    try:
      meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except (KeyError, ValueError, FileNotFoundError):
      meta = None
    _check_meta(meta, workdir, TRAIN_HINT.format(workdir=workdir))
    module = module_from_meta(meta)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                            _abstract_params(module))
    params = manager.restore(step,
                             args=ocp.args.Composite(params=ocp.args.StandardRestore(abstract)))["params"]
  finally:
    manager.close()
  return meta, params, int(step)


PROBE_NAMES = 16  # training names per locale the float16 check of an export measures logits on
LOGIT_TOLERANCE = 1e-2


def export_payload(workdir: str) -> zoo.ExportPayload:
  """What a zoo entry of the nickname model in `workdir` stores (tools/export_zoo.py): its params,
  meta.json (the checkpoint's metadata: vocabulary, data set names, config) and metrics.json; the
  float16 check measures next-character logits on PROBE_NAMES training names per locale."""
  if zoo.is_entry(workdir):
    raise UserError(f"{workdir} is a zoo entry already; export from the training workdir")
  meta, params, step = _restore(workdir)
  model = _model(meta, params, step)
  files = {"meta.json": json.dumps(meta, ensure_ascii=False).encode("utf-8")}
  metrics = paths.workdir_file(workdir, "metrics.json")
  if metrics.exists():
    files["metrics.json"] = metrics.read_bytes()
  names, locs = [], []
  for j, loc in enumerate(LOCALES):
    chosen = sorted(model.training_names[loc])[:PROBE_NAMES]
    names += chosen
    locs += [j] * len(chosen)
  tokens = jnp.asarray(encode_names(names, locs, vocab=model.vocab, max_chars=model.max_chars))
  logits_fn = jax.jit(lambda p: model.module.apply({"params": p}, tokens))

  def outputs(flat):
    p = zoo.unflatten({k: jnp.asarray(v) for k, v in flat.items()}, {"params": params})["params"]
    return {"logits": np.asarray(logits_fn(p))}

  arrays = {k: np.asarray(jax.device_get(v)) for k, v in zoo.flatten({"params": params}).items()}
  return zoo.ExportPayload(kind="nickname", step=step, arrays=arrays, files=files, outputs=outputs,
                           tolerance={"logits": LOGIT_TOLERANCE},
                           probe=f"{PROBE_NAMES} training names per locale (first in sorted order)")


@dataclasses.dataclass(frozen=True)
class _Steer:
  """How one keyword steers a name: characters forced into the display and/or a handle prefix."""
  display: str = ""  # forced characters (model form: en_US lowercase)
  handle_prefix: str = ""  # Latin, for keywords the display cannot show


def _steer(model: NicknameModel, locale: str, keyword: str) -> _Steer | None:
  kw = unicodedata.normalize("NFKC", keyword).strip()
  if not kw:
    return None
  if profanity.is_profane(kw):
    raise UserError(f"keyword {keyword!r} is caught by the profanity filter; choose another")
  if locale == "en_US":
    text = "".join(c for c in handles.romanise(kw, "en_US") if handles.is_latin(c))
    steer = _Steer(display=text) if text else None
  elif all(handles.is_han(c) or (locale == "ja_JP" and handles.is_kana(c)) for c in kw):
    steer = _Steer(display=kw)
  else:
    latin = "".join(c for c in handles.romanise(kw, locale) if handles.is_latin(c))
    steer = _Steer(handle_prefix=latin[:HANDLE_PREFIX_MAX]) if latin else None
  if steer and len(steer.display) > model.max_chars - 2:
    raise UserError(f"keyword {keyword!r} is too long for a nickname (at most {model.max_chars - 2} "
                    "characters)")
  return steer


def _key_seed(key) -> list[int]:
  data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
  return [int(x) for x in np.asarray(data).ravel()]


def _bucket(n: int) -> int:
  return max(32, 1 << (n - 1).bit_length())  # few batch shapes, few compilations


def decode_candidate(model: NicknameModel, locale: str, tokens, forced_text: dict) -> tuple[str, bool]:
  """(model string, well formed) of one sampled row.

  Well formed: every drawn character is in the locale's script, and none that cannot begin
  a word (ー, ン, small kana) starts the name or follows a keyword (the model reads an
  out-of-vocabulary keyword as UNK and may continue it as the middle of a word).
  """
  chars, ok = [], True
  for t, tok in enumerate(tokens):
    if tok == EOS:
      break
    if t in forced_text:
      chars.append(forced_text[t])
      continue
    ch = model.vocab.decode([tok])
    ok &= bool(ch) and handles.in_script(ch, locale)
    ok &= (t > 0 and t - 1 not in forced_text) or handles.can_start_word(ch)
    chars.append(ch)
  return "".join(chars), ok


def make_nickname(locale: str, text: str, *, handle_prefix: str = "") -> dict:
  """{"display", "handle"} of a model string (en_US capitalised; the handle romanised)."""
  display = text[:1].upper() + text[1:] if locale == "en_US" else text
  latin = handles.romanise(text, locale)
  latin = f"{handle_prefix}_{latin}" if handle_prefix else latin
  return {"display": display, "handle": handles.to_handle(latin, salt=display)}


def check_nickname(model: NicknameModel, locale: str, text: str, nick: dict, *, valid: bool, taken: frozenset,
                   used: set) -> str | None:
  """The rejection reason of a candidate (one of REASONS), or None if acceptable."""
  if not valid or len(text) < MIN_CHARS[locale]:
    return "invalid"
  if profanity.is_profane(nick["display"]) or profanity.is_profane(nick["handle"]):
    return "profanity"
  if text in model.known_names[locale]:
    return "training_copy"
  if nick["handle"] in taken or nick["display"].lower() in taken:
    return "taken"
  if nick["handle"] in used or nick["display"].lower() in used:
    return "duplicate"
  return None


def design_nicknames(model: NicknameModel, *, key, locales: list[str], keywords: list[list[str]],
                     taken: frozenset[str] = frozenset(), max_rounds: int = 8, candidates: int = 4,
                     temperature: float = 1.0) -> tuple[list[dict], dict]:
  """Designs one nickname per request; deterministic given `key`.

  Args:
    model: from load_nickname_model.
    key: PRNG key.
    locales: [N] locale of each request.
    keywords: [N] lists of keywords (may be empty); each candidate uses one, drawn at random.
    taken: handles (or display names) that must not be proposed; compared lowercase, '@' dropped.
    max_rounds: rounds of drawing before giving up.
    candidates: names drawn per unfilled request and round.
    temperature: sampling temperature.

  Returns:
    ([N] dicts {"display", "handle", "log_prob"} (log-probability of the display and its end
    under the model, nats), stats {"proposed", "accepted", "rejected": {reason: count},
    "rejection_rate"}). Candidates after the accepted one of a round are not counted.

  Raises:
    UserError: an unknown locale, mismatched lengths, a profane or too long keyword, or a
      request still unfilled after `max_rounds` rounds.
  """
  results, stats = draw_nicknames(model, key=key, locales=locales, keywords=keywords, taken=taken,
                                  max_rounds=max_rounds, candidates=candidates, temperature=temperature)
  missing = [i for i, r in enumerate(results) if r is None]
  if missing:
    raise UserError(f"no acceptable nickname for request(s) {missing} after {max_rounds} rounds "
                    f"(rejected: {stats['rejected']}); give other keywords or fewer taken handles")
  return results, stats


def draw_nicknames(model: NicknameModel, *, key, locales: list[str], keywords: list[list[str]],
                   taken: frozenset[str] = frozenset(), max_rounds: int = 8, candidates: int = 4,
                   temperature: float = 1.0) -> tuple[list[dict | None], dict]:
  """design_nicknames without the error: requests unfilled after `max_rounds` stay None."""
  n = len(locales)
  if len(keywords) != n:
    raise UserError(f"got {n} locales but {len(keywords)} keyword lists; give one list per request")
  loc_ids = [locale_id(loc) for loc in locales]
  steers = [
      [s for kw in kws if (s := _steer(model, check_locale(loc), kw))] for loc, kws in zip(locales, keywords)
  ]
  taken = frozenset(t.strip().lstrip("@").lower() for t in taken)
  used, results = set(), [None] * n
  stats = {"proposed": 0, "accepted": 0, "rejected": dict.fromkeys(REASONS, 0)}
  seed, max_chars = _key_seed(key), model.max_chars
  for r in range(max_rounds):
    rows = [(i, j) for i in range(n) if results[i] is None for j in range(candidates)]
    if not rows:
      break
    rng = np.random.default_rng([*seed, r])
    size = _bucket(len(rows))
    forced = np.zeros((size, max_chars), np.int32)
    mask = np.zeros((size, max_chars), bool)
    ids = np.zeros((size,), np.int32)
    plans = []
    for b, (i, j) in enumerate(rows):
      ids[b] = loc_ids[i]
      steer = steers[i][rng.integers(len(steers[i]))] if steers[i] else _Steer()
      starts = INFIX_STARTS[locales[i]]
      start = starts[j % len(starts)] if steer.display else 0
      forced_text = {start + k: c for k, c in enumerate(steer.display)}
      for t, c in forced_text.items():
        forced[b, t], mask[b, t] = model.vocab.index.get(c, UNK), True
      plans.append((forced_text, steer.handle_prefix))
    out = jax.device_get(
        sample(model.params, jax.random.fold_in(key, r), jnp.asarray(ids), jnp.asarray(forced),
               jnp.asarray(mask), module=model.module, temperature=float(temperature)))
    for b, (i, _) in enumerate(rows):
      if results[i] is not None:
        continue
      forced_text, prefix = plans[b]
      text, in_script = decode_candidate(model, locales[i], out["tokens"][b], forced_text)
      nick = make_nickname(locales[i], text, handle_prefix=prefix)
      reason = check_nickname(model, locales[i], text, nick, valid=bool(out["terminated"][b]) and in_script,
                              taken=taken, used=used)
      stats["proposed"] += 1
      if reason:
        stats["rejected"][reason] += 1
        continue
      stats["accepted"] += 1
      used.update((nick["handle"], nick["display"].lower()))
      results[i] = {**nick, "log_prob": float(out["log_prob"][b])}
  stats["rejection_rate"] = (stats["proposed"] - stats["accepted"]) / max(stats["proposed"], 1)
  return results, stats

"""The model zoo: trained models shipped in the repo (<repo>/zoo/NAME), loaded like training workdirs.

  inference.load_models("zoo:avatar_gan")               # or a training workdir, or an entry's folder
  classifier.load_classifier("zoo:classifier")
  nickname.load_nickname_model("zoo:nickname")
  python tools/export_zoo.py --kind=gan --workdir=runs/zoo/avatar_gan --name=avatar_gan ...   # writes one

An entry is a folder:

  card.json     name, kind, config, git commit, step, wall time, machine, metrics, the retrain command,
                storage (dtypes, measured float16 error) and every file's sha256 / bytes (weights.npz:
                each array's shape and dtype); verified on every load
  CARD.md       the card for people (generated from card.json)
  weights.npz   the inference weights, a flattened pytree with '/'-joined keys
                (e.g. generator/params/Dense_0/kernel); float16 where the error measured on fixed
                inputs stays within the card's tolerance, float32 for the rest and for BatchNorm statistics
  *.json        what the kind's loader reads besides the weights (gan: the run's config.json and
                data_stats.json; classifier and nickname: meta.json, their checkpoint's metadata) and
                the run's own figures (classifier.json, metrics.json)

This module is the format only (resolve, verify, read, write, the float16 choice); each loader module
builds its models from an entry and says what to store (`ExportPayload`).
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax import paths
from vid_jax.errors import UserError

FORMAT = "vid_jax.zoo/1"  # card.json's "format"; bump when the layout changes meaning
PREFIX = "zoo:"
KINDS = ("gan", "classifier", "nickname", "encoder")
CARD_JSON, CARD_MD, WEIGHTS = "card.json", "CARD.md", "weights.npz"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO_DIR = os.path.join(REPO, "zoo")
# The flag each kind's tools take, for the "pass a workdir instead" hint.
_FLAG = {
    "gan": "--workdir",
    "classifier": "--classifier_workdir",
    "nickname": "--nickname_workdir",
    "encoder": "--encoder_workdir"
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_RESTORE = "restore the shipped files with `git checkout zoo/` or retrain and export them with `make models`"


def _fix(kind: str) -> str:
  return (f"run `make models` (trains and exports the zoo) or pass {_FLAG.get(kind, '--workdir')}=DIR "
          "(a training workdir)")


def is_entry(source) -> bool:
  """True for `zoo:NAME` and for a local folder holding a card.json (else: a training workdir)."""
  s = os.fspath(source) if source else ""
  if s.startswith(PREFIX):
    return True
  return bool(s) and not paths.has_scheme(s) and os.path.isfile(os.path.join(s, CARD_JSON))


def resolve(source, kind: str = "gan") -> str:
  """The folder of a zoo entry: `zoo:NAME` -> <repo>/zoo/NAME; a path as it is.

  Raises:
    UserError: a bad name, no zoo folder, or no card.json there (the message says how to fix it).
  """
  s = os.fspath(source)
  if s.startswith(PREFIX):
    name = s[len(PREFIX):]
    if not _NAME.match(name):
      raise UserError(f"{s!r}: a zoo name is lower-case letters, digits and _ (e.g. zoo:avatar_gan)")
    if not os.path.isdir(ZOO_DIR):
      raise UserError(f"{s}: no model zoo in this checkout ({ZOO_DIR} is absent); {_fix(kind)}")
    path = os.path.join(ZOO_DIR, name)
  else:
    path = s
  if not os.path.isfile(os.path.join(path, CARD_JSON)):
    have = sorted(d for d in os.listdir(ZOO_DIR)
                  if os.path.isfile(os.path.join(ZOO_DIR, d, CARD_JSON))) if os.path.isdir(ZOO_DIR) else []
    known = f" (the zoo has: {', '.join(PREFIX + d for d in have)})" if have else ""
    raise UserError(f"no zoo entry at {path} (no {CARD_JSON}){known}; {_fix(kind)}, or {_RESTORE}")
  return path


# ----------------------------------------------------------------------------
# Pytrees <-> flat dicts.


def _key(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def flatten(tree, prefix: str = "") -> dict[str, Any]:
  """A pytree of arrays -> {'a/b/c': array} ('/'-joined keys, sorted).

  Flax names some variables with '/' inside one key (SpectralNorm's `Conv4_0/kernel/u`), so a key
  alone does not give the nesting back: `unflatten` takes the tree's structure from a reference.
  """
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    key = prefix + _key(path)
    if key in out:
      raise ValueError(f"two leaves flatten to the key {key!r}")
    out[key] = leaf
  return dict(sorted(out.items()))


def unflatten(flat: Mapping[str, Any], like, prefix: str = "") -> Any:
  """The inverse of `flatten`: the arrays of `flat` (keys `prefix` + path) in the structure of the
  pytree `like` (e.g. jax.eval_shape of the model's init, or the variables it was flattened from)."""
  paths, treedef = jax.tree_util.tree_flatten_with_path(like)
  return jax.tree_util.tree_unflatten(treedef, [flat[prefix + _key(path)] for path, _ in paths])


def family(key: str) -> str:
  """The tensor family of a weight: its layer (the key without the leaf name), or the key itself
  for a parameter that sits directly in a collection (e.g. params/pos)."""
  parts = key.split("/")
  if len(parts) < 3 or parts[-2] in ("params", "batch_stats"):
    return key
  return "/".join(parts[:-1])


def is_statistic(key: str) -> bool:
  """BatchNorm statistics (any 'batch_stats' collection): always stored float32."""
  return "batch_stats" in key.split("/")


# ----------------------------------------------------------------------------
# Reading.


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class Entry:
  """A verified zoo entry: its folder and card (every file's bytes and sha256 already checked)."""
  path: str
  card: dict

  @property
  def step(self) -> int:
    return int(self.card["step"])

  def file(self, name: str) -> str:
    return os.path.join(self.path, name)

  def read_json(self, name: str) -> Any:
    if name not in self.card["files"]:
      raise UserError(f"{self.path}: the card lists no {name}; re-export the entry with tools/export_zoo.py")
    with open(self.file(name), encoding="utf-8") as f:
      return json.load(f)

  def weights(self) -> dict[str, np.ndarray]:
    """weights.npz as {key: np.ndarray} as stored (float16 or float32), checked against the card."""
    where = self.file(WEIGHTS)
    try:
      with np.load(where, allow_pickle=False) as z:
        flat = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as e:
      raise UserError(f"{where} cannot be read ({type(e).__name__}: {e}); {_RESTORE}") from e
    want = self.card["files"][WEIGHTS]["arrays"]
    if set(flat) != set(want):
      raise UserError(f"{where} holds other arrays than its card lists; {_RESTORE}")
    for k, spec in want.items():
      if list(flat[k].shape) != list(spec["shape"]) or str(flat[k].dtype) != spec["dtype"]:
        raise UserError(f"{where}: {k} is {flat[k].dtype}{list(flat[k].shape)}, its card says "
                        f"{spec['dtype']}{spec['shape']}; {_RESTORE}")
    return flat


def open_entry(source, kind: str, step: int | None = None) -> Entry:
  """Resolves and verifies a zoo entry of `kind`: card.json readable, of this format and kind, and
  every file it lists present with its bytes and sha256.

  Args:
    source: `zoo:NAME` or an entry's folder.
    kind: one of KINDS.
    step: a checkpoint step the caller asked for (None: any); an entry holds one step.

  Raises:
    UserError: one line naming what is wrong, where, and how to fix it.
  """
  path = resolve(source, kind)
  card_path = os.path.join(path, CARD_JSON)
  try:
    with open(card_path, encoding="utf-8") as f:
      card = json.load(f)
    files = card["files"]
    card_kind = card["kind"]
    fmt = card["format"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise UserError(f"{card_path} is not a readable zoo card ({type(e).__name__}: {e}); {_RESTORE}") from e
  if fmt != FORMAT:
    raise UserError(f"{card_path} is of format {fmt!r}, this code reads {FORMAT!r}; re-export it with "
                    "tools/export_zoo.py (`make models`)")
  if card_kind != kind:
    raise UserError(f"{path} holds a {card_kind} model, not a {kind} one; give an entry of kind {kind}")
  if step is not None and int(step) != int(card["step"]):
    raise UserError(f"{path} holds step {card['step']} only (--step={step}); a zoo entry keeps one step")
  if WEIGHTS not in files:
    raise UserError(f"{card_path} lists no {WEIGHTS}; re-export the entry with tools/export_zoo.py")
  for name, spec in files.items():
    f = os.path.join(path, name)
    if not os.path.isfile(f):
      raise UserError(f"{f} is missing (listed in its card); {_RESTORE}")
    size = os.path.getsize(f)
    if size != spec["bytes"] or _sha256(f) != spec["sha256"]:
      raise UserError(f"{f} does not match its card (sha256/bytes differ: changed or corrupt); {_RESTORE}")
  return Entry(path=path, card=card)


def restore(flat: Mapping[str, np.ndarray], abstract, *, prefix: str = "", where: str = "") -> Any:
  """The arrays of `flat` under `prefix` as the pytree `abstract` describes (jax.eval_shape of the
  model's init): same keys and shapes, cast to its dtypes (float16 storage back to float32), as
  uncommitted arrays on the default device.

  Raises:
    UserError: the entry's arrays do not fit the model the code builds (made by another version).
  """
  want = flatten(abstract)
  have = {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}
  bad = sorted(set(want) ^ set(have))
  bad += [k for k in want if k in have and tuple(have[k].shape) != tuple(want[k].shape)]
  if bad:
    raise UserError(f"{where}: its {prefix or 'weights'} do not fit the model this code builds "
                    f"(first difference: {prefix}{bad[0]}); re-export it from its workdir with "
                    "tools/export_zoo.py or retrain (`make models`)")
  return unflatten({k: jnp.asarray(np.asarray(have[k]).astype(want[k].dtype)) for k in want}, abstract)


# ----------------------------------------------------------------------------
# Writing.


@dataclasses.dataclass(frozen=True)
class ExportPayload:
  """What a loader module hands the exporter for one trained model.

  Attributes:
    kind: one of KINDS.
    step: the training step of the weights.
    arrays: {key: float32 np.ndarray}, the flattened inference weights.
    files: {file name: bytes}, the side files the loader reads (and the run's own figures).
    outputs: flat arrays (same keys) -> {output name: np.ndarray} on fixed inputs: the figures the
      float16 choice is measured on.
    tolerance: {output name: largest max-abs difference float16 storage may cause}.
    probe: what the fixed inputs are (for the card).
  """
  kind: str
  step: int
  arrays: dict
  files: dict
  outputs: Callable[[dict], dict]
  tolerance: dict
  probe: str


def _errors(ref: dict, out: dict) -> dict[str, float]:
  return {
      k: float(np.max(np.abs(np.asarray(out[k], np.float64) - np.asarray(ref[k], np.float64)))) for k in ref
  }


def choose_storage(payload: ExportPayload, tolerance: Mapping[str, float] | None = None) -> dict:
  """Which arrays to store float16: all float32 weights but BatchNorm statistics, unless the measured
  error exceeds the tolerance; then whole families (layers) go back to float32, largest error
  first, until it does not.

  Returns:
    {"float16": [keys], "float32_families": [families], "fp16_max_abs_error": {output: float},
     "tolerance": {output: float}}
  """
  tol = dict(payload.tolerance, **(tolerance or {}))
  ref = payload.outputs(payload.arrays)
  candidates = [
      k for k, v in payload.arrays.items() if v.dtype == np.float32 and v.size and not is_statistic(k)
  ]

  def stored(keys):
    keys = set(keys)
    return {
        k: (v.astype(np.float16).astype(np.float32) if k in keys else v) for k, v in payload.arrays.items()
    }

  def fits(err):
    return all(err[k] <= tol[k] for k in err)

  families = sorted({family(k) for k in candidates})
  kept32: list[str] = []
  half = candidates
  err = _errors(ref, payload.outputs(stored(half)))
  if not fits(err):
    # Each family alone in float16: the worst go back to float32 first.
    solo = {}
    for fam in families:
      e = _errors(ref, payload.outputs(stored([k for k in candidates if family(k) == fam])))
      solo[fam] = max(e[k] / tol[k] if tol[k] > 0 else (np.inf if e[k] > 0 else 0.0) for k in e)
    for fam in sorted(families, key=lambda f: -solo[f]):
      kept32.append(fam)
      half = [k for k in candidates if family(k) not in kept32]
      err = _errors(ref, payload.outputs(stored(half)))
      if fits(err):
        break
  return {
      "float16": sorted(half),
      "float32_families": sorted(kept32),
      "fp16_max_abs_error": err,
      "tolerance": {
          k: tol[k] for k in ref
      }
  }


def card_markdown(card: dict) -> str:
  """CARD.md: the card for people, generated from card.json."""
  s = card["storage"]
  lines = [
      f"# {card['name']} ({card['kind']})", "",
      "Generated from card.json by tools/export_zoo.py; the loaders check every file against card.json.", "",
      "| | |", "|---|---|", f"| load | `{PREFIX}{card['name']}` (e.g. {_usage(card)}) |",
      f"| config | `{card['config']['file']}`" +
      (f" (`:{card['config']['arg']}`)" if card['config']['arg'] else "") + " |",
      f"| retrain | `{card['retrain']}` (every zoo model: `make models`) |", f"| steps | {card['step']} |",
      f"| wall time | {card['wall_time']} |", f"| machine | {card['machine']} |",
      f"| git commit | `{card['git_commit']}`{' (uncommitted changes)' if card.get('git_dirty') else ''} |",
      f"| exported | {card['exported_at']} |",
      f"| storage | {s['dtype']}; float16 max abs error on {s['probe']}: " + ", ".join(
          f"{k} {v:.3g} (tolerance {s['tolerance'][k]:.3g})" for k, v in s["fp16_max_abs_error"].items()) +
      (f"; float32 families: {', '.join(s['float32_families'])}" if s["float32_families"] else "") + " |", "",
      "## Metrics", ""
  ]
  metrics = _flat_metrics(card["metrics"])
  if metrics:
    lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
  else:
    lines.append("(none given)")
  if card.get("evaluation"):
    lines += [
        "", "Evaluation settings: " + ", ".join(f"{k}={_fmt(v)}" for k, v in card["evaluation"].items())
    ]
  lines += ["", "## Files", "", "| file | bytes | sha256 |", "|---|---|---|"]
  lines += [f"| {n} | {f['bytes']} | `{f['sha256'][:16]}…` |" for n, f in card["files"].items()]
  arrays = card["files"][WEIGHTS]["arrays"]
  lines += [
      "", f"{WEIGHTS}: {len(arrays)} arrays, "
      f"{sum(int(np.prod(a['shape'])) for a in arrays.values()):,} values "
      f"({sum(a['dtype'] == 'float16' for a in arrays.values())} float16)."
  ]
  return "\n".join(lines) + "\n"


def _usage(card) -> str:
  name = PREFIX + card["name"]
  return {
      "gan": f"`python tools/generate.py --workdir={name}`",
      "classifier": f"`python tools/evaluate.py --classifier_workdir={name} ...`",
      "nickname": f"`python tools/design.py --nickname_workdir={name} ...`",
      "encoder": f"`python tools/encode.py --encoder_workdir={name} --input=photo.png --out=out/`"
  }.get(card["kind"], f"`{name}`")


def _flat_metrics(d, prefix=""):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flat_metrics(v, f"{prefix}{k}/"))
    else:
      out[f"{prefix}{k}"] = v
  return out


def _fmt(v) -> str:
  return f"{v:.4g}" if isinstance(v, float) else str(v)


def parse_config_ref(ref: str) -> dict:
  """'configs/x.py:arg' -> {"file": "configs/x.py", "arg": "arg" or None}."""
  file, _, arg = ref.partition(":")
  if not file.endswith(".py"):
    raise UserError(
        f"--config_ref={ref!r}: give the config file and its arg, e.g. configs/cdcgan_avatars.py[:arg]")
  return {"file": file, "arg": arg or None}


def metrics_from(result: Mapping) -> tuple[dict, dict]:
  """An evaluation JSON (tools/evaluate.py's, classifier.json, metrics.json) -> (metrics, settings):
  a top-level "metrics" dict is the metrics and its scalar neighbours the settings (paths left out)."""
  if isinstance(result.get("metrics"), dict):
    settings = {
        k: v
        for k, v in result.items()
        if k != "metrics" and isinstance(v, (int, float, str)) and k not in ("workdir", "classifier_workdir")
    }
    return dict(result["metrics"]), settings
  return dict(result), {}


def export(payload: ExportPayload, *, out_dir: str, name: str, config_ref: str, retrain: str, metrics: dict,
           wall_time: str, machine: str, git_commit: str, git_dirty: bool | None = None,
           evaluation: dict | None = None, tolerance: Mapping[str, float] | None = None) -> dict:
  """Writes the entry OUT_DIR/NAME (replacing one there) and returns its card.

  The files go to a temporary folder beside it first, so a failed export leaves the old entry.
  """
  if payload.kind not in KINDS:
    raise UserError(f"kind {payload.kind!r}: use one of {', '.join(KINDS)}")
  if not _NAME.match(name):
    raise UserError(f"--name={name!r}: lower-case letters, digits and _ (e.g. avatar_gan)")
  if not retrain.strip():
    raise UserError("--retrain is empty: give the one command that retrains this model from scratch")
  storage = choose_storage(payload, tolerance)
  half = set(storage["float16"])
  arrays = {k: (v.astype(np.float16) if k in half else v) for k, v in payload.arrays.items()}
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  files = dict(payload.files, **{WEIGHTS: buf.getvalue()})
  n16 = len(half)
  dtype = "float16" if n16 and n16 == sum(
      not is_statistic(k) for k in arrays) else ("mixed float16/float32" if n16 else "float32")
  card = {
      "format": FORMAT,
      "name": name,
      "kind": payload.kind,
      "config": parse_config_ref(config_ref),
      "git_commit": git_commit,
      "git_dirty": git_dirty,
      "step": int(payload.step),
      "wall_time": wall_time,
      "machine": machine,
      "metrics": metrics,
      "evaluation": evaluation or {},
      "retrain": retrain,
      "exported_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
      "storage": {
          "dtype":
              dtype + (" (batch_stats float32: BatchNorm / spectral-norm statistics)" if any(
                  map(is_statistic, arrays)) else ""),
          "float32_families":
              storage["float32_families"],
          "fp16_max_abs_error":
              storage["fp16_max_abs_error"],
          "tolerance":
              storage["tolerance"],
          "probe":
              payload.probe
      },
      "files": {}
  }
  for fname, data in files.items():
    card["files"][fname] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
  card["files"][WEIGHTS]["arrays"] = {
      k: {
          "shape": list(v.shape),
          "dtype": str(v.dtype)
      } for k, v in arrays.items()
  }
  os.makedirs(out_dir, exist_ok=True)
  final = os.path.join(out_dir, name)
  tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=out_dir)
  try:
    for fname, data in files.items():
      with open(os.path.join(tmp, fname), "wb") as f:
        f.write(data)
    with open(os.path.join(tmp, CARD_JSON), "w", encoding="utf-8") as f:
      json.dump(card, f, indent=2, ensure_ascii=False)
      f.write("\n")
    with open(os.path.join(tmp, CARD_MD), "w", encoding="utf-8") as f:
      f.write(card_markdown(card))
    os.chmod(tmp, 0o755)
    if os.path.isdir(final):
      shutil.rmtree(final)
    os.replace(tmp, final)
  finally:
    if os.path.isdir(tmp):
      shutil.rmtree(tmp)
  return card

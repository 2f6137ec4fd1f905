r"""Exports a trained model into the model zoo (vid_jax/zoo.py): OUT_DIR/NAME/{card.json, CARD.md, weights.npz, ...}.

  python tools/export_zoo.py --kind=gan --workdir=runs/zoo/avatar_gan --name=avatar_gan \
      --metrics=runs/zoo/avatar_gan.eval.json --wall_time="9 h 40 min" --machine="AMD EPYC 7B13, 2 cores" \
      --config_ref=configs/cdcgan_avatars.py \
      --retrain="python launch.py --config=configs/cdcgan_avatars.py --workdir=runs/zoo/avatar_gan"

Weights are stored float16 unless that moves the outputs on fixed inputs by more than the kind's
tolerance (then those layers stay float32; BatchNorm statistics always do); the card records the
measured error. Prints one JSON line: the entry, its files and MB, the float16 errors.
"""
import json
import os
import subprocess
import sys

from absl import app, flags

from vid_jax import inference, zoo
from vid_jax.encoder import bundle as encoder_bundle
from vid_jax.errors import UserError
from vid_jax.identity import nickname
from vid_jax.models import classifier

_KIND = flags.DEFINE_enum("kind", None, list(zoo.KINDS), "What the workdir holds.")
_WORKDIR = flags.DEFINE_string("workdir", None, "The training workdir to export.")
_NAME = flags.DEFINE_string("name", None, "Entry name: loaded as zoo:NAME (e.g. avatar_gan).")
_OUT_DIR = flags.DEFINE_string("out_dir", zoo.ZOO_DIR, "The zoo folder (default: <repo>/zoo).")
_METRICS = flags.DEFINE_string(
    "metrics", None, "A JSON file of the model's figures (tools/evaluate.py's output, classifier.json, "
    "the nickname's metrics.json); a top-level `metrics` dict is taken as the metrics.")
_WALL_TIME = flags.DEFINE_string("wall_time", None, "Training wall time, as words (e.g. '9 h 40 min').")
_MACHINE = flags.DEFINE_string("machine", "", "Where it trained (CPU model, cores); '' = this machine.")
_RETRAIN = flags.DEFINE_string("retrain", None, "The one command that retrains it from scratch.")
_CONFIG_REF = flags.DEFINE_string("config_ref", None,
                                  "Its config file and arg, e.g. configs/cdcgan_avatars.py[:arg].")
_FP16_TOLERANCE = flags.DEFINE_float(
    "fp16_tolerance", None, "Largest max-abs output change float16 storage may cause, for every "
    "output (default: the kind's: images 1/255, logits 0.01); 0 stores float32.")
flags.mark_flags_as_required(["kind", "workdir", "name", "metrics", "wall_time", "retrain", "config_ref"])

_PAYLOAD = {
    "gan": inference.export_payload,
    "classifier": classifier.export_payload,
    "nickname": nickname.export_payload,
    "encoder": encoder_bundle.export_payload
}


def this_machine() -> str:
  """'CPU model, N cores' of this machine."""
  model = ""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
  except OSError:
    pass
  return f"{model or 'unknown CPU'}, {os.cpu_count()} cores"


def git_state() -> tuple[str, bool | None]:
  """(HEAD's commit, whether tracked files outside zoo/ differ from it), ('unknown', None) without git."""
  run = lambda *a: subprocess.run(["git", *a], cwd=zoo.REPO, capture_output=True, text=True, check=True
                                 ).stdout
  try:
    return run("rev-parse", "HEAD").strip(), bool(
        run("status", "--porcelain", "--untracked-files=no", "--", ".", ":!zoo").strip())
  except (OSError, subprocess.CalledProcessError):
    return "unknown", None


def read_metrics(path: str) -> tuple[dict, dict]:
  try:
    with open(path, encoding="utf-8") as f:
      result = json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"--metrics={path} cannot be read as JSON ({e}); give the evaluation's JSON file") from e
  if not isinstance(result, dict):
    raise UserError(f"--metrics={path} holds no JSON object")
  return zoo.metrics_from(result)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    metrics, evaluation = read_metrics(_METRICS.value)
    payload = _PAYLOAD[_KIND.value](_WORKDIR.value)
    tolerance = None
    if _FP16_TOLERANCE.value is not None:
      tolerance = {k: _FP16_TOLERANCE.value for k in payload.tolerance}
    commit, dirty = git_state()
    card = zoo.export(payload, out_dir=_OUT_DIR.value, name=_NAME.value, config_ref=_CONFIG_REF.value,
                      retrain=_RETRAIN.value, metrics=metrics, evaluation=evaluation,
                      wall_time=_WALL_TIME.value, machine=_MACHINE.value or this_machine(), git_commit=commit,
                      git_dirty=dirty, tolerance=tolerance)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  files = {n: f["bytes"] for n, f in card["files"].items()}
  print(
      json.dumps({
          "entry": os.path.join(_OUT_DIR.value, _NAME.value),
          "load": f"{zoo.PREFIX}{_NAME.value}",
          "step": card["step"],
          "files": files,
          "MB": round(sum(files.values()) / 1e6, 3),
          "storage": card["storage"]["dtype"],
          "float32_families": card["storage"]["float32_families"],
          "fp16_max_abs_error": card["storage"]["fp16_max_abs_error"]
      }))


if __name__ == "__main__":
  app.run(main)

r"""Speed of the identity designer: identities/s warm, compile (first call) time, per-part ms.

  python tools/bench/design.py                       # `make demo`'s models, --num=64
  python tools/bench/design.py --workdir=runs/cdcgan --classifier_workdir=runs/classifier \
      --nickname_workdir=runs/nickname --num=64 --reps=3

Prints one JSON line. The first call of design_identities includes compilation ("cold"); the next
--reps calls with other seeds are "warm" (median quoted). Nothing is written to disk except by
--out (the last design, for a look).
"""
import json
import os
import platform
import subprocess
import time

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from vid_jax.identity import designer

_WORKDIR = flags.DEFINE_string("workdir", "runs/demo/gan", "Conditional GAN workdir.")
_CLASSIFIER = flags.DEFINE_string("classifier_workdir", "runs/demo/classifier",
                                  "Classifier workdir ('' = none).")
_NICKNAME = flags.DEFINE_string("nickname_workdir", "runs/demo/nickname", "Nickname model workdir.")
_NUM = flags.DEFINE_integer("num", 64, "Identities per call.")
_REPS = flags.DEFINE_integer("reps", 3, "Warm calls timed after the first.")
_LOCALES = flags.DEFINE_list("locale", ["en_US", "zh_CN", "ja_JP"], "Locales, taken in turn.")
_KEYWORDS = flags.DEFINE_list("keywords", ["music", "travel"], "Keywords.")
_ATTRS = flags.DEFINE_list("attrs", ["Smiling"], "Wanted attributes.")
_STYLE = flags.DEFINE_string("style", "none", "Style.")
_REFINE = flags.DEFINE_integer("refine_budget", designer.REFINE_BUDGET, "RL refiner budget per avatar.")


def _commit() -> str:
  try:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return ""


def _cpu_model() -> str:
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor()


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  t0 = time.perf_counter()
  models = designer.load_designer_models(workdir=_WORKDIR.value, classifier_workdir=_CLASSIFIER.value,
                                         nickname_workdir=_NICKNAME.value)
  load_s = time.perf_counter() - t0

  def call(seed):
    wishes = designer.make_wishes(models, locales=_LOCALES.value, keywords=_KEYWORDS.value,
                                  attrs=_ATTRS.value, style=_STYLE.value, num=_NUM.value, seed=seed,
                                  refine_budget=_REFINE.value)
    start = time.perf_counter()
    design = designer.design_identities(models, wishes)
    return design, time.perf_counter() - start

  _, cold_s = call(0)
  warm, parts = [], []
  for rep in range(_REPS.value):
    design, s = call(rep + 1)
    warm.append(s)
    parts.append(design.stats["timings_ms_per_identity"])
  median = float(np.median(warm)) if warm else float("nan")
  print(
      json.dumps({
          "what": "identity designer speed",
          "backend": jax.default_backend(),
          "device": str(jax.devices()[0].device_kind),
          "cpu": _cpu_model(),
          "cpu_count": os.cpu_count(),
          "jax": jax.__version__,
          "commit": _commit(),
          "num": _NUM.value,
          "reps": _REPS.value,
          "refine_budget": _REFINE.value,
          "style": _STYLE.value,
          "load_s": round(load_s, 2),
          "first_call_s": round(cold_s, 2),
          "compile_s_estimate": round(cold_s - median, 2) if warm else None,
          "warm_call_s": [round(s, 2) for s in warm],
          "warm_identities_per_s": round(_NUM.value / median, 2) if warm else None,
          "warm_s_per_identity": round(median / _NUM.value, 3) if warm else None,
          "part_ms_per_identity_median": {
              k: float(np.median([p[k] for p in parts])) for k in parts[0]
          } if parts else None,
      }))


if __name__ == "__main__":
  app.run(main)

r"""Speed of the style refiner: classic filters and the neural loop.

  python tools/bench/style.py                 # defaults of issue 7
  python tools/bench/style.py --neural_steps=0  # filters only

Prints one JSON line: images/s of each classic filter on a batch of --batch
images of --size px (jitted, compile excluded, median of --reps), and the wall
time of --neural_steps neural steps at --neural_size px with the "random"
extractor (compile timed separately, AOT).
"""

import json
import os
import platform
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.refiners import style as st

_BATCH = flags.DEFINE_integer("batch", 64, "Filter batch size.")
_SIZE = flags.DEFINE_integer("size", 64, "Filter image size.")
_REPS = flags.DEFINE_integer("reps", 5, "Timed repetitions per filter.")
_NEURAL_SIZE = flags.DEFINE_integer("neural_size", 128, "Neural image size.")
_NEURAL_STEPS = flags.DEFINE_integer("neural_steps", 200, "Neural steps (0 = "
                                     "skip).")
_NEURAL_BATCH = flags.DEFINE_integer("neural_batch", 1, "Neural contents.")


def _images(n, size, seed=0):
  """A batch of real-looking images in [-1, 1]: astronaut crops if skimage is
  installed, else smooth noise (speed does not depend on content)."""
  rng = np.random.default_rng(seed)
  try:
    from skimage import data  # pylint: disable=g-import-not-at-top
    photo = data.astronaut().astype(np.float32) / 127.5 - 1.0
  except ImportError:
    photo = np.cumsum(np.cumsum(rng.normal(size=(512, 512, 3)), 0), 1)
    photo = (photo / np.abs(photo).max()).astype(np.float32)
  crops = []
  for _ in range(n):
    c = rng.integers(192, 512)
    y, x = rng.integers(0, 512 - c + 1, size=2)
    crops.append(photo[y:y + c, x:x + c])
  return np.stack([np.asarray(jax.image.resize(c, (size, size, 3), "linear")) for c in crops])


def _time(fn, *args, reps):
  t0 = time.perf_counter()
  jax.block_until_ready(fn(*args))
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return compile_s, float(np.median(times))


def main(argv):
  del argv

  images = jnp.asarray(_images(_BATCH.value, _SIZE.value))
  reference = jnp.asarray(_images(1, _SIZE.value, seed=1)[0])
  result = {
      "what": "style refiner speed",
      "backend": jax.default_backend(),
      "device": str(jax.devices()[0].device_kind),
      "cpu_count": os.cpu_count(),
      "machine": platform.machine(),
      "batch": _BATCH.value,
      "size": _SIZE.value,
      "reps": _REPS.value,
      "filters_images_per_s": {},
      "filters_compile_s": {},
  }
  fns = dict(st.CLASSIC_STYLES)
  fns["reinhard"] = lambda x: st.reinhard(x, reference)
  for name, fn in fns.items():
    compile_s, median = _time(jax.jit(fn), images, reps=_REPS.value)
    result["filters_images_per_s"][name] = round(_BATCH.value / median, 1)
    result["filters_compile_s"][name] = round(compile_s, 2)

  if _NEURAL_STEPS.value > 0:
    s = _NEURAL_SIZE.value
    content = jnp.asarray(_images(_NEURAL_BATCH.value, s, seed=2))
    style = jnp.asarray(_images(1, s, seed=3)[0])
    key = jax.random.PRNGKey(0)
    fn, ex = st.neural_style_runner("random", steps=_NEURAL_STEPS.value)
    t0 = time.perf_counter()
    compiled = fn.lower(ex.params, content, style, key).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out, metrics = jax.block_until_ready(compiled(ex.params, content, style, key))
    run_s = time.perf_counter() - t0
    result["neural"] = {
        "extractor": "random",
        "size": s,
        "batch": _NEURAL_BATCH.value,
        "steps": _NEURAL_STEPS.value,
        "compile_s": round(compile_s, 2),
        "run_s": round(run_s, 2),
        "ms_per_step": round(1000 * run_s / _NEURAL_STEPS.value, 1),
        "loss_first_last": [round(float(metrics["loss"][0]), 4),
                            round(float(metrics["loss"][-1]), 4)],
    }
    del out
  print(json.dumps(result))


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
  app.run(main)

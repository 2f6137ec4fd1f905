"""D's real-vs-fake accuracy under FGSM and PGD attacks over an eps grid.

  python tools/robustness.py --workdir=runs/demo
  python tools/robustness.py --workdir=runs/robust --eps 0,1/255,2/255,4/255,8/255 --num 256 \
      --steps 10 --json_out robust.json

--eps values are in pixel units of the [0, 1] range (fractions like 1/255
allowed); images inside vid_jax are in [-1, 1], so each is doubled before the
attack (an L-inf budget of 1/255 moves a pixel by at most 1/255 of its range).
Reals come from the run's data source, fakes from its EMA generator; D is the
checkpoint's discriminator in inference mode. Accuracy counts logit > 0 as
"real". PGD starts at a random point of the ball and takes --steps steps of
--rel_step * eps / --steps. Compare a plain run with an adversarially trained
one (configs/dcgan_avatars_robust.py); see docs/adversarial.md.
"""
import json
import math
import os
import sys

from absl import app, flags
import jax
import numpy as np

from vid_jax import data, inference
from vid_jax.data.attributes import ATTRIBUTE_INDEX
from vid_jax.errors import UserError
from vid_jax.refiners import adversarial

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir (launch.py --workdir).")
_EPS = flags.DEFINE_string("eps", "0,1/255,2/255,4/255,8/255",
                           "Comma-separated budgets in [0, 1] pixel units, e.g. 0,1/255,0.01.")
_NUM = flags.DEFINE_integer("num", 128, "Number of real and (as many) fake images.")
_STEPS = flags.DEFINE_integer("steps", 10, "PGD steps.")
_REL_STEP = flags.DEFINE_float("rel_step", 2.5, "PGD step size relative to eps / steps.")
_NORM = flags.DEFINE_enum("norm", "linf", ["linf", "l2"], "Attack norm.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per attacked chunk.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the real indices, z, attributes and PGD starts.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
_JSON = flags.DEFINE_string("json_out", None, "JSON report path (default: WORKDIR/robustness.json).")
flags.mark_flags_as_required(["workdir"])

# Images are in [-1, 1]: a budget in [0, 1] pixel units is twice as large there.
PIXEL_TO_MODEL_SCALE = 2.0


def parse_eps_list(text: str) -> list[float]:
  """'0,1/255,0.01' -> budgets in the [-1, 1] image scale (pixel budget x 2).

  Raises:
    UserError: on an empty, non-numeric, negative or > 1 entry.
  """
  parts = [p.strip() for p in text.split(",")]
  if not text.strip() or any(not p for p in parts):
    raise UserError(f"--eps={text!r}: give comma-separated budgets such as 0,1/255,2/255")
  out = []
  for p in parts:
    num, slash, den = p.partition("/")
    try:
      value = float(num) / float(den) if slash else float(num)
    except (ValueError, ZeroDivisionError):
      raise UserError(f"--eps entry {p!r} is not a number or a fraction like 1/255") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
      raise UserError(f"--eps entry {p!r} = {value:g} is outside [0, 1] (budgets are in [0, 1] "
                      "pixel units, e.g. 8/255)")
    out.append(value * PIXEL_TO_MODEL_SCALE)
  return out


def _pixel_label(eps_model: float) -> str:
  k = eps_model / PIXEL_TO_MODEL_SCALE * 255
  return f"{k:g}/255" if abs(k - round(k, 3)) < 1e-6 else f"{eps_model / PIXEL_TO_MODEL_SCALE:.4g}"


def format_table(report: dict) -> str:
  """Fixed-width table of a `d_robustness_report`."""
  head = (f"{'eps(px)':>9} {'eps([-1,1])':>11} {'clean':>6} | {'FGSM':>6} {'real':>6} {'fake':>6}"
          f" | {'PGD':>6} {'real':>6} {'fake':>6}")
  lines = [head, "-" * len(head)]
  for i, e in enumerate(report["eps"]):
    f, p = report["fgsm"], report["pgd"]
    lines.append(f"{_pixel_label(e):>9} {e:>11.5f} {report['clean']['all']:>6.3f} | "
                 f"{f['all'][i]:>6.3f} {f['real'][i]:>6.3f} {f['fake'][i]:>6.3f} | "
                 f"{p['all'][i]:>6.3f} {p['real'][i]:>6.3f} {p['fake'][i]:>6.3f}")
  return "\n".join(lines)


def run(workdir, *, eps_text, num, steps, rel_step, norm, batch_size, seed, step=None, json_out=None) -> dict:
  """Loads the run, builds reals and fakes, attacks D; returns (and writes) the report."""

  eps_grid = parse_eps_list(eps_text)
  for name, value, low in (("--num", num, 1), ("--steps", steps, 1), ("--batch_size", batch_size, 1)):
    if value < low:
      raise UserError(f"{name}={value}: must be >= {low}")
  if not rel_step > 0:
    raise UserError(f"--rel_step={rel_step}: must be > 0")
  models = inference.load_models(workdir, step=step)
  config = models.config
  d = config.data
  source = data.make_source(d.source, size=models.resolution, seed=config.train.seed,
                            num_examples=d.num_examples or None, on_bad_file="skip",
                            data_dir=d.get("data_dir") or None)
  if len(source) < num:
    raise UserError(f"--num={num}: the data source {d.source} has only {len(source)} images")
  indices = np.sort(np.random.default_rng(seed).choice(len(source), num, replace=False))
  batch = source.get_batch(indices)
  real = np.asarray(data.to_float(batch["image"]))  # [num, R, R, 3] in [-1, 1]

  k_z, k_y, k_attack = jax.random.split(jax.random.PRNGKey(seed), 3)
  fake_attrs = models.sample_attributes(k_y, num)  # [num, A] or None
  real_attrs = None
  if models.attribute_names:
    cols = [ATTRIBUTE_INDEX[a] for a in models.attribute_names]
    real_attrs = batch["attributes"][:, cols].astype(np.float32)  # [num, A]
  z = jax.random.normal(k_z, (num, models.z_dim))
  fake = np.asarray(jax.jit(models.generate)(z, fake_attrs))  # [num, R, R, 3]

  report = adversarial.d_robustness_report(lambda x, y: models.discriminate(x, y), real, fake, k_attack,
                                           eps_grid, real_attrs=real_attrs,
                                           fake_attrs=None if fake_attrs is None else np.asarray(fake_attrs),
                                           num_steps=steps, rel_step_size=rel_step, norm=norm,
                                           batch_size=batch_size)
  report = dict(report, workdir=os.path.abspath(workdir), checkpoint_step=models.step, norm=norm,
                num_real=num, num_fake=num, pgd_steps=steps, pgd_rel_step=rel_step,
                eps_pixels=[e / PIXEL_TO_MODEL_SCALE for e in eps_grid],
                eps_scale="eps is in the [-1, 1] image scale; eps_pixels = eps / 2 in [0, 1] units",
                adversarially_trained=bool(config.refiners.adversarial.enabled))
  json_out = json_out or os.path.join(workdir, "robustness.json")
  with open(json_out, "w", encoding="utf-8") as f:
    json.dump(report, f, indent=1)
  return report


def main(argv):
  if len(argv) > 1:
    print(f"error: unexpected arguments {argv[1:]}; use --flags", file=sys.stderr)
    return 2
  json_out = _JSON.value
  try:
    report = run(_WORKDIR.value, eps_text=_EPS.value, num=_NUM.value, steps=_STEPS.value,
                 rel_step=_REL_STEP.value, norm=_NORM.value, batch_size=_BATCH.value, seed=_SEED.value,
                 step=_STEP.value, json_out=json_out)
  except (UserError, ValueError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"D real-vs-fake accuracy of {report['workdir']} (step {report['checkpoint_step']}, "
        f"{'adversarially trained' if report['adversarially_trained'] else 'plain'}), "
        f"{report['num_real']} real + {report['num_fake']} fake, {report['norm']}, "
        f"PGD-{report['pgd_steps']}:")
  print(format_table(report))
  print(f"wrote {json_out or os.path.join(_WORKDIR.value, 'robustness.json')}")
  return 0


if __name__ == "__main__":
  app.run(main)

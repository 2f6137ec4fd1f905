"""PGD throughput through the DCGAN discriminator; prints one JSON line.

  python tools/bench/adversarial.py                    # batch 256, 64x64, PGD-10
  python tools/bench/adversarial.py --batch=32 --reps=3  # short run on a small CPU

Reports PGD-`steps` images/s (median of --reps timed runs after one compile
run) and `ratio` = PGD time / (steps x one D forward+backward to the input on
the same batch). Each PGD step is one such forward+backward plus elementwise
work, so the ideal ratio is about 1.0. D is randomly initialised (weights do
not change the cost) and runs in inference mode, as in adversarial training.
"""
import json
import statistics
import sys
import time

from absl import app, flags
import jax
import jax.numpy as jnp

from vid_jax.errors import UserError
from vid_jax.models import Discriminator, resolve_conv_impl
from vid_jax.refiners import adversarial

_BATCH = flags.DEFINE_integer("batch", 256, "Images per batch.")
_RES = flags.DEFINE_integer("resolution", 64, "Image side (32, 64 or 128).")
_WIDTH = flags.DEFINE_integer("width", 64, "Discriminator base width (ndf).")
_STEPS = flags.DEFINE_integer("steps", 10, "PGD steps.")
_REPS = flags.DEFINE_integer("reps", 3, "Timed repetitions (median reported).")
_NORM = flags.DEFINE_enum("norm", "linf", ["linf", "l2"], "Attack norm.")
_CONV = flags.DEFINE_string("conv_impl", "auto", "Discriminator conv implementation (auto|native|fast).")
_UNROLL = flags.DEFINE_integer("unroll", 1, "fori_loop unroll factor of the PGD steps.")


def _median_seconds(fn, reps):
  jax.block_until_ready(fn())  # compile + warm up
  times = []
  for _ in range(reps):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def benchmark(*, batch, resolution, width, steps, reps, norm, conv_impl, unroll=1) -> dict:
  """Times PGD and one input-gradient pass; returns the JSON record."""

  for name, value in (("--batch", batch), ("--steps", steps), ("--reps", reps), ("--width", width),
                      ("--unroll", unroll)):
    if value < 1:
      raise UserError(f"{name}={value}: must be >= 1")
  impl = resolve_conv_impl(conv_impl)
  model = Discriminator(resolution=resolution, width=width, conv_impl=impl)
  k_init, k_x, k_pgd = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.uniform(k_x, (batch, resolution, resolution, 3), jnp.float32, -1.0, 1.0)
  variables = jax.jit(lambda k: model.init(k, x[:1], train=False))(k_init)
  d_logits = lambda v: model.apply(variables, v, train=False)  # [B]
  loss_fn = adversarial.fakes_called_real_loss(d_logits)
  eps = 8 / 255 * 2  # 8/255 in [0, 1] pixel units; the cost does not depend on it

  attack = jax.jit(lambda v, k: adversarial.pgd(loss_fn, v, k, eps=eps, step_size=eps / 4, num_steps=steps,
                                                norm=norm, unroll=unroll))
  input_grad = jax.jit(jax.grad(lambda v: jnp.sum(loss_fn(v))))
  t_pgd = _median_seconds(lambda: attack(x, k_pgd), reps)
  t_grad = _median_seconds(lambda: input_grad(x), reps)
  return {
      "benchmark": "pgd_discriminator",
      "backend": jax.default_backend(),
      "device": jax.devices()[0].device_kind,
      "conv_impl": impl,
      "batch": batch,
      "resolution": resolution,
      "width": width,
      "norm": norm,
      "steps": steps,
      "unroll": unroll,
      "reps": reps,
      "pgd_seconds": round(t_pgd, 5),
      "grad_seconds": round(t_grad, 5),
      "pgd_images_per_s": round(batch / t_pgd, 2),
      "ratio_to_steps_x_grad": round(t_pgd / (steps * t_grad), 4),
  }


def main(argv):
  if len(argv) > 1:
    print(f"error: unexpected arguments {argv[1:]}; use --flags", file=sys.stderr)
    return 2
  try:
    record = benchmark(batch=_BATCH.value, resolution=_RES.value, width=_WIDTH.value, steps=_STEPS.value,
                       reps=_REPS.value, norm=_NORM.value, conv_impl=_CONV.value, unroll=_UNROLL.value)
  except (UserError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(json.dumps(record))
  return 0


if __name__ == "__main__":
  app.run(main)

"""Times each 4x4 layer of the DCGAN pair, native vs fast: forward, input- and weight-gradient.

  python tools/bench/layers.py --resolution=64 --batch=64
  python tools/bench/layers.py --layers=G2,D1 --impls=fast --dtype=bfloat16
  python tools/bench/layers.py --forms          # every formulation of every stride-2 pass

Prints one JSON line with a plain matmul's GFLOP/s (the machine's reference),
then one JSON line per layer: for each implementation the milliseconds and
GFLOP/s of the forward pass (`fwd`), the gradient w.r.t. the input (`dx`) and
w.r.t. the kernel (`dw`), each the best of --rounds calls of a compiled function.
A pass whose first call takes over --slow_s seconds (native ConvT weight
gradients on CPU) is timed once.

With --forms, each stride-2 layer instead gets one line with the milliseconds of
every formulation in vid_jax/models/fast_conv.py of each of its three passes
(`fwd.native`, `fwd.wino`, `dw.s2d_chunked`, ...) and the one `fast` picks
(`*.fast`): the measurements behind fast_conv's size tables.
"""
import json
import time

from absl import app, flags
import jax
import jax.numpy as jnp

from vid_jax.errors import UserError
from vid_jax.models import fast_conv
from vid_jax.models import fast_conv as fc

_RESOLUTION = flags.DEFINE_integer("resolution", 64, "Model resolution: 32, 64 or 128.")
_WIDTH = flags.DEFINE_integer("width", 64, "Model width (channels of D's first layer).")
_Z_DIM = flags.DEFINE_integer("z_dim", 100, "Latent size (input channels of G's first layer).")
_BATCH = flags.DEFINE_integer("batch", 64, "Batch size.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype.")
_IMPLS = flags.DEFINE_list("impls", ["native", "fast"], "Implementations to time: native, fast.")
_LAYERS = flags.DEFINE_list("layers", [], "Layer names to time, e.g. G1,D2 (default: all).")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Timed calls per pass (the best is reported).")
_SLOW_S = flags.DEFINE_float("slow_s", 2.0, "A pass slower than this on its first call is timed once.")
_FORMS = flags.DEFINE_bool("forms", False, "Time every formulation of each stride-2 pass instead.")
_MATMUL = flags.DEFINE_list("matmul", ["4096", "1024", "1024"], "M,K,N of the reference matmul.")


def _time(fn, args, *, rounds: int, slow_s: float) -> float:
  """Best wall seconds of a compiled `fn(*args)` over `rounds` calls."""
  compiled = jax.jit(fn).lower(*args).compile()
  best = float("inf")
  for _ in range(rounds):
    t = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    best = min(best, time.perf_counter() - t)
    if best > slow_s:
      break
  return best


def _layer_fns(layer, impl: str):
  """(forward, input-gradient, weight-gradient) functions of one layer."""
  if layer.transposed:
    f = fast_conv.conv_transpose4 if impl == "fast" else fast_conv.native_conv_transpose4
  else:
    f = fast_conv.conv4 if impl == "fast" else fast_conv.native_conv4
  fwd = lambda x, k: f(x, k, stride=layer.stride, padding=layer.padding)
  dx = lambda x, k, g: jax.vjp(lambda x: fwd(x, k), x)[1](g)[0]
  dw = lambda x, k, g: jax.vjp(lambda k: fwd(x, k), k)[1](g)[0]
  return fwd, dx, dw


def _form_fns(layer, x, kernel, g):
  """{pass.form: (fn, args)} for one stride-2 layer: every formulation fast_conv has."""
  fast_fwd, fast_dx, fast_dw = _layer_fns(layer, "fast")
  if layer.transposed:  # x [B, h, h, C] -> [B, 2h, 2h, D]; its dx is a conv of g, its dw a conv grad
    kt = fc._flip_swap(kernel)  # pylint: disable=protected-access
    fns = {
        "fwd.native": (lambda x, k: fc.native_conv_transpose4(x, k, stride=2, padding=1), (x, kernel)),
        "fwd.phase": (fc._up_phase, (x, kernel)),  # pylint: disable=protected-access
        "fwd.wino": (fc._up_wino, (x, kernel)),  # pylint: disable=protected-access
        "dx.native": (lambda g, k: fc.native_conv4(g, k, stride=2, padding=1), (g, kt)),
        "dx.s2d": (fc._down_s2d, (g, kt)),  # pylint: disable=protected-access
        "dx.wino": (fc._down_wino, (g, kt)),  # pylint: disable=protected-access
    }
    dw_args = (g, x)  # the ConvT weight gradient is the Conv weight gradient of (g, x), flipped
  else:  # x [B, 2h, 2h, C] -> [B, h, h, D]
    fns = {
        "fwd.native": (lambda x, k: fc.native_conv4(x, k, stride=2, padding=1), (x, kernel)),
        "fwd.s2d": (fc._down_s2d, (x, kernel)),  # pylint: disable=protected-access
        "fwd.wino": (fc._down_wino, (x, kernel)),  # pylint: disable=protected-access
        "dx.s2d": (lambda g, k: fc._down_grad_x(g, k, x.shape), (g, kernel)),  # pylint: disable=protected-access
        "dx.convT": (lambda g, k: fc._up(g, fc._flip_swap(k)), (g, kernel)),  # pylint: disable=protected-access
        "dx.wino": (lambda g, k: fc._down_wino_grad_x(g, k, x.shape), (g, kernel)),  # pylint: disable=protected-access
    }
    dw_args = (x, g)
  fns.update({
      "dw.native": (fc._down_grad_k_native, dw_args),  # pylint: disable=protected-access
      "dw.patches": (fc._down_grad_k_patches, dw_args),  # pylint: disable=protected-access
      "dw.s2d": (fc._down_grad_k_s2d, dw_args),  # pylint: disable=protected-access
      "dw.wino": (fc._down_wino_grad_k, dw_args),  # pylint: disable=protected-access
  })
  if x.shape[0] % fc.GRAD_K_CHUNKS == 0:
    fns["dw.s2d_chunked"] = (lambda a, b: fc._down_grad_k_s2d_chunked(a, b, fc.GRAD_K_CHUNKS), dw_args)  # pylint: disable=protected-access
  fns.update({
      "fwd.fast": (fast_fwd, (x, kernel)),
      "dx.fast": (fast_dx, (x, kernel, g)),
      "dw.fast": (fast_dw, (x, kernel, g))
  })
  return fns


def _matmul_reference(m: int, k: int, n: int, dtype, *, rounds: int) -> dict:
  a = jax.random.normal(jax.random.PRNGKey(0), (m, k), dtype)
  b = jax.random.normal(jax.random.PRNGKey(1), (k, n), dtype)
  s = _time(jnp.dot, (a, b), rounds=max(rounds, 3), slow_s=float("inf"))
  return {
      "matmul": [m, k, n],
      "dtype": jnp.dtype(dtype).name,
      "ms": round(s * 1e3, 2),
      "gflops": round(2 * m * k * n / s / 1e9, 1)
  }


def run(*, resolution: int, width: int, z_dim: int, batch: int, dtype_name: str, impls, layer_names,
        rounds: int, slow_s: float, matmul, forms: bool = False):
  """Yields the JSON-able result dicts: the matmul reference, then one per layer."""

  if resolution not in (32, 64, 128):
    raise UserError(f"--resolution={resolution} is not supported; use 32, 64 or 128")
  if bad := [i for i in impls if i not in ("native", "fast")]:
    raise UserError(f"--impls has unknown {','.join(bad)}; use native and/or fast")
  if batch < 1 or width < 1 or z_dim < 1 or rounds < 1:
    raise UserError("--batch, --width, --z_dim and --rounds must be positive")
  try:
    m, k, n = (int(v) for v in matmul)
  except ValueError as e:
    raise UserError(f"--matmul={','.join(matmul)} must be three integers M,K,N") from e
  dtype = jnp.dtype(dtype_name)
  layers = fast_conv.dcgan_layers(resolution, width=width, z_dim=z_dim)
  if layer_names:
    known = {l.name.split()[0] for l in layers}
    if bad := [n for n in layer_names if n not in known]:
      raise UserError(f"--layers has unknown {','.join(bad)}; this model has {','.join(sorted(known))}")
    layers = [l for l in layers if l.name.split()[0] in layer_names]

  reference = _matmul_reference(m, k, n, dtype, rounds=rounds)
  yield reference
  if forms:
    layers = [l for l in layers if l.stride == 2 and l.size % 2 == 0]
  for layer in layers:
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(keys[0], (batch, layer.size, layer.size, layer.c_in), dtype)
    kernel = 0.02 * jax.random.normal(keys[1], (4, 4, layer.c_in, layer.c_out), dtype)
    y = jax.eval_shape(_layer_fns(layer, "native")[0], x, kernel)
    g = jax.random.normal(keys[2], y.shape, dtype)
    gflop = layer.flops(batch) / 1e9
    result = {"layer": layer.name, "batch": batch, "dtype": dtype.name, "gflop": round(gflop, 3)}
    if forms:
      for name, (fn, args) in _form_fns(layer, x, kernel, g).items():
        result[name] = round(_time(fn, args, rounds=rounds, slow_s=slow_s) * 1e3, 2)
      yield result
      continue
    for impl in impls:
      fwd, dx, dw = _layer_fns(layer, impl)
      times = {
          "fwd": _time(fwd, (x, kernel), rounds=rounds, slow_s=slow_s),
          "dx": _time(dx, (x, kernel, g), rounds=rounds, slow_s=slow_s),
          "dw": _time(dw, (x, kernel, g), rounds=rounds, slow_s=slow_s)
      }
      result[impl] = {
          **{
              f"{p}_ms": round(s * 1e3, 2) for p, s in times.items()
          },
          **{
              f"{p}_gflops": round(gflop / s, 1) for p, s in times.items()
          }, "of_matmul": round(3 * gflop / sum(times.values()) / reference["gflops"], 2)
      }
    yield result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    for result in run(resolution=_RESOLUTION.value, width=_WIDTH.value, z_dim=_Z_DIM.value,
                      batch=_BATCH.value, dtype_name=_DTYPE.value, impls=_IMPLS.value,
                      layer_names=_LAYERS.value, rounds=_ROUNDS.value, slow_s=_SLOW_S.value,
                      matmul=_MATMUL.value, forms=_FORMS.value):
      print(json.dumps(result), flush=True)
  except ValueError as e:  # UserError included
    print(f"error: {e}", flush=True)
    raise SystemExit(2) from None


if __name__ == "__main__":
  app.run(main)

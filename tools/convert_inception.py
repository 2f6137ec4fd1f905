"""Converts pytorch-fid's FID Inception weights (.pth) to the .npz vid_jax loads.

  python tools/convert_inception.py --pth=pt_inception-2015-12-05-6726825d.pth --out=pt_inception.npz

The .pth is pytorch-fid's release file (the TF 2015-12-05 Inception ported to
PyTorch); fetch it yourself: nothing is ever downloaded here. Reading it needs
torch (CPU is enough), in any environment: the .npz it writes (state_dict names,
PyTorch layout, float32) is all vid_jax needs afterwards:

  python tools/evaluate.py --workdir=runs/demo --inception=pt_inception.npz
"""
import hashlib
import os
import sys

from absl import app, flags

from vid_jax.errors import UserError
from vid_jax.metrics import inception

_PTH = flags.DEFINE_string("pth", None, "pytorch-fid state_dict file (.pth).")
_OUT = flags.DEFINE_string("out", None, "Output .npz path.")
flags.mark_flags_as_required(["pth", "out"])


def read_pth(path: str) -> dict:
  """The state_dict in `path` as {name: numpy array} (needs torch)."""
  if not os.path.isfile(path):
    raise UserError(f"--pth={path!r} does not exist; give pytorch-fid's "
                    "pt_inception-2015-12-05-6726825d.pth")
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise UserError("reading a .pth needs torch, which is not installed here: run this tool where "
                    "torch is (pip install torch), then use the .npz anywhere") from e
  try:
    state = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # pylint: disable=broad-except  # torch raises many kinds
    raise UserError(f"torch cannot read {path!r}: {e}") from e
  if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
    state = state["state_dict"]
  if not isinstance(state, dict):
    raise UserError(f"{path!r} holds a {type(state).__name__}, not a state_dict")
  return {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "detach")}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  sha = ""
  try:
    state_dict = read_pth(_PTH.value)
    with open(_PTH.value, "rb") as f:
      sha = hashlib.sha256(f.read()).hexdigest()
    inception.save_npz(_OUT.value, state_dict, source=_PTH.value, source_sha256=sha)
  except (UserError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(f"wrote {_OUT.value} ({len(inception.expected_state_dict_shapes())} InceptionV3 "
        f"tensors, pytorch-fid names and layout; source sha256 {sha})")
  if not sha.startswith(inception.RELEASE_SHA256_PREFIX):
    print(f"note: not pytorch-fid's release file (its name carries sha256 prefix "
          f"{inception.RELEASE_SHA256_PREFIX}); FIDs will not be marked comparable to published ones")


if __name__ == "__main__":
  app.run(main)

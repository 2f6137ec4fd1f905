"""FID Inception weights (vid_jax/metrics/inception.py): pytorch-fid's shapes, pool3 features, files."""
import importlib.util
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.errors import UserError
from vid_jax.metrics import inception

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# pytorch-fid's fid_inception_v3 (torchvision Inception3 with FIDInceptionA/C/E
# blocks, aux_logits=False), written out from its published architecture:
# (BasicConv2d name, in channels, out channels, kernel h, kernel w).
_STEM = [("Conv2d_1a_3x3", 3, 32, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3, 3), ("Conv2d_2b_3x3", 32, 64, 3, 3),
         ("Conv2d_3b_1x1", 64, 80, 1, 1), ("Conv2d_4a_3x3", 80, 192, 3, 3)]


def _block_a(name, cin, pool):
  return [(f"{name}.branch1x1", cin, 64, 1, 1), (f"{name}.branch5x5_1", cin, 48, 1, 1),
          (f"{name}.branch5x5_2", 48, 64, 5, 5), (f"{name}.branch3x3dbl_1", cin, 64, 1, 1),
          (f"{name}.branch3x3dbl_2", 64, 96, 3, 3), (f"{name}.branch3x3dbl_3", 96, 96, 3, 3),
          (f"{name}.branch_pool", cin, pool, 1, 1)]


def _block_c(name, c7):
  return [(f"{name}.branch1x1", 768, 192, 1, 1), (f"{name}.branch7x7_1", 768, c7, 1, 1),
          (f"{name}.branch7x7_2", c7, c7, 1, 7), (f"{name}.branch7x7_3", c7, 192, 7, 1),
          (f"{name}.branch7x7dbl_1", 768, c7, 1, 1), (f"{name}.branch7x7dbl_2", c7, c7, 7, 1),
          (f"{name}.branch7x7dbl_3", c7, c7, 1, 7), (f"{name}.branch7x7dbl_4", c7, c7, 7, 1),
          (f"{name}.branch7x7dbl_5", c7, 192, 1, 7), (f"{name}.branch_pool", 768, 192, 1, 1)]


def _block_e(name, cin):
  return [(f"{name}.branch1x1", cin, 320, 1, 1), (f"{name}.branch3x3_1", cin, 384, 1, 1),
          (f"{name}.branch3x3_2a", 384, 384, 1, 3), (f"{name}.branch3x3_2b", 384, 384, 3, 1),
          (f"{name}.branch3x3dbl_1", cin, 448, 1, 1), (f"{name}.branch3x3dbl_2", 448, 384, 3, 3),
          (f"{name}.branch3x3dbl_3a", 384, 384, 1, 3), (f"{name}.branch3x3dbl_3b", 384, 384, 3, 1),
          (f"{name}.branch_pool", cin, 192, 1, 1)]


PYTORCH_FID_CONVS = (_STEM + _block_a("Mixed_5b", 192, 32) + _block_a("Mixed_5c", 256, 64) +
                     _block_a("Mixed_5d", 288, 64) + [("Mixed_6a.branch3x3", 288, 384, 3, 3),
                                                      ("Mixed_6a.branch3x3dbl_1", 288, 64, 1, 1),
                                                      ("Mixed_6a.branch3x3dbl_2", 64, 96, 3, 3),
                                                      ("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3)] +
                     _block_c("Mixed_6b", 128) + _block_c("Mixed_6c", 160) + _block_c("Mixed_6d", 160) +
                     _block_c("Mixed_6e", 192) + [("Mixed_7a.branch3x3_1", 768, 192, 1, 1),
                                                  ("Mixed_7a.branch3x3_2", 192, 320, 3, 3),
                                                  ("Mixed_7a.branch7x7x3_1", 768, 192, 1, 1),
                                                  ("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7),
                                                  ("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1),
                                                  ("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3)] +
                     _block_e("Mixed_7b", 1280) + _block_e("Mixed_7c", 2048))


def pytorch_fid_state_dict_shapes():
  shapes = {}
  for name, cin, cout, kh, kw in PYTORCH_FID_CONVS:
    shapes[f"{name}.conv.weight"] = (cout, cin, kh, kw)
    for leaf in ("weight", "bias", "running_mean", "running_var"):
      shapes[f"{name}.bn.{leaf}"] = (cout,)
  return shapes


def test_state_dict_shapes_equal_pytorch_fids():
  want = pytorch_fid_state_dict_shapes()
  assert len(PYTORCH_FID_CONVS) == 94
  assert inception.expected_state_dict_shapes() == want
  # torchvision's inception_v3 has 27,161,264 parameters; without AuxLogits
  # (3,326,696) and the 1000-way fc (2,049,000) that leaves the conv/BN weights.
  n = sum(int(np.prod(s)) for k, s in want.items() if "running" not in k)
  assert n == 27_161_264 - 3_326_696 - 2_049_000


@pytest.fixture(scope="module")
def state_dict():
  return inception.random_state_dict(seed=0)


def test_pool3_features_of_random_weights(state_dict):
  model = inception.inception_from_state_dict(state_dict)
  images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
  feats = jax.jit(model.features)(images)  # resized to 299x299 inside
  assert feats.shape == (2, inception.FEATURE_DIM) and feats.dtype == jnp.float32
  feats = np.asarray(feats)
  assert np.isfinite(feats).all() and (feats >= 0).all()  # mean of ReLU outputs
  assert np.abs(feats[0] - feats[1]).max() > 0  # depends on the input


def test_round_trip_state_dict_npz_variables(state_dict, tmp_path):
  extra = dict(state_dict)
  extra["fc.weight"] = np.ones((1008, 2048), np.float32)
  extra["fc.bias"] = np.zeros((1008,), np.float32)
  extra["Conv2d_1a_3x3.bn.num_batches_tracked"] = np.array(0, np.int64)
  path = str(tmp_path / "w.npz")
  inception.save_npz(path, extra, source_sha256="6726825d" + "0" * 56)
  loaded, sha = inception.read_npz(path)
  assert sha == "6726825d" + "0" * 56
  assert set(loaded) == set(extra) - {"Conv2d_1a_3x3.bn.num_batches_tracked"}
  for k, v in loaded.items():
    np.testing.assert_array_equal(v, extra[k], err_msg=k)
  variables = inception.state_dict_to_variables(loaded)
  k = variables["params"]["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"]
  assert k.shape == (1, 7, 128, 128)  # HWIO
  assert inception.load_inception(path).is_pytorch_fid_release
  inception.save_npz(path, state_dict)  # no provenance recorded: not marked as the release
  assert not inception.load_inception(path).is_pytorch_fid_release
  back = inception.variables_to_state_dict(variables)
  assert set(back) == set(state_dict)
  for name, v in back.items():
    np.testing.assert_array_equal(v, state_dict[name], err_msg=name)


def test_bad_weight_files_give_one_clear_error(state_dict, tmp_path):
  missing = dict(state_dict)
  del missing["Mixed_7c.branch_pool.conv.weight"]
  with pytest.raises(UserError, match="missing.*Mixed_7c.branch_pool.conv.weight"):
    inception.state_dict_to_npz(missing)
  wrong = dict(state_dict)
  wrong["Mixed_5b.branch_pool.conv.weight"] = np.zeros((64, 192, 1, 1), np.float32)
  with pytest.raises(UserError, match=r"Mixed_5b.branch_pool.conv.weight.*\(64, 192, 1, 1\).*"
                     r"\(32, 192, 1, 1\)"):
    inception.state_dict_to_variables(wrong)
  unknown = dict(state_dict, **{"AuxLogits.fc.weight": np.zeros((1000, 768), np.float32)})
  with pytest.raises(UserError, match="unexpected entry 'AuxLogits.fc.weight'"):
    inception.state_dict_to_npz(unknown)
  with pytest.raises(UserError, match="does not exist"):
    inception.load_npz(str(tmp_path / "nope.npz"))
  (tmp_path / "junk.npz").write_bytes(b"not a zip")
  with pytest.raises(UserError, match="cannot read"):
    inception.load_npz(str(tmp_path / "junk.npz"))


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_converter_without_torch_says_so_in_one_line(tmp_path):
  pth = tmp_path / "w.pth"
  pth.write_bytes(b"x")
  result = subprocess.run([
      sys.executable,
      os.path.join(REPO, "tools", "convert_inception.py"), f"--pth={pth}", f"--out={tmp_path / 'w.npz'}"
  ], capture_output=True, text=True, timeout=120, env=dict(os.environ, JAX_PLATFORMS="cpu"), check=False)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error:") and "torch" in lines[0], result.stderr
  assert not (tmp_path / "w.npz").exists()

"""tools/generate.py and vid_jax.inference on tiny trained workdirs."""
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from vid_jax import data, inference, testing


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  root = tmp_path_factory.mktemp("gen")
  return {
      "plain": testing.make_tiny_workdir(root / "plain"),
      "cond": testing.make_tiny_workdir(root / "cond", conditional=True)
  }


def _generate(args):
  return subprocess.run([sys.executable, "tools/generate.py", *args], cwd=testing.REPO, capture_output=True,
                        text=True, timeout=300)


def test_generate_writes_png_and_npz(workdirs, tmp_path):
  proc = _generate([
      f"--workdir={workdirs['plain']}", "--num=6", "--seed=3", f"--out={tmp_path}/g.png",
      f"--npz={tmp_path}/g.npz"
  ])
  assert proc.returncode == 0, proc.stderr[-2000:]
  images = np.load(tmp_path / "g.npz")["images"]
  assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
  assert images.std() > 0
  assert Image.open(tmp_path / "g.png").size[0] > 32 * 2
  # The same seed gives the same images; the npz matches the in-process EMA generator.
  models = inference.load_models(workdirs["plain"])
  k_z, _ = jax.random.split(jax.random.PRNGKey(3))
  z = jax.random.normal(k_z, (6, models.z_dim))
  want = np.clip(np.rint((np.asarray(models.generate(z)) + 1) * 127.5), 0, 255)
  np.testing.assert_allclose(images, want, atol=1)


def test_generate_with_attributes_from_checkpoint(workdirs, tmp_path):
  proc = _generate([
      f"--workdir={workdirs['cond']}", "--num=4", "--attrs=Smiling,Eyeglasses", "--not=Male",
      f"--out={tmp_path}/c.png", f"--npz={tmp_path}/c.npz"
  ])
  assert proc.returncode == 0, proc.stderr[-2000:]
  npz = np.load(tmp_path / "c.npz")
  names = list(npz["attribute_names"])
  attrs = npz["attributes"]
  assert attrs[:, names.index("Smiling")].all() and attrs[:, names.index("Eyeglasses")].all()
  assert not attrs[:, names.index("Male")].any()


def test_sample_latents_truncation():
  key = jax.random.PRNGKey(5)
  # No truncation is exactly N(0, I) from the same key (older samples reproduce).
  np.testing.assert_array_equal(inference.sample_latents(key, 64, 16), jax.random.normal(key, (64, 16)))
  z = np.asarray(inference.sample_latents(key, 4096, 16, 0.5))
  assert np.abs(z).max() <= 0.5 and np.abs(z).max() > 0.45  # bounded, and reaching the bound
  assert abs(z.mean()) < 0.01 and 0.25 < z.std() < 0.3  # N(0, 1) on [-0.5, 0.5]: std 0.28
  assert inference.check_truncation(0) == 0.0 and inference.check_truncation(1.5) == 1.5
  for bad in (-1.0, float("nan")):
    with pytest.raises(inference.UserError, match="truncation"):
      inference.check_truncation(bad)


def test_generate_truncation_draws_the_truncated_latents(workdirs, tmp_path):
  proc = _generate([
      f"--workdir={workdirs['plain']}", "--num=4", "--seed=2", "--truncation=0.7", "--out=",
      f"--npz={tmp_path}/t.npz"
  ])
  assert proc.returncode == 0, proc.stderr[-2000:]
  images = np.load(tmp_path / "t.npz")["images"]
  models = inference.load_models(workdirs["plain"])
  k_z, _ = jax.random.split(jax.random.PRNGKey(2))
  z = jax.random.truncated_normal(k_z, -0.7, 0.7, (4, models.z_dim))
  want = np.clip(np.rint((np.asarray(models.generate(z)) + 1) * 127.5), 0, 255)
  np.testing.assert_allclose(images, want, atol=1)


@pytest.mark.parametrize("args,message", [
    (["--attrs=Smiling"], "need a conditional run"),
    (["--num=0"], "positive number"),
    (["--truncation=-0.5"], "--truncation=-0.5"),
])
def test_generate_bad_input_is_one_line(workdirs, tmp_path, args, message):
  proc = _generate([f"--workdir={workdirs['plain']}", f"--out={tmp_path}/x.png", *args])
  assert proc.returncode == 2 and "Traceback" not in proc.stderr
  assert message in proc.stderr


def test_generate_unknown_attribute_and_missing_workdir(workdirs, tmp_path):
  proc = _generate([f"--workdir={workdirs['cond']}", "--attrs=Wearing_Cape", f"--out={tmp_path}/x.png"])
  assert proc.returncode == 2 and "not conditioned" in proc.stderr and "Traceback" not in proc.stderr
  proc = _generate([f"--workdir={tmp_path}/nothing", f"--out={tmp_path}/x.png"])
  assert proc.returncode == 2 and "not a training workdir" in proc.stderr


def test_real_vs_generated_grid_and_its_errors(workdirs, tmp_path):
  tool = lambda *a: subprocess.run([sys.executable, "tools/real_vs_generated.py", *a], cwd=testing.REPO,
                                   capture_output=True, text=True, timeout=300)
  proc = tool(f"--workdir={workdirs['cond']}", "--num=8", "--cols=4", f"--out={tmp_path}/rvg.png")
  assert proc.returncode == 0, proc.stderr[-2000:]
  grid = np.asarray(Image.open(tmp_path / "rvg.png"))
  # 4 rows (real, generated, real, generated) of 4 images of 32 px, 2 px of padding.
  assert grid.shape[:2] == (4 * 32 + 5 * 2, 4 * 32 + 5 * 2), grid.shape
  real_row = grid[2:34, 2:2 + 4 * 34 - 2]
  want = data.make_source("avatars", size=32, seed=1_000_003, num_examples=4).get_batch(np.arange(4))["image"]
  np.testing.assert_array_equal(real_row[:, :32], want[0])  # the first held-out avatar, as rendered
  for args, message in (((f"--workdir={workdirs['plain']}",), "unconditional"),
                        ((f"--workdir={workdirs['cond']}", "--num=6", "--cols=4"), "multiple of")):
    bad = tool(*args, f"--out={tmp_path}/x.png")
    assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error:")

"""Tests of `stylize` (vid_jax/refiners/style/runner.py) and tools/stylize.py end to end."""
import functools
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from style_photos import batch, chelsea
from vid_jax.errors import UserError
from vid_jax.refiners import style as st

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_stylize_names_the_same_functions():
  images = batch(16)
  reference = jnp.asarray(chelsea(16))
  np.testing.assert_array_equal(np.asarray(st.stylize(images, "posterize", levels=3)),
                                np.asarray(jax.jit(functools.partial(st.posterize, levels=3))(images)))
  np.testing.assert_array_equal(np.asarray(st.stylize(images, "reinhard", reference=reference)),
                                np.asarray(jax.jit(st.reinhard)(images, reference)))
  assert set(st.STYLE_NAMES) == set(st.CLASSIC_STYLES) | {"reinhard", "neural"}
  with pytest.raises(UserError, match="needs a reference image"):
    st.stylize(images, "neural")
  with pytest.raises(UserError, match="unknown style 'oil'"):
    st.stylize(images, "oil")


def _run_tool(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  return subprocess.run([sys.executable, os.path.join(REPO, "tools", "stylize.py"), *args],
                        capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)


def test_stylize_tool_end_to_end(tmp_path):
  images = np.round((batch(24) + 1) * 127.5).astype(np.uint8)  # [2,24,24,3]
  np.savez(tmp_path / "in.npz", images=np.asarray(images))
  Image.fromarray(np.asarray(images[1])).save(tmp_path / "style.png")
  out = tmp_path / "out.png"
  r = _run_tool(f"--input={tmp_path / 'in.npz'}", f"--style=reinhard:{tmp_path / 'style.png'}", "--size=16",
                f"--out={out}")
  assert r.returncode == 0, r.stderr
  grid = np.asarray(Image.open(out))
  assert grid.shape == (16, 2 * 2 * 16, 3)  # 2 pairs side by side
  assert not np.array_equal(grid[:, :16], grid[:, 16:32])

  r = _run_tool(f"--input={tmp_path / 'in.npz'}", "--style=pixel_art", f"--out={out}")
  assert r.returncode == 0, r.stderr
  grid = np.asarray(Image.open(out))
  assert grid.shape == (24, 4 * 24, 3)
  np.testing.assert_array_equal(grid[:, :24], images[0])  # input kept

  r = _run_tool(f"--input={tmp_path / 'in.npz'}", "--style=oil", f"--out={out}")
  assert r.returncode == 2
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: unknown --style")

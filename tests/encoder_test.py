"""The encoder on tiny models: losses, inversion, edits, training + resume, loading, tools/encode.py."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from vid_jax import classifier_train, refiners, testing, zoo
from vid_jax.data import avatars
from vid_jax.encoder import bundle as bundle_lib
from vid_jax.encoder import Directions, apply_edits, fit_directions, load_encoder, parse_edits
from vid_jax.encoder import evaluate as evaluate_lib
from vid_jax.encoder import train as train_lib
from vid_jax.encoder.losses import encoder_loss
from vid_jax.errors import UserError
from vid_jax.models.encoder import Encoder, kl_to_prior, sample_posterior
from vid_jax.refiners.gan_inversion import inversion


def _encoder_config(**encoder):
  config = testing.load_config_file("encoder_avatars", "smoke")
  config.encoder.update(encoder)
  return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """A tiny conditional GAN, a tiny classifier, and an encoder trained on them (3 + 3 steps)."""
  root = tmp_path_factory.mktemp("encoder")
  gan = testing.make_tiny_workdir(root / "gan", conditional=True)
  clf = str(root / "clf")
  classifier_train.train_and_evaluate(testing.load_config_file("classifier_avatars", "smoke"), clf)
  enc = str(root / "enc")
  metrics = train_lib.train_and_evaluate(_encoder_config(), enc, gan_workdir=gan, classifier_workdir=clf)
  return {"gan": gan, "clf": clf, "enc": enc, "metrics": metrics, "root": root}


def test_encoder_shapes_and_prior_terms():
  module = Encoder(resolution=32, width=8, z_dim=16)
  params = module.init(jax.random.key(0), jnp.zeros((2, 32, 32, 3)))["params"]
  mean, log_var = module.apply({"params": params}, jnp.zeros((5, 32, 32, 3)))
  assert mean.shape == log_var.shape == (5, 16)
  np.testing.assert_allclose(log_var, 0.0)  # zero-init head: the prior's unit variance at first
  assert np.allclose(kl_to_prior(jnp.zeros((3, 16)), jnp.zeros((3, 16))), 0.0)
  # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension.
  np.testing.assert_allclose(kl_to_prior(jnp.ones((1, 4)), jnp.zeros((1, 4))), [2.0], rtol=1e-6)
  z = sample_posterior(jax.random.key(1), jnp.full((4000, 2), 3.0), jnp.full((4000, 2), np.log(0.25)))
  assert abs(float(z.mean()) - 3.0) < 0.05 and abs(float(z.std()) - 0.5) < 0.05


def test_loss_terms_are_named_weighted_and_latent_needs_z(runs):
  enc = load_encoder(runs["enc"])
  f = enc.frozen
  z = jax.random.normal(jax.random.key(0), (4, f.z_dim))
  y = f.gan.sample_attributes(jax.random.key(1), 4)
  x = f.generate(f.variables(), z, y)
  kw = dict(encoder=enc.module, frozen=f, fvars=f.variables(), key=jax.random.key(2), x=x, y=y)
  weights = {
      "latent": 1.0,
      "pixel": 2.0,
      "d_feature": 1.0,
      "classifier_feature": 1.0,
      "adversarial": 0.5,
      "kl": 0.1
  }
  total, values = encoder_loss(enc.params, z_true=z, weights=weights, **kw)
  assert set(values) == set(weights)
  np.testing.assert_allclose(total, sum(weights[k] * values[k] for k in weights), rtol=1e-5)
  assert all(np.isfinite(float(v)) for v in values.values())
  _, only_pixel = encoder_loss(enc.params, weights={"pixel": 1.0}, **kw)
  assert set(only_pixel) == {"pixel"}
  with pytest.raises(ValueError, match="z_true"):
    encoder_loss(enc.params, weights={"latent": 1.0}, **kw)


def test_inversion_transform_minimises_its_loss():
  target = jnp.asarray([1.0, -2.0, 0.5])
  inv = inversion(loss_fn=lambda z, t, y: jnp.sum(jnp.square(z - t)) + 0.0 * y, steps=200, lr=0.1)
  z, loss = jax.jit(jax.vmap(inv.run))(jnp.zeros((2, 3)), jnp.stack([target, -target]), jnp.zeros((2,)))
  np.testing.assert_allclose(z, jnp.stack([target, -target]), atol=1e-2)
  assert float(loss.max()) < 1e-3


def test_refinement_improves_the_reconstruction(runs):
  enc = load_encoder(runs["enc"])
  f = enc.frozen
  y = f.gan.sample_attributes(jax.random.key(3), 8)
  images = f.generate(f.variables(), jax.random.normal(jax.random.key(4), (8, f.z_dim)),
                      y)  # G can make these
  before = refiners.invert(images, encoder=enc, steps=0)
  after = refiners.invert(images, encoder=enc, steps=40)
  assert after.reconstructions.shape == images.shape
  mse = lambda r: float(jnp.mean(jnp.square(r.reconstructions - images)))
  assert float(after.loss.mean()) < float(before.loss.mean())
  assert mse(after) < mse(before)
  np.testing.assert_allclose(refiners.autoencode(images, encoder=enc), before.reconstructions, atol=1e-6)
  mean, log_var = enc.encode(images)
  assert mean.shape == log_var.shape == (8, f.z_dim)
  np.testing.assert_allclose(before.z, mean, atol=1e-6)  # no steps: the posterior mean
  np.testing.assert_array_equal(enc.read_attributes(images), before.y)


def test_edits_change_y_and_move_z_past_the_boundary():
  g_names = ("Male", "Smiling", "Eyeglasses", "Black_Hair", "Blond_Hair")
  dirs = Directions(names=("Pale_Skin",), normals=np.eye(1, 4, dtype=np.float32),
                    offsets=np.zeros(1, np.float32))
  z = jnp.asarray([[0.5, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0]])
  y = jnp.asarray([[1.0, 1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]])
  edits = parse_edits("+Eyeglasses,-Smiling,Blond_Hair,+Pale_Skin")
  assert edits == (("Eyeglasses", 1), ("Smiling", -1), ("Blond_Hair", 1), ("Pale_Skin", 1))
  z2, y2 = apply_edits(z, y, edits, g_names=g_names, directions=dirs)
  np.testing.assert_array_equal(y2, [[1, 0, 1, 0, 1], [0, 0, 1, 0, 1]])  # one hair colour: black cleared
  np.testing.assert_allclose(z2[:, 0], [3.0, 3.0])  # moved to the margin past the boundary
  np.testing.assert_allclose(z2[:, 1:], z[:, 1:])  # only along the normal
  z3, _ = apply_edits(z2, y2, (("Pale_Skin", 1),), g_names=g_names, directions=dirs)
  np.testing.assert_allclose(z3, z2)  # already past it: unchanged
  z4, _ = apply_edits(z, y, (("Pale_Skin", -1),), g_names=g_names, directions=dirs)
  np.testing.assert_allclose(z4[:, 0], [-3.0, -3.0])
  with pytest.raises(UserError, match="cannot be edited"):
    apply_edits(z, y, (("Bald", 1),), g_names=g_names, directions=dirs)
  with pytest.raises(UserError, match="more than once"):
    parse_edits("+Smiling,-Smiling")
  with pytest.raises(UserError, match="names no attribute"):
    parse_edits("+")


class _FakeFrozen:
  """z [B, 4] -> 'images' [B, 1, 1, 4]; the classifier sees Pale_Skin where z0 + z1 > 0.5, Male always."""
  z_dim, c_names, g_names = 4, ("Male", "Pale_Skin", "Big_Nose"), ("Male",)

  class gan:  # pylint: disable=invalid-name

    @staticmethod
    def sample_attributes(key, n):
      return jnp.ones((n, 1))

  def variables(self):
    return {}

  def generate(self, v, z, y):
    return z[:, None, None, :]

  def classify(self, v, images):
    z = images[:, 0, 0, :]
    ones = jnp.ones_like(z[:, 0])
    return jnp.stack([10 * ones, 10 * (z[:, 0] + z[:, 1] - 0.5), -10 * ones], axis=1), None


def test_directions_fit_the_classifier_boundary_of_attributes_g_does_not_know():
  d, report = fit_directions(frozen=_FakeFrozen(), key=jax.random.key(0), samples=2048, steps=300,
                             min_positive=0.05)
  assert d.names == ("Pale_Skin",)  # Male is G's; Big_Nose never present: nothing to fit
  np.testing.assert_allclose(d.normals[0], [2**-0.5, 2**-0.5, 0, 0], atol=0.05)
  np.testing.assert_allclose(d.offsets[0], -0.5 * 2**-0.5, atol=0.1)
  assert report["Pale_Skin"]["accuracy"] > 0.95
  assert Directions.from_json(d.to_json()).names == d.names


def test_training_records_sources_metrics_and_a_finished_run_is_kept(runs):
  m = runs["metrics"]
  for part in ("encoder_only", "refined"):
    assert np.isfinite(m[part]["psnr_median"]) and 0 <= m[part]["agreement_g"] <= 1
  assert m["steps"] == 6 and m["refined"]["steps"] == 3 and m["generator_limit"]["steps"] == 2
  with open(os.path.join(runs["enc"], "metrics.json"), encoding="utf-8") as f:
    assert json.load(f)["refined"] == m["refined"]
  enc = load_encoder(runs["enc"])
  assert enc.meta["gan"] == os.path.abspath(runs["gan"]) and enc.step == 6
  again = train_lib.train_and_evaluate(_encoder_config(), runs["enc"], gan_workdir=runs["gan"],
                                       classifier_workdir=runs["clf"])
  assert again == json.loads(json.dumps(m))  # read back, nothing retrained
  with pytest.raises(UserError, match="holds an encoder of"):
    train_lib.train_and_evaluate(_encoder_config(), runs["enc"], gan_workdir=runs["clf"],
                                 classifier_workdir=runs["clf"])


def test_killed_run_resumes_to_the_same_encoder(runs, tmp_path, monkeypatch):
  config = _encoder_config()  # the fixture's run: 3 + 3 steps, a checkpoint at step 3
  kw = dict(gan_workdir=runs["gan"], classifier_workdir=runs["clf"])

  def killed(*a, **k):
    raise KeyboardInterrupt

  monkeypatch.setattr(evaluate_lib, "evaluate", killed)  # dies after step 6, its last save at step 3
  with pytest.raises(KeyboardInterrupt):
    train_lib.train_and_evaluate(config, str(tmp_path / "split"), **kw)
  with pytest.raises(UserError, match="still training"):
    load_encoder(str(tmp_path / "split"))
  monkeypatch.undo()
  train_lib.train_and_evaluate(config, str(tmp_path / "split"), **kw)  # resumes at step 3
  a, b = load_encoder(runs["enc"]), load_encoder(str(tmp_path / "split"))
  jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6), a.params, b.params)


def test_bad_config_fields_are_user_errors():
  for field, value, needle in (("batch_size", 3, "multiple of the device count"), ("lr", 0.0, "lr"),
                               ("stage1_steps", -1, ">= 0")):
    with pytest.raises(UserError, match=needle):
      train_lib.options_from_config(_encoder_config(**{field: value}), device_count=2)
  config = _encoder_config()
  config.encoder.stage2.latent = 1.0
  with pytest.raises(UserError, match="no known z"):
    train_lib.options_from_config(config, device_count=1)


def test_export_to_the_zoo_loads_the_same_codes(runs, tmp_path):
  payload = bundle_lib.export_payload(runs["enc"])
  card = zoo.export(payload, out_dir=str(tmp_path), name="enc", config_ref="configs/encoder_avatars.py:smoke",
                    retrain="python tools/train_encoder.py ...", metrics={"psnr": 1.0}, evaluation={},
                    wall_time="1 min", machine="test", git_commit="x", git_dirty=False)
  assert card["kind"] == "encoder" and card["step"] == 6
  a, b = load_encoder(runs["enc"]), load_encoder(str(tmp_path / "enc"))
  images = avatars.render_batch(range(4), seed=3, size=a.frozen.resolution)[0]
  tol = max(card["storage"]["fp16_max_abs_error"].values()) + 1e-5
  np.testing.assert_allclose(a.encode(images)[0], b.encode(images)[0], atol=tol)
  assert b.directions.names == a.directions.names and b.inversion == a.inversion


def _encode(args):
  return subprocess.run([sys.executable, "tools/encode.py", *args], cwd=testing.REPO, capture_output=True,
                        text=True, timeout=600)


def test_encode_tool_writes_outputs_in_input_order_and_refuses_bad_input(runs, tmp_path):
  folder = tmp_path / "in"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for name, size in (("b", (48, 40)), ("a", (32, 32))):
    Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(folder / f"{name}.png")
  out = tmp_path / "out"
  r = _encode([
      f"--encoder_workdir={runs['enc']}", f"--input={folder}", "--edit=+Eyeglasses,-Smiling",
      "--style=sketch", "--steps=2", f"--out={out}", f"--npz={tmp_path / 'o.npz'}"
  ])
  assert r.returncode == 0, r.stderr[-3000:]
  assert "note: b.png: 40x48 centre-cropped" in r.stderr
  for name in ("a", "b"):
    for kind in ("reconstruction", "edited", "strip"):
      assert (out / f"{name}_{kind}.png").is_file()
  with np.load(tmp_path / "o.npz") as npz:
    assert npz["reconstructions"].shape == npz["edited"].shape == (2, 32, 32, 3)
    assert npz["reconstructions"].dtype == np.uint8 and list(npz["names"]) == ["a", "b"]
  (tmp_path / "bad.png").write_text("not an image")
  r = _encode(
      [f"--encoder_workdir={runs['enc']}", f"--out={tmp_path / 'x'}", f"--input={tmp_path / 'bad.png'}"])
  assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
  errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and "bad.png" in errors[0], r.stderr[-2000:]
  assert not (tmp_path / "x").exists()
  r = subprocess.run([
      sys.executable, "tools/train_encoder.py", "--config=configs/encoder_avatars.py:smoke",
      f"--workdir={runs['enc']}", f"--gan_workdir={runs['gan']}", f"--classifier_workdir={runs['clf']}"
  ], cwd=testing.REPO, capture_output=True, text=True, timeout=600)
  assert r.returncode == 0 and json.loads(r.stdout)["steps"] == 6, r.stderr[-2000:]  # finished: printed, kept


def test_a_missing_encoder_is_one_user_error(tmp_path):
  with pytest.raises(UserError, match="no encoder checkpoint"):
    load_encoder(str(tmp_path))

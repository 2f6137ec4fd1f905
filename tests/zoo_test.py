"""The model zoo (vid_jax/zoo.py, tools/export_zoo.py): tiny models exported, then loaded through the same
loaders as workdirs, against their workdirs; cards and hashes; one-line errors; the shipped zoo/ itself."""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import classifier_train
from vid_jax import inference
from vid_jax import testing
from vid_jax import zoo
from vid_jax.data import avatars
from vid_jax.encoder import load_encoder
from vid_jax.errors import UserError
from vid_jax.identity import nickname as nickname_lib
from vid_jax.identity import nickname_data
from vid_jax.identity import nickname_train
from vid_jax.models import classifier as classifier_lib
from vid_jax.models import discriminator

LOADERS = {
    "gan": inference.load_models,
    "classifier": classifier_lib.load_classifier,
    "nickname": nickname_lib.load_nickname_model,
    "encoder": load_encoder
}
PAYLOADS = {
    "gan": inference.export_payload,
    "classifier": classifier_lib.export_payload,
    "nickname": nickname_lib.export_payload
}
SLACK = 1e-5  # jit-vs-jit rounding on top of the card's measured error


def _run(args, timeout=600):
  return subprocess.run([sys.executable, *args], cwd=testing.REPO, capture_output=True, text=True,
                        timeout=timeout)


def _export(kind, workdir, out_dir, name, **kw):
  return zoo.export(PAYLOADS[kind](workdir), out_dir=str(out_dir), name=name, config_ref="configs/x.py:smoke",
                    retrain=f"python retrain.py --workdir={workdir}", metrics={"score": 0.5},
                    wall_time="1 min", machine="test CPU, 2 cores", git_commit="0" * 40, git_dirty=False,
                    **kw)


@pytest.fixture(scope="module")
def zoo_root(tmp_path_factory):
  return tmp_path_factory.mktemp("zoo")


@pytest.fixture(scope="module")
def gan(tmp_path_factory, zoo_root):
  workdir = testing.make_tiny_workdir(tmp_path_factory.mktemp("gan"), conditional=True)
  card = _export("gan", workdir, zoo_root, "avatar_gan")
  return workdir, os.path.join(zoo_root, "avatar_gan"), card


@pytest.fixture(scope="module")
def clf(tmp_path_factory, zoo_root):
  workdir = str(tmp_path_factory.mktemp("clf"))
  classifier_train.train_and_evaluate(testing.load_config_file("classifier_avatars", "smoke"), workdir)
  card = _export("classifier", workdir, zoo_root, "classifier")
  return workdir, os.path.join(zoo_root, "classifier"), card


@pytest.fixture(scope="module")
def nick(tmp_path_factory, zoo_root):
  workdir = str(tmp_path_factory.mktemp("nick"))
  config = testing.load_config_file("nickname", "smoke")
  config.train.update(dict(num_steps=20, steps_per_dispatch=10, log_every=10, checkpoint_every=10))
  config.optim.warmup_steps = 5
  nickname_train.train_nickname(config, workdir)
  card = _export("nickname", workdir, zoo_root, "nickname")
  return workdir, os.path.join(zoo_root, "nickname"), card


def _max_diff(a, b):
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def test_gan_entry_generates_what_its_workdir_does(gan, zoo_root, monkeypatch):
  workdir, entry, card = gan
  monkeypatch.setattr(zoo, "ZOO_DIR", str(zoo_root))
  a = inference.load_models(workdir)
  for source in (entry, "zoo:avatar_gan"):
    b = inference.load_models(source)
    assert b.step == a.step == card["step"]
    assert b.attribute_names == a.attribute_names and b.attribute_names
    np.testing.assert_array_equal(b.sampling_marginals, a.sampling_marginals)
    # The standing statistics are stored float32: exactly what load_models computed.
    for x, y in zip(jax.tree.leaves(a.g_variables["batch_stats"]),
                    jax.tree.leaves(b.g_variables["batch_stats"])):
      np.testing.assert_array_equal(x, y)
  err = card["storage"]["fp16_max_abs_error"]
  assert 0 < err["images"] <= card["storage"]["tolerance"]["images"]
  # The exporter's fixed inputs: the card's figure; fresh ones: within its tolerance.
  k_z, k_y = jax.random.split(jax.random.PRNGKey(1))
  z = jax.random.normal(k_z, (inference.PROBE_SAMPLES, a.z_dim))
  y = a.sample_attributes(k_y, inference.PROBE_SAMPLES)
  ia, ib = jax.jit(a.generate)(z, y), jax.jit(b.generate)(z, y)
  assert _max_diff(ia, ib) <= err["images"] + SLACK
  assert _max_diff(jax.jit(a.discriminate)(ia, y),
                   jax.jit(b.discriminate)(ia, y)) <= (err["discriminator_logits"] + SLACK)
  z2 = jax.random.normal(jax.random.PRNGKey(7), (16, a.z_dim))
  y2 = inference.request_attributes(a, jax.random.PRNGKey(8), 16, ["Smiling"], [])
  assert _max_diff(a.generate(z2, y2), b.generate(z2, y2)) <= card["storage"]["tolerance"]["images"]


def test_gan_entry_with_zero_tolerance_is_float32_and_exact(gan, tmp_path):
  workdir, _, _ = gan
  card = _export("gan", workdir, tmp_path, "exact", tolerance={"images": 0.0, "discriminator_logits": 0.0})
  assert card["storage"]["dtype"].startswith("float32")
  assert card["storage"]["fp16_max_abs_error"] == {"images": 0.0, "discriminator_logits": 0.0}
  assert card["storage"]["float32_families"]  # every layer went back to float32
  assert {a["dtype"] for a in card["files"][zoo.WEIGHTS]["arrays"].values()} == {"float32"}
  a, b = inference.load_models(workdir), inference.load_models(str(tmp_path / "exact"))
  z = jax.random.normal(jax.random.PRNGKey(3), (8, a.z_dim))
  y = a.sample_attributes(jax.random.PRNGKey(4), 8)
  np.testing.assert_allclose(a.generate(z, y), b.generate(z, y), atol=1e-6)


def test_card_lists_every_file_with_its_hash_and_arrays(gan):
  _, entry, card = gan
  for field in ("name", "kind", "config", "git_commit", "step", "wall_time", "machine", "metrics", "retrain",
                "storage", "files"):
    assert field in card, field
  assert card["config"] == {"file": "configs/x.py", "arg": "smoke"}
  assert set(card["files"]) == {"config.json", "data_stats.json", zoo.WEIGHTS}
  on_disk = json.loads((open(os.path.join(entry, zoo.CARD_JSON), encoding="utf-8").read()))
  assert on_disk == card
  md = open(os.path.join(entry, zoo.CARD_MD), encoding="utf-8").read()
  assert "avatar_gan" in md and card["retrain"] in md and "score" in md
  for name, spec in card["files"].items():
    data = open(os.path.join(entry, name), "rb").read()
    assert len(data) == spec["bytes"] and hashlib.sha256(data).hexdigest() == spec["sha256"], name
  arrays = card["files"][zoo.WEIGHTS]["arrays"]
  with np.load(os.path.join(entry, zoo.WEIGHTS)) as z:
    assert sorted(z.files) == sorted(arrays)
    for k in z.files:
      assert [list(z[k].shape), str(z[k].dtype)] == [arrays[k]["shape"], arrays[k]["dtype"]], k
  stats = [k for k in arrays if "batch_stats" in k.split("/")]
  assert stats and all(arrays[k]["dtype"] == "float32" for k in stats)
  assert any(k.startswith("generator/batch_stats/") for k in stats)
  assert any(k.startswith("discriminator/params/") for k in arrays)
  assert all(arrays[k]["dtype"] == "float16" for k in arrays if k not in stats)  # a tiny model loses nothing


def test_classifier_entry_matches_its_workdir(clf, zoo_root, monkeypatch):
  workdir, entry, card = clf
  monkeypatch.setattr(zoo, "ZOO_DIR", str(zoo_root))
  a = classifier_lib.load_classifier(workdir)
  b = classifier_lib.load_classifier("zoo:classifier")
  assert (b.attribute_names, b.resolution, b.feature_scale) == (a.attribute_names, a.resolution,
                                                                a.feature_scale)
  assert set(card["files"]) == {"meta.json", "classifier.json", zoo.WEIGHTS}
  err = card["storage"]["fp16_max_abs_error"]
  images, _ = avatars.render_batch(range(classifier_lib.PROBE_IMAGES), seed=classifier_lib.PROBE_SEED,
                                   size=a.resolution)
  la, fa = a.logits_and_features(images)
  lb, fb = b.logits_and_features(images)
  assert _max_diff(la, lb) <= err["logits"] + SLACK and _max_diff(fa, fb) <= err["features"] + SLACK
  noise = jax.random.uniform(jax.random.PRNGKey(0), (8, 48, 48, 3), minval=-1.0, maxval=1.0)  # resized inside
  assert _max_diff(a.logits(noise), b.logits(noise)) <= card["storage"]["tolerance"]["logits"]


def test_nickname_entry_matches_its_workdir(nick, zoo_root, monkeypatch):
  workdir, entry, card = nick
  monkeypatch.setattr(zoo, "ZOO_DIR", str(zoo_root))
  a = nickname_lib.load_nickname_model(workdir)
  b = nickname_lib.load_nickname_model("zoo:nickname")
  assert b.step == a.step == card["step"] == 20
  assert (b.vocab, b.config, b.known_names, b.training_names) == (a.vocab, a.config, a.known_names,
                                                                  a.training_names)
  assert b.module == a.module
  tokens = jnp.asarray(
      nickname_data.encode_names(["anna", "小明"], [0, 1], vocab=a.vocab, max_chars=a.max_chars))
  la = a.module.apply({"params": a.params}, tokens)
  lb = b.module.apply({"params": b.params}, tokens)
  assert _max_diff(la, lb) <= card["storage"]["tolerance"]["logits"]


def test_flatten_restore_round_trip_keys_with_slashes():
  # SpectralNorm keeps `Conv4_0/kernel/u` as one key: the structure comes from the abstract tree.
  d = discriminator.Discriminator(resolution=32, width=8, spectral_norm=True)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 32, 32, 3))
  variables = d.init(jax.random.PRNGKey(1), x, train=False)
  flat = {k: np.asarray(v) for k, v in zoo.flatten(variables, prefix="discriminator/").items()}
  assert any(k.endswith("Conv4_0/kernel/u") for k in flat)
  abstract = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(1), x, train=False))
  restored = zoo.restore(flat, abstract, prefix="discriminator/", where="test")
  assert jax.tree.structure(restored) == jax.tree.structure(variables)
  np.testing.assert_array_equal(d.apply(restored, x, train=False), d.apply(variables, x, train=False))
  with pytest.raises(UserError) as e:  # an array the model does not have
    zoo.restore(dict(flat, **{"discriminator/params/extra": np.zeros(2)}), abstract, prefix="discriminator/",
                where="test")
  assert "do not fit the model" in _one_line(e)


def _one_line(e: UserError) -> str:
  msg = str(e.value)
  assert "\n" not in msg
  return msg


def test_corrupt_missing_and_wrong_entries_fail_in_one_line(gan, tmp_path, monkeypatch):
  _, entry, _ = gan
  bad = tmp_path / "bad"
  shutil.copytree(entry, bad)
  with open(bad / zoo.WEIGHTS, "r+b") as f:  # one byte flipped in the middle
    f.seek(os.path.getsize(bad / zoo.WEIGHTS) // 2)
    byte = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([byte[0] ^ 0xFF]))
  with pytest.raises(UserError) as e:
    inference.load_models(str(bad))
  msg = _one_line(e)
  assert "weights.npz does not match its card" in msg and "git checkout zoo/" in msg and "make models" in msg
  (bad / zoo.WEIGHTS).unlink()
  with pytest.raises(UserError) as e:
    inference.load_models(str(bad))
  assert "weights.npz is missing" in _one_line(e)
  (bad / zoo.CARD_JSON).write_text("{not json")
  with pytest.raises(UserError) as e:
    inference.load_models(str(bad))
  assert "not a readable zoo card" in _one_line(e)
  with pytest.raises(UserError) as e:  # an entry of another kind
    classifier_lib.load_classifier(entry)
  assert "holds a gan model, not a classifier one" in _one_line(e)
  with pytest.raises(UserError) as e:  # a step the entry does not hold
    inference.load_models(entry, step=999)
  assert "holds step 2 only" in _one_line(e)
  monkeypatch.setattr(zoo, "ZOO_DIR", str(tmp_path))
  with pytest.raises(UserError) as e:  # no such entry in the zoo
    nickname_lib.load_nickname_model("zoo:nickname")
  assert "no zoo entry" in _one_line(e) and "make models" in str(e.value)
  assert "--nickname_workdir" in str(e.value)
  monkeypatch.setattr(zoo, "ZOO_DIR", str(tmp_path / "absent"))
  with pytest.raises(UserError) as e:  # before the zoo is shipped
    inference.load_models("zoo:avatar_gan")
  msg = _one_line(e)
  assert "no model zoo" in msg and "make models" in msg and "--workdir" in msg


def test_generate_and_export_tools(gan, clf, tmp_path):
  workdir, entry, _ = gan
  # tools/generate.py on the entry draws the workdir's images (within the card's half uint8 level).
  outs = {}
  for name, source in (("workdir", workdir), ("entry", entry)):
    proc = _run([
        "tools/generate.py", f"--workdir={source}", "--attrs=Smiling", "--num=6", "--seed=3",
        f"--out={tmp_path / name}.png", f"--npz={tmp_path / name}.npz"
    ])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / f"{name}.png").exists()
    with np.load(tmp_path / f"{name}.npz") as z:
      outs[name] = z["images"].astype(int)
  assert np.abs(outs["workdir"] - outs["entry"]).max() <= 1
  # A corrupt entry through the tool: one error line.
  bad = tmp_path / "bad"
  shutil.copytree(entry, bad)
  (bad / "config.json").write_text("{}")
  proc = _run(["tools/generate.py", f"--workdir={bad}", f"--out={tmp_path}/x.png"])
  lines = proc.stderr.strip().splitlines()
  assert proc.returncode == 2 and lines[-1].startswith("error:") and "config.json does not match" in lines[-1]
  assert "Traceback" not in proc.stderr
  # tools/export_zoo.py: the entry and one JSON line.
  metrics = tmp_path / "m.json"
  metrics.write_text(json.dumps({"step": 4, "metrics": {"acc": 0.9}}))
  proc = _run([
      "tools/export_zoo.py", "--kind=classifier", f"--workdir={clf[0]}", "--name=clf",
      f"--out_dir={tmp_path / 'z'}", f"--metrics={metrics}", "--wall_time=2 min",
      "--retrain=python tools/train_classifier.py ...", "--config_ref=configs/classifier_avatars.py:smoke"
  ])
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["load"] == "zoo:clf" and set(out["files"]) == {"meta.json", "classifier.json", zoo.WEIGHTS}
  assert out["MB"] > 0 and set(out["fp16_max_abs_error"]) == {"logits", "features"}
  card = json.loads((tmp_path / "z" / "clf" / zoo.CARD_JSON).read_text())
  assert card["metrics"] == {"acc": 0.9} and card["evaluation"] == {"step": 4}
  assert card["machine"].endswith("cores") and card["git_commit"]
  classifier_lib.load_classifier(str(tmp_path / "z" / "clf"))


def test_every_shipped_zoo_file_loads_and_matches_its_card():
  """<repo>/zoo as shipped: every file's bytes and sha256, every array's shape and dtype, and each entry
  loaded through its loader. The one test that reads the shipped zoo (`make models` writes it)."""
  root = os.path.join(testing.REPO, "zoo")
  if not os.path.isdir(root):
    pytest.skip(f"no model zoo shipped yet ({root} is absent; `make models` trains and exports it)")
  cards = sorted(glob.glob(os.path.join(root, "*", zoo.CARD_JSON)))
  assert cards, f"{root} holds no entry (*/card.json)"
  for card_path in cards:
    entry = os.path.dirname(card_path)
    with open(card_path, encoding="utf-8") as f:
      card = json.load(f)
    assert card["format"] == zoo.FORMAT and card["kind"] in zoo.KINDS, entry
    assert card["name"] == os.path.basename(entry)
    assert os.path.isfile(os.path.join(entry, zoo.CARD_MD)), entry
    for name, spec in card["files"].items():
      data = open(os.path.join(entry, name), "rb").read()
      assert len(data) == spec["bytes"], f"{entry}/{name}"
      assert hashlib.sha256(data).hexdigest() == spec["sha256"], f"{entry}/{name}"
    arrays = card["files"][zoo.WEIGHTS]["arrays"]
    with np.load(os.path.join(entry, zoo.WEIGHTS)) as z:
      assert sorted(z.files) == sorted(arrays), entry
      for k in z.files:
        assert list(z[k].shape) == arrays[k]["shape"] and str(
            z[k].dtype) == arrays[k]["dtype"], f"{entry}: {k}"
        assert np.all(np.isfinite(z[k])), f"{entry}: {k}"
    loaded = LOADERS[card["kind"]](f"zoo:{card['name']}")
    if card["kind"] == "gan":
      assert loaded.step == card["step"]
      z = jax.random.normal(jax.random.PRNGKey(0), (4, loaded.z_dim))
      images = np.asarray(loaded.generate(z, loaded.sample_attributes(jax.random.PRNGKey(1), 4)))
      assert images.shape == (4, loaded.resolution, loaded.resolution, 3)
      assert np.all(np.isfinite(images)) and np.all(np.abs(images) <= 1.0)
    if card["kind"] == "encoder":  # its GAN and classifier are zoo entries too: the entry loads anywhere
      assert loaded.step == card["step"] and loaded.meta["gan"].startswith(zoo.PREFIX)
      mean, log_var = loaded.encode(avatars.render_batch(range(4), seed=1, size=loaded.frozen.resolution)[0])
      assert mean.shape == (4, loaded.frozen.z_dim) and np.all(np.isfinite(mean)) and np.all(
          np.isfinite(log_var))
  assert sum(
      os.path.getsize(f)
      for f in glob.glob(os.path.join(root, "**"), recursive=True)
      if os.path.isfile(f)) <= 60e6, "zoo/ is over 60 MB"

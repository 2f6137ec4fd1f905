"""The identity designer end to end on tiny models: tools/design.py, the schema, determinism, bad input."""
import json
import os
import subprocess
import sys

import jsonschema
import numpy as np
import pytest
from PIL import Image

from vid_jax import testing
from vid_jax.encoder import train as encoder_train
from vid_jax.identity import designer
from vid_jax.identity import nickname as nickname_lib

SCHEMA_PATH = os.path.join(testing.REPO, "vid_jax", "identity", "identity.schema.json")


@pytest.fixture(scope="module")
def schema():
  with open(SCHEMA_PATH, encoding="utf-8") as f:
    s = json.load(f)
  jsonschema.Draft202012Validator.check_schema(s)
  return s


def _run(args, timeout=600):
  return subprocess.run([sys.executable, *args], cwd=testing.REPO, capture_output=True, text=True,
                        timeout=timeout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """A tiny conditional GAN, a tiny classifier and a tiny nickname model."""
  root = tmp_path_factory.mktemp("design")
  gan = testing.make_tiny_workdir(root / "gan", conditional=True)
  plain = testing.make_tiny_workdir(root / "plain")
  clf = _run([
      "tools/train_classifier.py", "--config=configs/classifier_avatars.py:smoke", f"--workdir={root / 'clf'}"
  ])
  assert clf.returncode == 0, clf.stderr[-2000:]
  nick = _run(["tools/train_nickname.py", "--config=configs/nickname.py:smoke", f"--workdir={root / 'nick'}"])
  assert nick.returncode == 0, nick.stderr[-2000:]
  return {"gan": gan, "plain": plain, "clf": str(root / "clf"), "nick": str(root / "nick"), "root": root}


def _design(runs, out, *extra, classifier=True):
  args = [
      "tools/design.py", f"--workdir={runs['gan']}", f"--nickname_workdir={runs['nick']}",
      f"--classifier_workdir={runs['clf'] if classifier else ''}", f"--out={out}", "--refine_budget=64",
      "--reference_images=256", *extra
  ]
  return _run(args)


def _without_timings(record):
  return {k: v for k, v in record.items() if k != "timings_ms"}


def test_design_writes_cards_valid_and_deterministic(runs, schema, tmp_path):
  flags = [
      "--locale=en_US,zh_CN,ja_JP", "--keywords=猫,photo", "--attrs=Smiling,Eyeglasses", "--not=Wearing_Hat",
      "--style=cartoon", "--num=6", "--seed=7"
  ]
  a = _design(runs, tmp_path / "a", *flags)
  assert a.returncode == 0, a.stderr[-3000:]
  b = _design(runs, tmp_path / "b", *flags)
  assert b.returncode == 0, b.stderr[-3000:]
  validator = jsonschema.Draft202012Validator(schema)
  handles = set()
  for i in range(6):
    da, db = tmp_path / "a" / f"{i:03d}", tmp_path / "b" / f"{i:03d}"
    ra = json.loads((da / "identity.json").read_text(encoding="utf-8"))
    rb = json.loads((db / "identity.json").read_text(encoding="utf-8"))
    validator.validate(ra)
    assert _without_timings(ra) == _without_timings(rb)  # same flags -> same identity
    for name in ("avatar.png", "avatar_256.png", "cover.png"):
      assert (da / name).read_bytes() == (db / name).read_bytes(), name
    assert Image.open(da / "avatar_256.png").size == (256, 256)
    w, h = Image.open(da / "cover.png").size
    assert w == 3 * h and h >= 192
    assert ra["locale"] == ["en_US", "zh_CN", "ja_JP"][i % 3]
    assert ra["avatar"]["requested"]["attrs"] == ["Smiling", "Eyeglasses"]
    assert ra["avatar"]["predicted"] is not None and ra["avatar"]["refined"]
    assert len(ra["bio"]["text"]) <= 160
    handles.add(ra["nickname"]["handle"])
  assert len(handles) == 6  # no duplicates within one call
  index = (tmp_path / "a" / "index.html").read_text(encoding="utf-8")
  assert index.count('class="card"') == 6 and "data:image/png;base64," in index
  assert "http://" not in index and "https://" not in index  # opens from disk, nothing fetched
  everything = json.loads((tmp_path / "a" / "identities.json").read_text(encoding="utf-8"))
  assert len(everything["identities"]) == 6
  for record in everything["identities"]:
    validator.validate(record)


def test_taken_handles_are_never_proposed_and_seeds_differ(runs, tmp_path):
  first = _design(runs, tmp_path / "first", "--num=8", "--seed=1", "--locale=en_US", "--cover=tiles")
  assert first.returncode == 0, first.stderr[-3000:]
  handles = [
      json.loads((tmp_path / "first" / f"{i:03d}" / "identity.json").read_text())["nickname"]["handle"]
      for i in range(8)
  ]
  (tmp_path / "taken.txt").write_text("\n".join(handles) + "\n", encoding="utf-8")
  again = _design(runs, tmp_path / "again", "--num=8", "--seed=1", "--locale=en_US",
                  f"--taken={tmp_path / 'taken.txt'}")
  assert again.returncode == 0, again.stderr[-3000:]
  new = [
      json.loads((tmp_path / "again" / f"{i:03d}" / "identity.json").read_text())["nickname"]["handle"]
      for i in range(8)
  ]
  assert not set(new) & set(handles)


def test_without_classifier_uses_pixel_space_and_no_refinement(runs, schema, tmp_path):
  proc = _design(runs, tmp_path / "plain", "--num=2", classifier=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  record = json.loads((tmp_path / "plain" / "000" / "identity.json").read_text(encoding="utf-8"))
  jsonschema.validate(record, schema)
  assert record["avatar"]["predicted"] is None and not record["avatar"]["refined"]
  assert record["avatar"]["originality"]["space"] == "pixels"


@pytest.mark.parametrize("extra, needle", [
    (["--attrs=Smiling", "--not=Smiling"], "both name"),
    (["--attrs=Not_An_Attribute"], "not known to the avatar generator"),
    (["--locale=fr_FR"], "--locale='fr_FR' is unknown"),
    (["--keywords=" + "x" * 40], "characters"),
    (["--keywords=a,,b"], "empty word"),
    (["--style=oil"], "--style='oil' is unknown"),
    (["--taken=/nonexistent/handles.txt"], "--taken=/nonexistent/handles.txt cannot be read"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(runs, tmp_path, extra, needle):
  out = tmp_path / "out"
  proc = _design(runs, out, *extra)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert lines[-1].startswith("error: ") and needle in lines[-1], proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  assert not out.exists()


def test_bad_models_and_out(runs, tmp_path):
  cases = [
      ([
          "tools/design.py", f"--workdir={runs['plain']}", f"--nickname_workdir={runs['nick']}",
          "--classifier_workdir=", f"--out={tmp_path / 'o1'}"
      ], "unconditional run"),
      ([
          "tools/design.py", f"--workdir={runs['gan']}", f"--nickname_workdir={runs['nick']}",
          f"--classifier_workdir={tmp_path / 'no_clf'}", f"--out={tmp_path / 'o2'}"
      ], "no attribute classifier"),
      ([
          "tools/design.py", f"--workdir={runs['gan']}", f"--nickname_workdir={tmp_path / 'no_nick'}",
          "--classifier_workdir=", f"--out={tmp_path / 'o3'}"
      ], "train_nickname.py"),
  ]
  for args, needle in cases:
    proc = _run(args)
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
  blocker = tmp_path / "file"
  blocker.write_text("x")
  proc = _design(runs, blocker / "sub")
  assert proc.returncode == 2 and "cannot be written" in proc.stderr, proc.stderr[-2000:]
  busy = tmp_path / "busy"
  busy.mkdir()
  (busy / "notes.txt").write_text("mine")
  proc = _design(runs, busy)
  assert proc.returncode == 2 and "non-empty folder" in proc.stderr
  assert (busy / "notes.txt").read_text() == "mine"


def test_to_uint8():
  np.testing.assert_array_equal(designer.to_uint8(np.asarray([-1.0, 0.0, 1.0])), [0, 128, 255])


def test_different_seeds_give_different_handles(runs):
  """The designer's nickname stream for seeds 0..100: consecutive seeds differ in >= 99 of 100 pairs."""
  model = nickname_lib.load_nickname_model(runs["nick"])
  handles = []
  for seed in range(101):
    (nick,), _ = nickname_lib.design_nicknames(model, key=designer.part_keys(seed)["nickname"],
                                               locales=["en_US"], keywords=[[]])
    handles.append(nick["handle"])
  differ = sum(a != b for a, b in zip(handles, handles[1:]))
  assert differ >= 99, handles


def test_from_image_designs_around_the_inverted_photo_with_edits(runs, schema, tmp_path):
  enc = tmp_path / "enc"  # in-process (tools/train_encoder.py's own test: tests/encoder_test.py)
  config = testing.load_config_file("encoder_avatars", "smoke")
  config.eval.limit_steps = 0
  encoder_train.train_and_evaluate(config, str(enc), gan_workdir=runs["gan"], classifier_workdir=runs["clf"])
  photo = tmp_path / "me.jpg"
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 40, 3), dtype=np.uint8)).save(photo)
  out = tmp_path / "out"
  proc = _design(runs, out, f"--from_image={photo}", f"--encoder_workdir={enc}", "--attrs=Eyeglasses",
                 "--not=Smiling", "--num=3", "--locale=en_US,ja_JP")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "note: me.jpg: 40x50 centre-cropped to 40x40" in proc.stderr
  validator = jsonschema.Draft202012Validator(schema)
  records = [json.loads((out / f"{i:03d}" / "identity.json").read_text(encoding="utf-8")) for i in range(3)]
  for r in records:
    validator.validate(r)
    assert r["request"]["from_image"] == str(photo) and r["models"]["encoder"]["path"] == str(enc)
    assert r["avatar"]["z"] == records[0]["avatar"]["z"] and r["avatar"]["originality"] is None
  avatars = [(out / f"{i:03d}" / "avatar.png").read_bytes() for i in range(3)]
  assert avatars[0] == avatars[1] == avatars[2]  # one person's avatar; nicknames and bios differ
  assert len({r["nickname"]["handle"] for r in records}) == 3
  proc = _design(runs, tmp_path / "bad", f"--from_image={tmp_path / 'none.png'}", f"--encoder_workdir={enc}")
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "no such file" in proc.stderr

"""Nickname model: shapes, a short training run, sampling, steering, rejection, resume, errors."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.errors import UserError
from vid_jax.identity import handles
from vid_jax.identity import nickname as nick_lib
from vid_jax.identity import nickname_data as data_lib
from vid_jax.identity import nickname_train as train_lib
from vid_jax.identity.locales import LOCALES
from vid_jax.identity.nickname_model import param_count, token_nll
from vid_jax.testing import REPO, load_config_file

METRIC_KEYS = ("heldout_nats_per_char", "bigram_nats_per_char", "wrong_locale_nats_per_char", "novelty",
               "uniqueness", "validity", "rejection_rate", "param_count", "wall_s", "step")


def tiny_config():
  """configs/nickname.py:smoke: a small model trained for 200 steps (enough to learn each script)."""
  return load_config_file("nickname", "smoke")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("nickname"))
  metrics = train_lib.train_nickname(tiny_config(), workdir)
  return workdir, metrics, nick_lib.load_nickname_model(workdir)


def test_default_model_size():
  config = load_config_file("nickname")
  data = data_lib.load_data(max_chars=config.data.max_chars, heldout_fraction=config.data.heldout_fraction,
                            seed=config.data.seed, locale_balance=config.data.locale_balance)
  module = train_lib.make_module(config, data.vocab)
  tokens = jax.ShapeDtypeStruct((3, module.max_len - 1), jnp.int32)
  params = jax.eval_shape(lambda t: module.init(jax.random.key(0), t)["params"], tokens)
  assert 50_000 <= param_count(params) <= 250_000
  logits = jax.eval_shape(lambda p, t: module.apply({"params": p}, t), params, tokens)
  assert logits.shape == (3, module.max_len - 1, data.vocab.size) and logits.dtype == jnp.float32


def test_corpus_is_deterministic_and_in_script():
  for loc in LOCALES:
    corpus = data_lib.build_corpus(loc, max_chars=15)
    assert corpus == data_lib.build_corpus(loc, max_chars=15) and len(corpus) > 300
    assert all(handles.in_script(w, loc) and 2 <= len(w) <= 15 for w in corpus)
  vocab = data_lib.Vocab(("a", "b"))
  seq = data_lib.encode_names(["ab", "ba"], [0, 2], vocab=vocab, max_chars=4)
  assert seq.tolist()[1] == [data_lib.bos_id(2), vocab.index["b"], vocab.index["a"], data_lib.EOS, 0, 0]
  assert vocab.decode(seq[0, 1:]) == "ab"


def test_metrics_json(trained):
  workdir, metrics, _ = trained
  with open(os.path.join(workdir, "metrics.json"), encoding="utf-8") as f:
    saved = json.load(f)
  for key in METRIC_KEYS:
    assert key in saved and np.isfinite(saved[key]), key
  assert set(saved["per_locale"]) == set(LOCALES)
  assert 0 <= saved["novelty"] <= 1 and 0 <= saved["uniqueness"] <= 1 and 0 <= saved["validity"] <= 1
  assert saved["heldout_nats_per_char"] == pytest.approx(metrics["heldout_nats_per_char"])


def test_locale_conditioning_matters(trained):
  _, metrics, model = trained
  # The wrong locale token predicts the wrong script: far worse than the right one.
  assert metrics["wrong_locale_nats_per_char"] > metrics["heldout_nats_per_char"] + 0.5
  n = 32  # the designer's smallest batch: no extra compilation
  share = np.zeros((len(LOCALES), len(LOCALES)))  # [token's locale, script's locale]
  for j in range(len(LOCALES)):
    out = jax.device_get(
        nick_lib.sample(model.params, jax.random.key(j), jnp.full((n,), j, jnp.int32),
                        jnp.zeros((n, model.max_chars), jnp.int32), jnp.zeros((n, model.max_chars), bool),
                        module=model.module))
    first = [model.vocab.decode(row[:1]) for row in out["tokens"]]
    share[j] = [np.mean([bool(c) and handles.in_script(c, loc) for c in first]) for loc in LOCALES]
  # Names start in their locale's script (the tiny model mostly; the default one 98%+).
  assert np.all(np.diag(share) > 0.6), share
  assert np.all(share[~np.eye(len(LOCALES), dtype=bool)] < 0.3), share


def test_sample_is_jitted_batched_and_deterministic(trained):
  _, _, model = trained
  n, l = 32, model.max_chars
  args = (jnp.arange(n, dtype=jnp.int32) % 3, jnp.zeros((n, l), jnp.int32), jnp.zeros((n, l), bool))
  a = nick_lib.sample(model.params, jax.random.key(3), *args, module=model.module)
  traces = nick_lib.sample._cache_size()  # pylint: disable=protected-access
  b = nick_lib.sample(model.params, jax.random.key(3), *args, module=model.module)
  c = nick_lib.sample(model.params, jax.random.key(4), *args, module=model.module)
  assert nick_lib.sample._cache_size() == traces  # pylint: disable=protected-access
  assert a["tokens"].shape == (n, l + 1) and a["log_prob"].shape == (n,)
  np.testing.assert_array_equal(a["tokens"], b["tokens"])
  assert not np.array_equal(a["tokens"], c["tokens"])
  assert np.all(np.asarray(a["log_prob"]) <= 0)


def test_forced_infix_and_log_prob(trained):
  _, _, model = trained
  n, l = 32, model.max_chars
  forced = np.zeros((n, l), np.int32)
  mask = np.zeros((n, l), bool)
  forced[:, 1:3] = [model.vocab.index["c"], model.vocab.index["a"]]
  mask[:, 1:3] = True
  out = jax.device_get(
      nick_lib.sample(model.params, jax.random.key(0), jnp.zeros((n,), jnp.int32), jnp.asarray(forced),
                      jnp.asarray(mask), module=model.module))
  for row, length in zip(out["tokens"], out["length"]):
    assert model.vocab.decode(row)[1:3] == "ca" and length >= 4  # one free character after the keyword
  # log_prob is the model's log-probability of the drawn string (characters and EOS).
  seq = np.zeros((n, model.module.max_len), np.int32)
  seq[:, 0] = data_lib.bos_id(0)
  seq[:, 1:] = out["tokens"]
  nll, m = jax.device_get(
      jax.jit(token_nll, static_argnames="module")(model.params, jnp.asarray(seq), module=model.module))
  ended = np.asarray(out["terminated"])
  np.testing.assert_allclose(-(nll * m).sum(1)[ended], np.asarray(out["log_prob"])[ended], rtol=1e-4)


def _design(model, **kw):
  kw.setdefault("key", jax.random.key(0))
  return nick_lib.design_nicknames(model, **kw)


def test_design_nicknames_deterministic_valid_and_counted(trained):
  _, _, model = trained
  locales = ["en_US", "zh_CN", "ja_JP"] * 6
  names, stats = _design(model, locales=locales, keywords=[[]] * len(locales))
  again, _ = _design(model, locales=locales, keywords=[[]] * len(locales))
  assert names == again
  assert len(names) == len(locales) and stats["accepted"] == len(locales)
  assert stats["proposed"] == stats["accepted"] + sum(stats["rejected"].values())
  assert stats["rejection_rate"] == pytest.approx(1 - stats["accepted"] / stats["proposed"])
  handles_ = [n["handle"] for n in names]
  assert len(set(handles_)) == len(handles_)
  for loc, n in zip(locales, names):
    assert handles.HANDLE_RE.match(n["handle"]), n
    text = n["display"].lower() if loc == "en_US" else n["display"]
    assert handles.in_script(text, loc) and text not in model.known_names[loc], n
    assert n["log_prob"] < 0


def test_taken_handles_are_not_proposed(trained):
  _, _, model = trained
  locales = ["en_US", "zh_CN", "ja_JP"] * 4
  first, _ = _design(model, locales=locales, keywords=[[]] * len(locales))
  taken = frozenset("@" + n["handle"].upper() for n in first)  # '@' and case do not matter
  second, stats = _design(model, locales=locales, keywords=[[]] * len(locales), taken=taken)
  assert stats["rejected"]["taken"] >= 1  # the same key redraws the same first candidates
  assert not {n["handle"] for n in second} & {n["handle"] for n in first}


def test_check_nickname_reasons(trained):
  _, _, model = trained
  known = sorted(model.known_names["en_US"])[0]
  check = lambda text, valid=True, taken=frozenset(), used=(): nick_lib.check_nickname(
      model, "en_US", text, nick_lib.make_nickname("en_US", text), valid=valid, taken=taken, used=set(used))
  assert check("zorblax") is None
  assert check("zorblax", valid=False) == "invalid" and check("zo") == "invalid"
  assert check("sh1tzy".replace("1", "i")) == "profanity"
  assert check(known) == "training_copy"
  assert check("zorblax", taken=frozenset({"zorblax"})) == "taken"
  assert check("zorblax", used={"zorblax"}) == "duplicate"


def test_duplicates_are_rejected_within_a_call(trained, monkeypatch):
  _, _, model = trained
  word = [model.vocab.index[c] for c in "zorblax"] + [data_lib.EOS]

  def same_name_everywhere(params, key, locale_ids, forced, forced_mask, *, module, temperature):
    del params, key, forced_mask, module, temperature
    tokens = np.zeros((len(locale_ids), forced.shape[1] + 1), np.int32)
    tokens[:, :len(word)] = word
    return {
        "tokens": tokens,
        "log_prob": np.full(len(locale_ids), -9.0, np.float32),
        "length": np.full(len(locale_ids), 7),
        "terminated": np.ones(len(locale_ids), bool)
    }

  monkeypatch.setattr(nick_lib, "sample", same_name_everywhere)
  names, stats = nick_lib.draw_nicknames(model, key=jax.random.key(0), locales=["en_US"] * 3,
                                         keywords=[[]] * 3, max_rounds=2, candidates=2)
  assert names[0]["display"] == "Zorblax" and names[1] is None and names[2] is None
  assert stats["accepted"] == 1 and stats["rejected"]["duplicate"] == 8 and stats["proposed"] == 9
  with pytest.raises(UserError, match="no acceptable nickname"):
    nick_lib.design_nicknames(model, key=jax.random.key(0), locales=["en_US"] * 2, keywords=[[]] * 2,
                              max_rounds=2)


def test_keywords_steer(trained):
  _, _, model = trained
  n = 12
  plain, _ = _design(model, locales=["en_US"] * n, keywords=[[]] * n)
  cat, _ = _design(model, locales=["en_US"] * n, keywords=[["cat"]] * n)
  assert all(x["display"].startswith("Cat") and x["handle"].startswith("cat") for x in cat)
  assert sum(x["display"].startswith("Cat") for x in plain) <= 2
  zh, _ = _design(model, locales=["zh_CN"] * n, keywords=[["猫"]] * n)  # 猫 is outside the vocabulary
  assert all("猫" in x["display"][:2] and "mao" in x["handle"] for x in zh), zh
  zh_latin, _ = _design(model, locales=["zh_CN"] * n, keywords=[["cat"]] * n)
  assert all(x["handle"].startswith("cat_") and handles.in_script(x["display"], "zh_CN") for x in zh_latin)
  ja, _ = _design(model, locales=["ja_JP"] * n, keywords=[["ねこ"]] * n)
  assert all(x["display"].startswith("ねこ") and x["handle"].startswith("neko") for x in ja), ja
  ja_kanji, _ = nick_lib.draw_nicknames(model, key=jax.random.key(0), locales=["ja_JP"] * n,
                                        keywords=[["猫"]] * n)
  for x in filter(None, ja_kanji):  # shown as given; what follows can begin a word
    assert x["display"][0] == "猫" and handles.can_start_word(x["display"][1]), x
  en_from_zh, _ = _design(model, locales=["en_US"] * 4, keywords=[["摄影"]] * 4)
  assert all(x["display"].startswith("Sheying") for x in en_from_zh)


def test_bad_keywords_and_requests(trained):
  _, _, model = trained
  with pytest.raises(UserError, match="profanity"):
    _design(model, locales=["en_US"], keywords=[["sh1t"]])
  with pytest.raises(UserError, match="too long"):
    _design(model, locales=["en_US"], keywords=[["a" * 40]])
  with pytest.raises(UserError, match="unknown"):
    _design(model, locales=["fr_FR"], keywords=[[]])
  with pytest.raises(UserError, match="keyword lists"):
    _design(model, locales=["en_US", "en_US"], keywords=[[]])


def test_resume_after_interruption_gives_the_same_params(trained, tmp_path):
  workdir, _, model = trained
  config = tiny_config()
  assert train_lib.train_nickname(config, str(tmp_path), stop_after=150) == {"step": 150}
  manager = nick_lib.checkpoint_manager(str(tmp_path), read_only=True)
  assert manager.latest_step() == 100  # the last save before the interruption
  manager.close()
  train_lib.train_nickname(config, str(tmp_path))
  resumed = nick_lib.load_nickname_model(str(tmp_path))
  assert resumed.step == model.step == config.train.num_steps
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(resumed.params), jax.device_get(model.params))
  config.model.width = 16
  config.model.heads = 1
  with pytest.raises(UserError, match="other data or with other"):
    train_lib.train_nickname(config, str(tmp_path))


def test_missing_workdir_is_a_user_error(tmp_path):
  with pytest.raises(UserError, match="train_nickname.py"):
    nick_lib.load_nickname_model(str(tmp_path / "nothing"))
  os.makedirs(tmp_path / "empty" / "checkpoints")
  with pytest.raises(UserError, match="train_nickname.py"):
    nick_lib.load_nickname_model(str(tmp_path / "empty"))


def test_tool_reports_a_bad_config_without_traceback(tmp_path):
  proc = subprocess.run([
      sys.executable,
      os.path.join(REPO, "tools", "train_nickname.py"), "--config=configs/nickname.py:smoke",
      "--config.model.heads=3", f"--workdir={tmp_path}"
  ], cwd=REPO, capture_output=True, text=True, timeout=120, env={
      **os.environ, "JAX_PLATFORMS": "cpu"
  })
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.strip().splitlines()[-1].startswith("error: config.model.heads=3")
  assert "Traceback" not in proc.stderr

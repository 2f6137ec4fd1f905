"""Tests of the bio designer (vid_jax.identity.bio, bio_lm, bio_words)."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax.errors import UserError
from vid_jax.identity import bio
from vid_jax.identity import bio_lm
from vid_jax.identity import bio_words
from vid_jax.identity.locales import LOCALES

CJK = re.compile(r"[\u3400-\u9fff]")
KANA = re.compile(r"[\u3040-\u30ff]")
KEYWORDS = {
    "en_US": [
        "cat", "photography", "coffee", "hiking", "books", "jazz", "Rust", "gardening", "anime", "travel",
        "猫", "yoga", "chess", "baking"
    ],
    "zh_CN": ["猫", "摄影", "咖啡", "徒步", "cat", "photography", "读书", "篮球", "Rust", "烘焙", "旅行", "动漫", "围棋", "吉他"],
    "ja_JP": [
        "猫", "写真", "コーヒー", "登山", "cat", "photography", "読書", "ラーメン", "ギター", "Rust", "旅行", "アニメ", "将棋", "釣り"
    ],
}
ATTRS = ("Smiling", "Eyeglasses", "Wearing_Hat", "Young", "Gray_Hair")


def _requests(locale, n, *, with_keywords=True, seed=0):
  """n random requests: 1-3 keywords (native or Latin), random attributes."""
  rng = np.random.default_rng(seed)
  kws = [
      list(rng.choice(KEYWORDS[locale], size=rng.integers(1, 4), replace=False)) if with_keywords else []
      for _ in range(n)
  ]
  attrs = [{a: bool(rng.integers(2)) for a in ATTRS if rng.random() < 0.5} for _ in range(n)]
  return dict(locales=[locale] * n, keywords=kws, attributes=attrs)


@pytest.fixture(scope="module", params=LOCALES)
def batch(request):
  """100 bios with keywords for one locale (shared by the batch checks)."""
  args = _requests(request.param, 100)
  return request.param, args, bio.design_bios(key=jax.random.key(0), **args)


# ------------------------------------------------------------------ model


def test_lm_is_normalised_and_deterministic():
  texts = ["the cat sat", "a cat ran", "the dog sat. cats and dogs"]
  lm = bio_lm.fit(texts, order=3, breaks=".")
  # P(next | context) over every known character, one unknown and the
  # boundary (a break character stands for it) sums to 1.
  chars = sorted(lm.vocab) + ["\uffff", "."]
  for ctx in ["the c", "", "zz"]:
    logp, n = bio_lm.score(lm, chars, contexts=[ctx] * len(chars))
    assert np.isclose(np.exp(logp).sum(), 1.0, atol=1e-6)
    assert np.all(n == 1)
  again = bio_lm.fit(texts, order=3, breaks=".")
  assert np.array_equal(bio_lm.per_char(lm, texts), bio_lm.per_char(again, texts))
  good, bad = bio_lm.per_char(lm, ["the cat sat", "tsa hte tac"])
  assert good > bad + 0.5


def test_locale_lm_prefers_real_words():
  for locale, real, scrambled in [("en_US", "engineer", "eeginnre"), ("zh_CN", "工程师", "师程工"),
                                  ("ja_JP", "東京都", "都京東")]:
    lm = bio.locale_lm(locale)
    good, bad = bio_lm.per_char(lm, [real, scrambled])
    assert good > bad, locale


# ---------------------------------------------------------------- grammar


def test_templates_parse_and_slots_do_not_touch():
  for locale in LOCALES:
    groups = bio_words.template_groups(locale)
    assert sum(len(g) for g in groups) * 2 == len(bio_words.templates(locale))
    for pieces in bio_words.templates(locale):
      assert len(pieces) <= bio.MAX_PIECES
      for a, b in zip(pieces, pieces[1:]):
        assert not (a[0] == b[0] == "slot" and "emoji" not in (a[1], b[1]))
  with pytest.raises(ValueError):
    bio_words.parse_template("{role}{interest}")
  assert bio_words.expand("a[b|c]d") == ("abd", "acd")


def test_word_lists_come_from_packages():
  for locale in LOCALES:
    assert len(bio_words.roles(locale)) >= 40
    assert len(bio_words.places(locale)) >= 40
    assert len(bio_words.lm_corpus(locale)) >= 1000


def test_latin_keyword_is_translated():
  out = bio.design_bios(key=jax.random.key(1), locales=["zh_CN", "ja_JP"],
                        keywords=[["cat"], ["photography"]], attributes=[{}, {}])
  assert "猫" in out[0]["text"] and out[0]["keywords_covered"] == ["cat"]
  assert "写真" in out[1]["text"] or "カメラ" in out[1]["text"]
  assert bio.keyword_forms("cat", "en_US") == ("cats", ("cat", "cats"))
  assert bio.keyword_forms("Rust", "zh_CN") == ("Rust", ("Rust",))


# ---------------------------------------------------------------- designer


def test_small_batch_is_valid_and_deterministic():
  args = dict(locales=["en_US", "zh_CN", "ja_JP", "en_US"], keywords=[["cat", "photography"], ["猫", "摄影"],
                                                                      ["coffee"], []], attributes=[{
                                                                          "Smiling": True
                                                                      }, {
                                                                          "Eyeglasses": True
                                                                      }, {
                                                                          "Wearing_Hat": True
                                                                      }, {}],
              nicknames=["Alex", "小明", None, ""])
  a = bio.design_bios(key=jax.random.key(3), **args)
  b = bio.design_bios(key=jax.random.key(3), **args)
  c = bio.design_bios(key=jax.random.key(4), **args)
  assert [o["text"] for o in a] == [o["text"] for o in b]
  assert [o["score"] for o in a] == [o["score"] for o in b]
  assert [o["text"] for o in a] != [o["text"] for o in c]
  # A request's bio does not depend on the rest of the batch.
  alone = bio.design_bios(key=jax.random.key(3), locales=args["locales"][:1], keywords=args["keywords"][:1],
                          attributes=args["attributes"][:1], nicknames=args["nicknames"][:1])
  assert alone[0]["text"] == a[0]["text"]
  for o in a:
    assert 0 < len(o["text"]) <= bio.MAX_CHARS
    assert set(o["terms"]) == set(bio.DEFAULT_WEIGHTS)
    total = sum(bio.DEFAULT_WEIGHTS[k] * v for k, v in o["terms"].items())
    assert np.isclose(o["score"], total, atol=1e-4)
  assert CJK.search(a[1]["text"]) and not KANA.search(a[1]["text"])
  assert KANA.search(a[2]["text"])
  assert re.search(r"[A-Za-z]{3}", a[0]["text"])
  assert not CJK.search(a[0]["text"])
  assert a[0]["keywords_covered"] and a[2]["keywords_covered"] == ["coffee"]


def test_batch_meets_the_bars(batch):
  locale, _, out = batch
  texts = [o["text"] for o in out]
  assert max(len(t) for t in texts) <= bio.MAX_CHARS
  script = CJK if locale == "zh_CN" else KANA if locale == "ja_JP" else None
  if script is not None:
    assert all(script.search(t) for t in texts)
  assert np.mean([bool(o["keywords_covered"]) for o in out]) >= 0.8
  assert bio.distinct_n(texts, 2) >= 0.5


def test_no_8_word_span_copied(batch):
  locale, _, out = batch
  texts = [o["text"] for o in out]
  corpus = bio_words.lm_corpus(locale)
  assert max(bio.longest_shared_span(texts, corpus)) < 8
  literals = [p[1] for t in bio_words.templates(locale) for p in t if p[0] == "lit"]
  assert max(bio.longest_shared_span(texts, literals)) < 8
  assert max(bio.longest_shared_span(texts, literals, unit="char")) < 8


def test_reinforce_raises_mean_reward_over_uniform(batch):
  _, _, out = batch
  trace = np.array([o["reward_trace"] for o in out])  # [B, iterations]
  # Step 0 samples the uniform policy; the last step the trained one.
  assert trace[:, -1].mean() > trace[:, 0].mean() + 1.0
  assert np.mean(trace[:, -1] > trace[:, 0]) > 0.9


def test_slot_reinforce_learns_a_toy_bandit():
  valid = jnp.ones((3, 5), bool).at[2, 4].set(False)
  target = jnp.array([1, 3, 0])
  refiner = bio.slot_reinforce(population=16, learning_rate=0.3)

  def objective(c):  # [N, 3]
    return jnp.sum(c == target, axis=-1).astype(jnp.float32), jnp.ones_like(c, bool)

  @jax.jit
  def run(key):

    def body(state, k):
      return refiner.step(state, k, valid, objective)

    return jax.lax.scan(body, refiner.init(valid), jax.random.split(key, 60))

  state, info = run(jax.random.key(0))
  assert np.array_equal(np.argmax(state.logits, -1), target)
  assert info["reward_mean"][-1] > 2.5 > info["reward_mean"][0] + 1.0
  assert np.array_equal(state.best_choice, target)


# ------------------------------------------------------------------ input


@pytest.mark.parametrize("change", [
    dict(locales=["fr_FR"]),
    dict(keywords=[["cat", " "]]),
    dict(keywords=[["x" * 33]]),
    dict(keywords=[[f"k{i}" for i in range(9)]]),
    dict(keywords=["cat"]),
    dict(attributes=[{
        "Smiles": True
    }]),
    dict(attributes=[{
        "Smiling": "yes"
    }]),
    dict(locales=["en_US", "en_US"]),
])
def test_bad_input_is_a_user_error(change):
  args = dict(locales=["en_US"], keywords=[["cat"]], attributes=[{}])
  args.update(change)
  with pytest.raises(UserError):
    bio.design_bios(key=jax.random.key(0), **args)


# ---------------------------------------------------------------- metrics


def test_distinct_n_and_shared_span():
  assert bio.distinct_n(["a b c", "a b d"], 2) == 3 / 4
  assert bio.distinct_n(["a b c", "a b c"], 1) == 0.5
  assert bio.distinct_n([], 2) == 0.0
  assert bio.longest_shared_span(["one two three four", "x y"], ["zero one two three", "y"]) == [3, 1]
  assert bio.longest_shared_span(["一二三"], ["一二", "三"], unit="char") == [2]
  assert bio_words.words("我喜欢猫。Cats, too! 🐱") == ["我", "喜欢", "猫", "cats", "too"]
  assert bio_words.words("ギターと写真", unit="char") == list("ギターと写真")

"""Romanisation (pinyin, kana -> romaji) and handle normalisation."""
import random

import pytest
from faker.providers.person.ja_JP import Provider as PersonJa

from vid_jax.identity import handles


def test_kana_romaji_agrees_with_fakers_romanized_names():
  pairs = [(kana, roman.lower()) for _, kana, roman in (*PersonJa.first_name_pairs, *PersonJa.last_name_pairs)
          ]
  same = [handles.kana_to_romaji(kana) == roman for kana, roman in pairs]
  # The misses are faker's own spellings (シュウヘイ 'Shohei', ミツル 'Mituru') and ヨウイチ,
  # whose う is read before a vowel (as in イノウエ -> inoue).
  assert sum(same) >= len(pairs) - 3, [p for p, ok in zip(pairs, same) if not ok]


@pytest.mark.parametrize("kana, romaji", [
    ("サトウ", "sato"),
    ("イノウエ", "inoue"),
    ("キョウスケ", "kyosuke"),
    ("マッチャ", "matcha"),
    ("きって", "kitte"),
    ("ファミリー", "famiri"),
    ("シェービング", "shebingu"),
    ("ゆいちゃん", "yuichan"),
    ("ジュン", "jun"),
    ("ティーカップ", "tikappu"),
])
def test_kana_to_romaji(kana, romaji):
  assert handles.kana_to_romaji(kana) == romaji


def test_romanise_by_locale():
  assert handles.romanise("小伟", "zh_CN") == "xiaowei"
  assert handles.romanise("绿", "zh_CN") == "lv"
  assert handles.romanise("猫ユイ", "ja_JP") == "yui"  # no kanji readings for Japanese
  assert handles.romanise("Café", "en_US") == "cafe"


@pytest.mark.parametrize("text", ["", "x", "yu", "12", "__a", "a" * 40, "a_b_", "Zoë", "猫", "_9_", "ab"])
def test_to_handle_always_matches_the_regex(text):
  h = handles.to_handle(text, salt=text)
  assert handles.HANDLE_RE.match(h), h
  assert h == handles.to_handle(text, salt=text)  # deterministic


def test_to_handle_random_inputs():
  rng = random.Random(0)
  alphabet = "abcxyz019_-. 猫小ユイゆ@!Éé"
  for _ in range(500):
    text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 25)))
    for loc in ("en_US", "zh_CN", "ja_JP"):
      assert handles.HANDLE_RE.match(handles.to_handle(handles.romanise(text, loc), salt=text))


def test_scripts():
  assert handles.in_script("xiao", "en_US") and not handles.in_script("Xiao", "en_US")
  assert handles.in_script("小伟", "zh_CN") and not handles.in_script("小ユイ", "zh_CN")
  assert handles.in_script("ゆいちゃん", "ja_JP") and handles.in_script("コーラス", "ja_JP")
  assert not handles.in_script("", "ja_JP")
  assert handles.can_start_word("ゆ") and not handles.can_start_word("ー") and not handles.can_start_word("ン")

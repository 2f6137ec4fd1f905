"""Profanity filter: better-profanity's list with leetspeak, whole-token short words, zh/ja entries."""
import pytest

from vid_jax.identity import profanity


@pytest.mark.parametrize("text", [
    "sh1t",
    "SH!T",
    "s_h_i_t",
    "s.h.i.t",
    "fuuuuck",
    "b1tch",
    "a55",
    "ass",
    "x_ass_x",
    "ph_uck",
    "bigsh1tter",
    "傻逼",
    "你妈的",
    "シネ",
    "しね",
    "クソゲー",
    "ばか",
    "バカ",
    "kuso_taro",
    "shabi123",
])
def test_caught(text):
  assert profanity.is_profane(text), text


@pytest.mark.parametrize("text", [
    "Cassandra",
    "michelle",
    "glass",
    "skill",
    "titus",
    "class",
    "sussex",
    "assassin",
    "さくら",
    "ゆいちゃん",
    "小伟",
    "xiaowei",
    "wasabi",
    "kasumi",
    "かすみ",
    "hello",
])
def test_clean(text):
  assert not profanity.is_profane(text), (text, profanity.find_profanity(text))


def test_find_names_the_word():
  assert profanity.find_profanity("5h1t") == "shit"
  assert profanity.find_profanity("fine") is None

"""Profanity filter for nicknames and handles: better-profanity's list, leetspeak, zh/ja words.

A text is profane when, after normalisation, it contains a listed word:

* Latin: NFKC, lowercase, leetspeak mapped to letters (0->o, 1->i or l, 3->e, 4/@->a, 5/$->s,
  7/+->t, 8->b, 9->g, !->i, |->l), separators (space _ . - * ') removed, runs of 3+ equal
  letters squeezed to one (shiiit -> shit). Words of 4+ letters from better-profanity's
  maintained list match as substrings; its 3-letter words (ass, tit, cum ...) match only
  as a whole token (the whole text, or a part between separators or digits), since as
  substrings they hit many names (Cassandra, Titus). A few list entries that are no insult
  in a nickname and hit common names and words (god, hell, kill, ...) are left out (_MILD).
* Chinese and Japanese: a small list of our own (_CJK, with pinyin/romaji forms for the
  handles in _LATIN_EXTRA), matched as substrings after NFKC and katakana -> hiragana.
"""
import functools
import importlib.resources
import re
import unicodedata

from vid_jax.identity.handles import to_hiragana

# better-profanity entries that are no insult in a nickname and are substrings of many
# names or words (michelle, skill, goddard, maxine, spawn): not used.
_MILD = frozenset((
    "god",
    "omg",
    "hell",
    "kill",
    "maxi",
    "pawn",
    "loin",
    "lust",
    "racy",
    "hemp",
    "teat",
    "womb",
    "ovum",
    "ugly",
    "fat",
    "pot",
    "rum",
    "pee",
    "pms",
    "hiv",
    "uzi",
    "pcp",
    "lmao",
    "wtf",
    "xx",
    "xxx",
    "len",
    "toke",
    "thug",
    "prig",
    "lech",
    "tush",
    "hebe",
    "herp",
    "hoar",
    "lube",
    "mams",
    "nad",
    "nads",
    "hump",
    "weed",
    "kwif",
    "rump",
    "teez",
    "wad",
    "nob",
    "gai",
    "gae",
    "gey",
    "jerk",
    "suck",
    "crap",
    "damn",
    "oral",
    "nude",
    "meth",
    "dink",
    "shag",
    "pube",
    "scag",
    "skag",
    "quim",
    "spac",
    "titi",
    "puto",
    "mofo",
))

# Chinese and Japanese insults and obscenities (our own short list; kana as hiragana).
_CJK = (
    # zh_CN
    "傻逼",
    "傻b",
    "煞笔",
    "沙比",
    "妈的",
    "他妈",
    "你妈",
    "操你",
    "肏",
    "草泥马",
    "尼玛",
    "日你",
    "狗日",
    "婊子",
    "贱人",
    "王八蛋",
    "混蛋",
    "滚蛋",
    "屌",
    "鸡巴",
    "屄",
    "死全家",
    "去死",
    "白痴",
    "智障",
    "脑残",
    "废物",
    "强奸",
    "卖淫",
    "色情",
    "艹",
    "二逼",
    "装逼",
    "骚货",
    "贱货",
    # ja_JP
    "くそ",
    "糞",
    "しね",
    "死ね",
    "ばか",
    "馬鹿",
    "あほ",
    "阿呆",
    "ちんこ",
    "ちんぽ",
    "まんこ",
    "うんこ",
    "きちがい",
    "気違い",
    "ぶす",
    "ころす",
    "殺す",
    "やりまん",
    "びっち",
    "ふぁっく",
    "へんたい",
    "変態",
    "えろ",
)
# Their romanised forms, as they would show in a handle (substring match).
_LATIN_EXTRA = ("shabi", "caoni", "tamade", "nimade", "jiba", "biaozi", "jianren", "wangbadan", "zhuangbi",
                "naocan", "kuso", "chinko", "chinpo", "manko", "kichigai", "yariman", "hentai")

_LEET = str.maketrans({
    "0": "o",
    "3": "e",
    "4": "a",
    "@": "a",
    "5": "s",
    "$": "s",
    "7": "t",
    "+": "t",
    "8": "b",
    "9": "g",
    "!": "i",
    "|": "l"
})
_SEPARATORS = re.compile(r"[\s_.\-*'\"]+")


@functools.lru_cache(maxsize=1)
def _word_lists() -> tuple[re.Pattern, frozenset]:
  """(a regex of the substring words, the whole-token words), normalised like the texts."""
  text = importlib.resources.files("better_profanity").joinpath("profanity_wordlist.txt")
  long_words, short_words = set(_LATIN_EXTRA), set()
  for line in text.read_text(encoding="utf-8").splitlines():
    word = line.strip().lower()
    if not word or word in _MILD:
      continue
    for form in _latin_forms(word):
      if form in _MILD or len(form) < 3:
        continue
      (long_words if len(form) >= 4 else short_words).add(form)
  pattern = re.compile("|".join(re.escape(w) for w in sorted(long_words, key=lambda w: (-len(w), w))))
  return pattern, frozenset(short_words)


def _squeeze(text: str) -> str:
  return re.sub(r"(.)\1\1+", r"\1", text)


def _latin_forms(text: str) -> set[str]:
  """The normalised Latin readings of `text` (1 is read both as i and as l)."""
  base = unicodedata.normalize("NFKC", text).lower()
  forms = set()
  for one in ("i", "l"):
    mapped = base.replace("1", one).translate(_LEET)
    mapped = _SEPARATORS.sub("", mapped)
    forms.update((mapped, _squeeze(mapped)))
  return forms


def _tokens(text: str) -> set[str]:
  """Whole tokens of `text` for the short words: parts between separators and digits, mapped."""
  parts = re.split(r"[\s_.\-*'\"0-9]+", unicodedata.normalize("NFKC", text).lower())
  return {p.translate(_LEET) for p in parts if p} | _latin_forms(text)


def find_profanity(text: str) -> str | None:
  """The first listed word found in `text` (normalised), or None when the text is clean."""
  long_words, short_words = _word_lists()
  for form in sorted(_latin_forms(text)):
    found = long_words.search(form)
    if found:
      return found.group()
  for token in _tokens(text):
    if token in short_words:
      return token
  cjk = to_hiragana(unicodedata.normalize("NFKC", text).lower())
  cjk = _SEPARATORS.sub("", cjk)
  for word in _CJK:
    if word in cjk:
      return word
  return None


def is_profane(text: str) -> bool:
  """True when `text` contains a listed word (see the module docstring for the matching rules)."""
  return find_profanity(text) is not None

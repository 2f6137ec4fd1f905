"""Scripts, romanisation (pinyin, kana -> romaji) and handles (`^[a-z][a-z0-9_]{2,15}$`).

Chinese is romanised with pypinyin (tone-less, `lv` for 绿). Japanese kana are
romanised with the table below (modified Hepburn as in faker's ja_JP romanized
names: long vowels written once, so サトウ -> sato, ヨウコ -> yoko, オオタ -> ota);
kanji have no reading without a dictionary and are left out of a Japanese handle.
"""
import re
import unicodedata
import zlib

from pypinyin import Style, lazy_pinyin

HANDLE_RE = re.compile(r"^[a-z][a-z0-9_]{2,15}$")
HANDLE_MAX = 16

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc-\u30fe\u309d\u309e]")
_LATIN = re.compile(r"[a-z]")


def is_han(ch: str) -> bool:
  return bool(_HAN.fullmatch(ch))


def is_kana(ch: str) -> bool:
  return bool(_KANA.fullmatch(ch))


def is_latin(ch: str) -> bool:
  return bool(_LATIN.fullmatch(ch))


# The characters each locale's nicknames are written in (model strings; en_US lowercase).
SCRIPT_OF_LOCALE = {"en_US": is_latin, "zh_CN": is_han, "ja_JP": is_kana}


def in_script(text: str, locale: str) -> bool:
  """True if every character of `text` is in `locale`'s nickname script (and text is non-empty)."""
  check = SCRIPT_OF_LOCALE[locale]
  return bool(text) and all(check(ch) for ch in text)


# Kana that cannot begin a word (long mark, moraic n, small tsu and the small vowels / y-kana).
_NO_WORD_START = frozenset("ーンッんっァィゥェォャュョヮぁぃぅぇぉゃゅょゎ")


def can_start_word(ch: str) -> bool:
  """False for kana that cannot begin a Japanese word (ー, ン, ッ, small kana); True otherwise."""
  return ch not in _NO_WORD_START


def to_hiragana(text: str) -> str:
  """Katakana -> hiragana (code-point shift); other characters unchanged."""
  return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in text)


def to_katakana(text: str) -> str:
  """Hiragana -> katakana (code-point shift); other characters unchanged."""
  return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


def _rows(kana: str, romaji: str) -> dict:
  return dict(zip(kana, romaji.split()))


# Hiragana (katakana are shifted onto these first) -> modified Hepburn.
_KANA_ROMAJI = {
    **_rows("あいうえお", "a i u e o"),
    **_rows("かきくけこ", "ka ki ku ke ko"),
    **_rows("さしすせそ", "sa shi su se so"),
    **_rows("たちつてと", "ta chi tsu te to"),
    **_rows("なにぬねの", "na ni nu ne no"),
    **_rows("はひふへほ", "ha hi fu he ho"),
    **_rows("まみむめも", "ma mi mu me mo"),
    **_rows("やゆよ", "ya yu yo"),
    **_rows("らりるれろ", "ra ri ru re ro"),
    **_rows("わゐゑを", "wa i e o"),
    "ん": "n",
    **_rows("がぎぐげご", "ga gi gu ge go"),
    **_rows("ざじずぜぞ", "za ji zu ze zo"),
    **_rows("だぢづでど", "da ji zu de do"),
    **_rows("ばびぶべぼ", "ba bi bu be bo"),
    **_rows("ぱぴぷぺぽ", "pa pi pu pe po"),
    "ゔ": "vu",
    **_rows("ぁぃぅぇぉゎ", "a i u e o wa"),
}
_SMALL_Y = {"ゃ": "a", "ゅ": "u", "ょ": "o"}  # kya, sha, cha, ja ...
_SMALL_V = {"ぁ": "a", "ぃ": "i", "ぅ": "u", "ぇ": "e", "ぉ": "o"}  # fa, ti, she, we ... (loanwords)
_VOWEL_KANA = set("あいうえおぁぃぅぇぉ")


def _mora(kana: str, nxt: str) -> tuple[str, int]:
  """Romaji of the mora starting at kana (with `nxt` the following kana); returns (romaji, kana used)."""
  base = _KANA_ROMAJI.get(kana, "")
  if nxt in _SMALL_Y and base.endswith("i") and len(base) > 1:
    stem = base[:-1] if base[-2] in "hj" else base[:-1] + "y"  # shi -> sh-a, ki -> ky-a
    return stem + _SMALL_Y[nxt], 2
  if nxt in _SMALL_V and kana not in _VOWEL_KANA and base:
    stem = base[:-1] or base
    stem = {"ts": "ts", "f": "f"}.get(stem, stem)
    return stem + _SMALL_V[nxt], 2
  if nxt in _SMALL_V and kana in "うい":
    return {"う": "w", "い": "y"}[kana] + _SMALL_V[nxt], 2
  return base, 1


def kana_to_romaji(text: str) -> str:
  """Kana (hiragana or katakana) -> lowercase romaji; other characters are dropped.

  Long vowels are written once (ー dropped, う after an o/u mora and お after an o mora
  dropped unless a vowel follows: イノウエ -> inoue, サトウ -> sato), っ doubles the next
  consonant (ch -> tch), ん is n.
  """
  kana = to_hiragana(unicodedata.normalize("NFKC", text))
  out, i, double = [], 0, False
  while i < len(kana):
    ch = kana[i]
    nxt = kana[i + 1] if i + 1 < len(kana) else ""
    if ch == "っ":
      double, i = True, i + 1
      continue
    if ch == "ー" or ch not in _KANA_ROMAJI:
      i += 1
      continue
    prev = out[-1] if out else ""
    if ((ch == "う" and prev[-1:] in ("o", "u")) or (ch == "お" and prev[-1:] == "o")) \
        and nxt not in _VOWEL_KANA:
      i += 1
      continue
    romaji, used = _mora(ch, nxt)
    if double and romaji and romaji[0] not in "aeiou":
      romaji = ("t" if romaji.startswith("ch") else romaji[0]) + romaji
    double = False
    out.append(romaji)
    i += used
  return "".join(out)


def romanise(text: str, locale: str) -> str:
  """The Latin (lowercase, may be empty) form of `text` as a reader of `locale` would say it.

  Han characters: pinyin for zh_CN and en_US, left out for ja_JP (no kanji readings);
  kana: romaji; Latin letters and digits: themselves, accents dropped.
  """
  parts = []
  for chunk in re.findall(
      r"[\u3040-\u30ff]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\u3040-\u30ff"
      r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", text):
    if _KANA.match(chunk[0]):
      parts.append(kana_to_romaji(chunk))
    elif _HAN.match(chunk[0]):
      if locale != "ja_JP":
        parts.append("".join(lazy_pinyin(chunk, style=Style.NORMAL)))
    else:
      ascii_ = unicodedata.normalize("NFKD", chunk).encode("ascii", "ignore").decode()
      parts.append(re.sub(r"[^a-z0-9_]+", "_", ascii_.lower()))
  return "".join(parts)


def to_handle(latin: str, *, salt: str) -> str:
  """Normalises Latin text to a handle matching HANDLE_RE.

  Keeps [a-z0-9_], squeezes underscores, starts with a letter, cuts to 16 characters;
  a result shorter than 3 is padded with digits drawn from `salt` (e.g. the display
  name; an empty one becomes user + 4 digits), so the same input gives the same handle.

  Args:
    latin: romanised text (any characters; see `romanise`).
    salt: text whose hash picks the padding digits.
  """
  h = re.sub(r"[^a-z0-9_]+", "", unicodedata.normalize("NFKD", latin).lower())
  h = re.sub(r"_+", "_", h).lstrip("_0123456789").rstrip("_")
  digits = f"{zlib.crc32(salt.encode('utf-8')) % 10000:04d}"
  if not h:
    h = "user" + digits
  elif len(h) < 3:
    h += digits[:4 - len(h)]
  h = h[:HANDLE_MAX].rstrip("_")
  assert HANDLE_RE.match(h), h
  return h

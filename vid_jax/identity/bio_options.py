"""A bio request's slot options and their tabulated score parts (numpy).

Each request gets K options per slot, drawn with its numpy generator: job
titles and places from faker's word lists (`bio_words`), the user's keywords
(translated through our interest table when the script does not fit the
locale), related words from that table, other interests, our trait words,
mottos and emoji (`bio_tables`; `POOL`: a few per slot, as are 4 of the ~12
templates and one wording of each). `tables` scores every option with the
locale's n-gram model (`locale_lm`) and tabulates what `bio_score.assemble`
reads; `render` writes the text of a choice.
"""

import functools
import re
from typing import NamedTuple

import numpy as np

from vid_jax.identity import bio_lm
from vid_jax.identity import bio_tables as T
from vid_jax.identity import bio_words as W
from vid_jax.identity.bio_score import (MAX_CHARS, MAX_KEYWORDS, MAX_PIECES, NUM_OPTIONS, Tables)
from vid_jax.identity.locales import check_locale

# Options a request draws per slot (with its key). Small pools make the bios of
# different requests differ; the interest pool grows to hold 8 keywords.
POOL = {"template": 4, "role": 8, "interest": 12, "trait": 6, "motto": 4, "place": 8, "emoji": 8}
LM_ORDER = {"en_US": 5, "zh_CN": 3, "ja_JP": 3}
_CJK_BREAKS = " 　、。，．！？：；…·｜|,.!?:;()（）「」『』"
LM_BREAKS = {"en_US": "", "zh_CN": _CJK_BREAKS, "ja_JP": _CJK_BREAKS}
_S, _K, _P, _G = len(W.SLOTS), NUM_OPTIONS, MAX_PIECES, len(T.TAGS)
# Not language, so not scored: a context reset, like the start of a text.
_UNSCORED = (W.SLOT_INDEX["emoji"], W.SLOT_INDEX["nick"])


class _Option(NamedTuple):
  text: str
  tags: tuple = ()
  concept: str = ""


def _native(word: str, locale: str) -> bool:
  """Whether a word is written in the locale's script (CJK/kana vs Latin)."""
  cjk = bool(re.search(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]", word))
  return cjk == (locale != "en_US")


def keyword_forms(keyword: str, locale: str) -> tuple:
  """(surface used in the bio, all forms that count as covering the keyword)."""
  interest = T.match_interest(keyword)
  surface = keyword
  if interest is not None:
    name = T.interest_words(interest, locale)[0]
    if not _native(keyword, locale) or (locale == "en_US" and T.normalize(keyword) in T.normalize(name)):
      surface = name
  return surface, tuple(dict.fromkeys([keyword, surface]))


def slot_options(locale, keywords, nickname, rng) -> list:
  """Options per slot (list of S lists of _Option) for one request."""
  pick = lambda xs, n: [xs[i] for i in sorted(rng.choice(len(xs), size=min(n, len(xs)), replace=False))]
  interests = [
      _Option(
          keyword_forms(k, locale)[0],
          T.tag_list(T.INTERESTS[i][1]) if i else (), i or "kw:" + T.normalize(k))
      for k in keywords
      for i in [T.match_interest(k)]
  ]
  matched = [o.concept for o in interests if o.concept in T.INTERESTS]
  related = [
      [_Option(w, T.tag_list(T.INTERESTS[i][1]), i) for w in T.interest_words(i, locale)] for i in matched
  ]
  size = max(POOL["interest"], len(keywords) + 4)
  room = len(keywords) + (size - len(keywords)) // 2
  for depth in range(4):  # round-robin over the keywords' related words
    for words in related:
      if depth < len(words) and len(interests) < room and (words[depth].text
                                                           not in [o.text for o in interests]):
        interests.append(words[depth])
  others = [i for i in T.INTERESTS if i not in matched]
  for i in pick(others, size - len(interests)):
    words = T.interest_words(i, locale)
    interests.append(_Option(words[rng.integers(len(words))], T.tag_list(T.INTERESTS[i][1]), i))
  emoji = [_Option(T.INTERESTS[i][0], T.tag_list(T.INTERESTS[i][1])) for i in dict.fromkeys(matched)
          ][:POOL["emoji"] // 2]
  emoji += [_Option(e, T.tag_list(t)) for e, t in pick(T.EMOJI, POOL["emoji"] - len(emoji))]
  n_plain = len(W.templates(locale)) // 2
  plain = [
      g[rng.integers(len(g))]  # a few entries, one wording each
      for g in pick(W.template_groups(locale), POOL["template"])
  ]
  words = lambda table, n: [_Option(w, T.tag_list(t)) for w, t in pick(table, n)]
  options = {
      "template": [_Option(str(t)) for t in plain] +
                  ([_Option(str(t + n_plain)) for t in plain] if nickname else []),
      "role": [_Option(r) for r in pick(W.roles(locale), POOL["role"])],
      "interest":
          interests,
      "interest2":
          interests,
      "trait":
          words(T.TRAITS[locale], POOL["trait"]),
      "motto":
          words(T.MOTTOS[locale], POOL["motto"]),
      "place": [_Option(p) for p in pick(W.places(locale), POOL["place"])],
      "emoji":
          emoji,
      "nick": [_Option(nickname)] if nickname else [],
  }
  return [options[name] for name in W.SLOTS]


def _option_text(options, slot: str, k: int, cap: bool) -> str:
  text = options[W.SLOT_INDEX[slot]][k].text
  return text[:1].upper() + text[1:] if cap else text


def tables(locale, options, keywords, want, lm, rng) -> Tables:
  """Tabulates one request (numpy) for `assemble`; scores with the n-gram model."""
  valid = np.zeros((_S, _K), bool)
  opt_len = np.zeros((_S, _K), np.float32)
  kw = np.zeros((_S, _K, MAX_KEYWORDS), bool)
  tags = np.zeros((_S, _K, _G), np.float32)
  concept = np.full((_S, _K), -1, np.int32)
  forms = [[T.normalize(f) for f in keyword_forms(k, locale)[1]] for k in keywords]
  ids = {}
  for s in range(1, _S):
    for k, o in enumerate(options[s]):
      valid[s, k] = True
      opt_len[s, k] = len(o.text)
      text = T.normalize(o.text)
      kw[s, k, :len(forms)] = [any(f in text for f in fs) for fs in forms]
      for tag in o.tags:
        tags[s, k, T.TAGS.index(tag)] += 1.0
      if o.concept:
        concept[s, k] = ids.setdefault(o.concept, len(ids))
  valid[0, :len(options[0])] = True
  used = np.zeros((_K, _S), bool)
  dep = np.full((_K, _P), _S, np.int32)
  lit_len = np.zeros((_K,), np.float32)
  jobs = []  # (template, piece, option, context, text)
  for t, option in enumerate(options[0]):
    pieces = W.templates(locale)[int(option.text)]
    used[t, 0] = True
    for p, piece in enumerate(pieces):
      prev = pieces[p - 1] if p else None
      if piece[0] == "lit":
        lit_len[t] += len(piece[1])
        if prev is not None and W.SLOT_INDEX[prev[1]] not in _UNSCORED:
          # Only the literal's first n-1 characters see the option.
          s = dep[t, p] = W.SLOT_INDEX[prev[1]]
          jobs += [(t, p, k, _option_text(options, prev[1], k, prev[2]), piece[1][:lm.order - 1])
                   for k in range(len(options[s]))]
      else:
        s = W.SLOT_INDEX[piece[1]]
        used[t, s] = True
        if s not in _UNSCORED:
          dep[t, p] = s
          ctx = prev[1] if prev is not None and prev[0] == "lit" else ""
          jobs += [
              (t, p, k, ctx, _option_text(options, piece[1], k, piece[2])) for k in range(len(options[s]))
          ]
  logp, nch = bio_lm.score(lm, [j[4] for j in jobs], contexts=[j[3] for j in jobs])
  flu = np.zeros((_K, _P, _K), np.float32)
  chars = np.zeros((_K, _P, _K), np.float32)
  for (t, p, k, _, _), lp, n in zip(jobs, logp, nch):
    flu[t, p, k], chars[t, p, k] = lp, n
  # Uniform fillers: mean over the valid options of each piece's slot.
  w = np.concatenate([valid, np.ones((1, _K), bool)])[dep]  # [K, P, K]
  w = w / w.sum(-1, keepdims=True)
  base = (np.sum(flu * w, (1, 2)) / np.maximum(np.sum(chars * w, (1, 2)), 1.0)).astype(np.float32)
  return Tables(valid, used, dep, flu, chars, base, lit_len, opt_len, kw, np.int32(len(keywords)), tags, want,
                concept,
                rng.gumbel(size=(_S, _K)).astype(np.float32))


@functools.cache
def locale_lm(locale: str) -> bio_lm.CharLM:
  """The locale's fluency model, fitted once per process on `bio_words.lm_corpus`."""
  return bio_lm.fit(W.lm_corpus(check_locale(locale)), order=LM_ORDER[locale], breaks=LM_BREAKS[locale])


def render(locale, options, choice) -> str:
  """The text of slot choices [S] (the best one), cut to MAX_CHARS."""
  out = []
  for piece in W.templates(locale)[int(options[0][int(choice[0])].text)]:
    out.append(piece[1] if piece[0] ==
               "lit" else _option_text(options, piece[1], int(choice[W.SLOT_INDEX[piece[1]]]), piece[2]))
  text = "".join(out)
  if len(text) > MAX_CHARS:  # only with very long nicknames and keywords
    text = text[:MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"
  return text

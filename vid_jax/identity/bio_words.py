"""The bio grammar: templates of our own, word lists read from packages.

Our own writing (in this file): the slots and the templates per locale, with
their nickname prefix. The hand-written word tables (traits, mottos, emoji,
interests, attribute tags) are in `bio_tables`.

Read from installed packages at run time (never copied here): job titles
(roles), place names, and the text the fluency model is fitted on
(`lm_corpus`): faker's per-locale word lists, pypinyin's phrase list for
zh_CN and, for en_US, the prose of Python's own `pydoc_data` help topics.

`words` is the tokeniser of the bio metrics (`bio_metrics`): Latin words, and a
greedy dictionary segmenter for Chinese/Japanese over the same package lists.

Template syntax: "{slot}" is filled by an option of that slot, "{Slot}" by the
option with its first letter upper-cased, "[a|b]" is one template per
alternative; everything else is literal. Two slots never touch (a literal
separates them), so the fluency of a slot option depends on the literal before
it only (see bio_options.py); an emoji, which is not scored, is the one
exception.
"""

import functools
import importlib
import itertools
import re

from vid_jax.identity import bio_tables as T
from vid_jax.identity.locales import LOCALES

SLOTS = ("template", "role", "interest", "interest2", "trait", "motto", "place", "emoji", "nick")
SLOT_INDEX = {name: i for i, name in enumerate(SLOTS)}

TEMPLATES = {
    "en_US": (
        "{Trait} {role} who [loves|lives for|is into] {interest} and "
        "{interest2}. {motto} {emoji}",
        "{Role} by day, {interest} [fan|nerd|addict] by night. {motto} {emoji}",
        "{Role} based in {place}. Into {interest} and {interest2} {emoji}",
        "{emoji} {Trait} {role} | {interest} | {interest2} | {place}",
        "{Interest} first, {interest2} second, {role} always. {emoji}",
        "Professional {role}, amateur {interest} [fan|enthusiast]. {motto} "
        "{emoji}",
        "{Role} in {place} with a soft spot for {interest}. {motto} {emoji}",
        "{Trait}, {interest}-[obsessed|powered] {role} from {place} {emoji}",
        "{Interest} and {interest2} person. {Role} in {place}. {emoji}",
        "{emoji} {Role}. Ask me about {interest}. {motto}",
        "Currently: {role}. Always: {interest}. Sometimes: {interest2}. "
        "{emoji}",
        "{Trait} {role} | {place} | {interest} {emoji}",
        "{Role}. {Interest}. {Interest2}. {Place}. {emoji}",
    ),
    "zh_CN": (
        "{trait}的{role}，[喜欢|热爱|偏爱]{interest}和{interest2}。{motto}{emoji}",
        "{role}｜{interest}｜{interest2}｜坐标{place}{emoji}",
        "白天是{role}，晚上[沉迷|研究|琢磨]{interest}。{motto}{emoji}",
        "在{place}工作的{role}，{trait}，爱{interest}也爱{interest2}{emoji}",
        "{emoji}{interest}[爱好者|发烧友|玩家]，{trait}的{role}。{motto}",
        "{interest}、{interest2}，还有{trait}的每一天。{role}一枚{emoji}",
        "在{place}当{role}，业余[玩|搞|学]{interest}。{motto}{emoji}",
        "{place}人，{role}。最近[迷上了|在学|爱上了]{interest}{emoji}",
        "一个{trait}的{role}，周末不是{interest}就是{interest2}{emoji}",
        "{emoji}{role}／{interest}／{place}。{motto}",
        "[关键词|标签]：{interest}、{interest2}、{trait}。{role}{emoji}",
        "{trait}星人，{role}，{interest}重度[爱好者|患者|用户]。{motto}{emoji}",
        "{role}，{interest}，{interest2}，{place}。{motto}{emoji}",
    ),
    "ja_JP": (
        "{place}[在住|暮らし]の{role}。{interest}と{interest2}が[好きです|大好き|好き]。"
        "{motto}{emoji}",
        "{role}｜{interest}｜{interest2}｜{place}{emoji}",
        "[平日|普段]は{role}、[休日|週末]は{interest}。{motto}{emoji}",
        "{trait}な{role}です。[趣味|好物|推し]は{interest}と{interest2}。{emoji}",
        "{emoji}{interest}[好き|大好き|推し]の{role}。{motto}",
        "{interest}と{interest2}に夢中な{role}。{place}から[発信中|こんにちは]{emoji}",
        "{trait}な{role}。[最近|今]は{interest}にハマり中{emoji}",
        "{place}の{role}／{interest}／{interest2}／{trait}系{emoji}",
        "[好きなもの|好き]：{interest}、{interest2}。[職業|仕事]は{role}{emoji}",
        "{emoji}{role}。{trait}担当。{interest}トーク歓迎",
        "{interest}が[生きがい|元気の源]の{role}。{motto}{emoji}",
        "{place}で働く{role}。[いつも|わりと]{trait}です{emoji}",
        "{role}。{interest}、{interest2}、{place}。{motto}{emoji}",
        "{emoji}{place}｜{role}｜{trait}｜{interest}[好き|推し]",
    ),
}
# With a nickname, every template also exists with this prefix.
NICK_PREFIX = {"en_US": "I'm {nick}. ", "zh_CN": "我是{nick}，", "ja_JP": "{nick}／"}

# ------------------------------------------------ word lists from packages


def _provider(kind: str, locale: str):
  """faker's Provider class of one kind for a locale (inherited attributes included)."""
  return importlib.import_module(f"faker.providers.{kind}.{locale}").Provider


_ZH_ROLE_END = ("师", "员", "经理", "总监", "主管", "专员", "顾问", "代表", "编辑", "策划", "助理", "记者", "作家", "医生", "教师", "翻译",
                "律师", "导演", "演员", "主播", "模特", "司机", "厨师")


@functools.cache
def roles(locale: str) -> tuple:
  """Job titles from faker's job provider, filtered to short plain ones."""
  jobs = _provider("job", locale).jobs
  if locale == "en_US":
    out = [
        j for j in jobs if not re.search(r"[,/()]", j) and len(j) <= 28 and not re.search(r" [A-Z][a-z]", j)
    ]  # no "Civil Service x"
    # "Sentence case" titles: lower-case the first letter unless an acronym.
    return tuple(sorted({j if j[1:2].isupper() else j[0].lower() + j[1:] for j in out}))
  if locale == "zh_CN":
    return tuple(
        sorted({
            j for j in jobs
            if 2 <= len(j) <= 6 and j.endswith(_ZH_ROLE_END) and not re.search(r"[/（）()A-Za-z]", j)
        }))
  return tuple(sorted({j for j in jobs if len(j) <= 7}))


@functools.cache
def places(locale: str) -> tuple:
  """Place names from faker's address provider."""
  p = _provider("address", locale)
  if locale == "en_US":
    return tuple(p.states)
  if locale == "zh_CN":
    return tuple(sorted(set(p.cities)))
  return tuple(sorted(set(p.prefectures) | {c for c in p.cities if len(c) <= 4}))


@functools.cache
def lm_corpus(locale: str) -> tuple:
  """The texts the locale's fluency model is fitted on, read from packages.

  en_US: faker's English word lists (lorem words, job titles, company phrase
  words, colour names, states, first names) and the paragraphs of Python's
  `pydoc_data.topics`. zh_CN: faker's zh_CN lorem words, jobs, places,
  countries, company words and pypinyin's phrase list. ja_JP: faker's ja_JP
  lorem words, jobs, places, countries, names (kanji and kana), company and
  calendar words (no larger Japanese text ships offline).
  """
  if locale not in LOCALES:
    raise ValueError(f"unknown locale {locale!r}")
  lorem = _provider("lorem", locale).word_list
  jobs = _provider("job", locale).jobs
  address = _provider("address", locale)
  person = _provider("person", locale)
  texts = list(lorem) + list(jobs)
  if locale == "en_US":
    company = _provider("company", locale)
    texts += [w for group in company.catch_phrase_words for w in group]
    texts += [w for group in company.bsWords for w in group]
    texts += [re.sub(r"(?<=[a-z])(?=[A-Z])", " ", c) for c in _provider("color", locale).all_colors]
    texts += list(address.states) + list(person.first_names)
    topics = importlib.import_module("pydoc_data.topics").topics
    texts += [line.strip() for key in sorted(topics) for line in topics[key].split("\n") if line.strip()]
  elif locale == "zh_CN":
    texts += list(address.provinces) + list(address.cities)
    texts += list(address.districts) + list(address.countries)
    texts += list(_provider("company", locale).company_prefixes)
    texts += list(importlib.import_module("pypinyin.phrases_dict").phrases_dict)
  else:
    texts += list(address.prefectures) + list(address.cities)
    texts += list(address.towns) + list(address.countries)
    texts += list(person.first_names) + list(person.last_names)
    texts += list(person.first_kana_names) + list(person.last_kana_names)
    texts += list(_provider("company", locale).company_categories)
    dt = _provider("date_time", locale)
    texts += list(dt.MONTH_NAMES.values()) + list(dt.DAY_NAMES.values())
  return tuple(texts)


def parse_template(template: str) -> tuple:
  """Template -> pieces: ("lit", text) or ("slot", slot name, capitalised).

  Raises:
    ValueError: an unknown slot, or two slots other than an emoji touching.
  """
  pieces = []
  for lit, slot in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
    if lit:
      pieces.append(("lit", lit))
    if slot:
      name = slot[0].lower() + slot[1:]
      if name not in SLOT_INDEX or name == "template":
        raise ValueError(f"unknown slot {{{slot}}} in {template!r}")
      if pieces and pieces[-1][0] == "slot" and "emoji" not in (name, pieces[-1][1]):
        raise ValueError(f"slots touch in {template!r}")
      pieces.append(("slot", name, slot[0].isupper()))
  return tuple(pieces)


def expand(template: str) -> tuple:
  """One template per choice of its "[a|b|...]" alternatives."""
  parts = re.split(r"\[([^\]]*)\]", template)  # literal, alternatives, ...
  choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
  return tuple("".join(c) for c in itertools.product(*choices))


@functools.cache
def template_groups(locale: str) -> tuple:
  """Indices into `templates(locale)` of each TEMPLATES entry's expansions."""
  sizes = [len(expand(t)) for t in TEMPLATES[locale]]
  starts = list(itertools.accumulate([0] + sizes))
  return tuple(tuple(range(a, a + n)) for a, n in zip(starts, sizes))


@functools.cache
def templates(locale: str) -> tuple:
  """Parsed, expanded templates of a locale: the plain ones, then the same
  with the nickname prefix (index + num_plain)."""
  plain = tuple(t for template in TEMPLATES[locale] for t in expand(template))
  with_nick = tuple(NICK_PREFIX[locale] + t for t in plain)
  return tuple(parse_template(t) for t in plain + with_nick)


# ------------------------------------------ words, for the bio metrics

_TOKEN = re.compile(r"[0-9A-Za-z\u00c0-\u024f'’]+|"
                    r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+$")
_KATAKANA = re.compile(r"[\u30a0-\u30ff]+")
_MAX_WORD = 12


@functools.cache
def _lexicon() -> frozenset:
  """CJK words of 2-12 characters: zh/ja package lists, our tables, function words."""
  ours = [w for i in T.INTERESTS for loc in ("zh_CN", "ja_JP") for w in T.interest_words(i, loc)]
  ours += [w for loc in ("zh_CN", "ja_JP") for w, _ in T.TRAITS[loc]]
  ours += list(T.FUNCTION_WORDS)
  return frozenset(w for w in lm_corpus("zh_CN") + lm_corpus("ja_JP") + tuple(ours)
                   if 2 <= len(w) <= _MAX_WORD and _CJK.match(w))


def _max_match(run: str) -> list:
  """Greedy longest-match segmentation of a CJK run against `_lexicon`; a
  katakana run found there in no longer word is one token, anything else one
  character."""
  lex, out, i = _lexicon(), [], 0
  while i < len(run):
    m = next((m for m in range(min(_MAX_WORD, len(run) - i), 1, -1) if run[i:i + m] in lex), 0)
    if not m:
      kata = _KATAKANA.match(run, i)
      m = kata.end() - i if kata else 1
    out.append(run[i:i + m])
    i += m
  return out


def words(text: str, *, unit: str = "word") -> list:
  """Tokens of a text for the bio metrics (bio_metrics.distinct_n, lower-cased).

  A run of Latin letters/digits is one token. A run of CJK characters is cut
  by greedy longest match against the zh/ja package word lists, our tables and
  a few function words, katakana runs otherwise staying whole (`unit="word"`,
  a crude dictionary segmenter), or into single characters (`unit="char"`, the
  strictest reading). Punctuation and emoji are not tokens.
  """
  if unit not in ("word", "char"):
    raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
  out = []
  for tok in _TOKEN.findall(text.lower()):
    if not _CJK.match(tok):
      out.append(tok)
    else:
      out += list(tok) if unit == "char" else _max_match(tok)
  return out

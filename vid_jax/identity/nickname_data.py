"""The nickname model's data: per-locale corpora from faker, the character vocabulary, the split.

The corpus is read at run time from faker's provider tables (class attributes, so no
random draws: the same faker version gives the same strings) and is never stored in
the repository. It is built to look like nicknames, not like full legal names:

* en_US (model strings lowercase, shown capitalised): faker's first names and last
  names, and its lorem word list (common English words such as "river", "table").
* zh_CN (Han characters): given names (伟, 建华), the usual nickname forms of them
  (小伟, 阿伟, 伟伟 for one-character names), 小/老 + one of the 120 commonest
  surnames (小王, 老王), faker's
  brand-like company prefixes (凌云, 彩虹) and district names (清河, 龙潭), and its lorem
  words (音乐, 朋友).
* ja_JP (kana; kanji have no reading for the handle): first names in katakana and in
  hiragana (ユイ, ゆい), hiragana first names with ちゃん / くん, the first two kana + りん
  (ゆいりん), family names in katakana, and faker's kana-only lorem words and building
  names (mostly katakana loanwords: コーラス, パレス).

Strings are 2..max_chars characters, all in the locale's script. The held-out split is
a hash of (seed, locale, string), so it does not move when the corpus grows.
"""
import dataclasses
import zlib

import numpy as np
from faker.providers.address.ja_JP import Provider as _AddressJa
from faker.providers.address.zh_CN import Provider as _AddressZh
from faker.providers.company.zh_CN import Provider as _CompanyZh
from faker.providers.lorem.en_US import Provider as _LoremEn
from faker.providers.lorem.ja_JP import Provider as _LoremJa
from faker.providers.lorem.zh_CN import Provider as _LoremZh
from faker.providers.person.en_US import Provider as _PersonEn
from faker.providers.person.ja_JP import Provider as _PersonJa
from faker.providers.person.zh_CN import Provider as _PersonZh

from vid_jax.identity import handles
from vid_jax.identity.locales import LOCALES

PAD, EOS, UNK = 0, 1, 2
NUM_SPECIAL = 3 + len(LOCALES)  # PAD, EOS, UNK, then one BOS per locale (in LOCALES order)


def bos_id(locale_index: int) -> int:
  """The first token of every sequence of the locale LOCALES[locale_index]."""
  return 3 + locale_index


def _some(forms, fraction: float) -> list[str]:
  """A fixed share of `forms` (by hash): the model sees each pattern, and its other
  instances stay new strings the model can make (小强 seen, 阿强 not)."""
  return [f for f in forms if zlib.crc32(f"form:{f}".encode("utf-8")) % 1000 < fraction * 1000]


def _en_corpus() -> list[str]:
  return [w.lower() for w in (*_PersonEn.first_names, *_PersonEn.last_names, *_LoremEn.word_list)]


_ZH_SURNAMES = 120  # the most common surnames, for 小王 / 老王
_ZH_FORMS = 0.5  # share of the 小X / 阿X / XX / 老X forms in the corpus
_JA_SUFFIXES = ("ちゃん", "くん", "さん", "たん", "りん", "っち", "ぴょん")
_JA_FORMS = 0.3  # share of the name + suffix forms in the corpus


def _zh_corpus() -> list[str]:
  given = list(_PersonZh.first_names)
  chars = sorted({g[-1] for g in given})  # one-character names and the last character of the others
  common = list(_PersonZh.last_names)[:_ZH_SURNAMES]  # faker orders them by frequency
  forms = [p + c for c in chars for p in ("小", "阿")] + [c + c for c in chars]
  forms += [p + s for s in common for p in ("小", "老")]
  return (given + _some(forms, _ZH_FORMS) + list(_CompanyZh.company_prefixes) + list(_AddressZh.districts) +
          list(_LoremZh.word_list))


def _ja_corpus() -> list[str]:
  first = list(_PersonJa.first_kana_names)
  hira = [handles.to_hiragana(k) for k in first]
  forms = [h + s for h in hira for s in _JA_SUFFIXES] + [h[:2] + s for h in hira for s in _JA_SUFFIXES]
  words = [w for w in (*_LoremJa.word_list, *_AddressJa.building_names) if handles.in_script(w, "ja_JP")]
  return first + hira + list(_PersonJa.last_kana_names) + _some(forms, _JA_FORMS) + words


_CORPORA = {"en_US": _en_corpus, "zh_CN": _zh_corpus, "ja_JP": _ja_corpus}


def build_corpus(locale: str, *, max_chars: int) -> tuple[str, ...]:
  """Sorted unique nickname-like strings of `locale` (see the module docstring)."""
  words = _CORPORA[locale]()
  return tuple(sorted({w for w in words if 2 <= len(w) <= max_chars and handles.in_script(w, locale)}))


def is_heldout(text: str, *, locale: str, seed: int, fraction: float) -> bool:
  return zlib.crc32(f"{seed}:{locale}:{text}".encode("utf-8")) % 100_000 < fraction * 100_000


@dataclasses.dataclass(frozen=True)
class Vocab:
  """Character vocabulary: ids PAD, EOS, UNK, one BOS per locale, then `chars` in order."""
  chars: tuple[str, ...]
  index: dict = dataclasses.field(init=False, repr=False, compare=False)

  def __post_init__(self):
    object.__setattr__(self, "index", {c: NUM_SPECIAL + i for i, c in enumerate(self.chars)})

  @property
  def size(self) -> int:
    return NUM_SPECIAL + len(self.chars)

  def encode(self, text: str) -> list[int]:
    """Character ids of `text` (UNK for characters outside the vocabulary)."""
    return [self.index.get(c, UNK) for c in text]

  def decode(self, ids) -> str:
    """Text of character ids, stopping at EOS or PAD; UNK and BOS are dropped."""
    out = []
    for i in ids:
      i = int(i)
      if i in (EOS, PAD):
        break
      if i >= NUM_SPECIAL:
        out.append(self.chars[i - NUM_SPECIAL])
    return "".join(out)

  def script_mask(self) -> np.ndarray:
    """bool [num_locales, size]: the character ids in each locale's script (EOS included)."""
    mask = np.zeros((len(LOCALES), self.size), bool)
    mask[:, EOS] = True
    for j, loc in enumerate(LOCALES):
      mask[j, NUM_SPECIAL:] = [handles.in_script(c, loc) for c in self.chars]
    return mask


def encode_names(names, locale_ids, *, vocab: Vocab, max_chars: int) -> np.ndarray:
  """int32 [N, max_chars + 2]: BOS(locale), characters, EOS, then PAD.

  Args:
    names: N strings of at most `max_chars` characters.
    locale_ids: N indices into LOCALES.
  """
  out = np.full((len(names), max_chars + 2), PAD, np.int32)
  for n, (name, loc) in enumerate(zip(names, locale_ids)):
    ids = vocab.encode(name)[:max_chars]
    out[n, :len(ids) + 2] = [bos_id(int(loc)), *ids, EOS]
  return out


@dataclasses.dataclass(frozen=True)
class NicknameData:
  """Corpora, vocabulary and the split, all numpy / plain Python (host side)."""
  vocab: Vocab
  train_names: dict  # locale -> tuple of training strings
  heldout_names: dict  # locale -> tuple of held-out strings
  train: np.ndarray  # int32 [N_train, max_chars + 2] (encode_names)
  heldout: np.ndarray  # int32 [N_heldout, max_chars + 2]
  train_weights: np.ndarray  # float32 [N_train]: sampling probabilities (sum 1)


def load_data(*, max_chars: int, heldout_fraction: float, seed: int, locale_balance: float) -> NicknameData:
  """Builds the corpora of every locale, the vocabulary (all their characters) and the split.

  Args:
    max_chars: longest string kept (characters).
    heldout_fraction: share of each locale's strings held out.
    seed: picks the held-out strings.
    locale_balance: a locale with n training strings is drawn with probability
      proportional to n ** locale_balance (1 = every string alike, 0 = every locale alike).
  """
  train_names, heldout_names, chars = {}, {}, set()
  for loc in LOCALES:
    corpus = build_corpus(loc, max_chars=max_chars)
    chars.update("".join(corpus))
    held = tuple(w for w in corpus if is_heldout(w, locale=loc, seed=seed, fraction=heldout_fraction))
    held_set = set(held)
    train_names[loc] = tuple(w for w in corpus if w not in held_set)
    heldout_names[loc] = held
  vocab = Vocab(tuple(sorted(chars)))

  def encode(split):
    names = [w for loc in LOCALES for w in split[loc]]
    ids = [j for j, loc in enumerate(LOCALES) for _ in split[loc]]
    return encode_names(names, ids, vocab=vocab, max_chars=max_chars)

  sizes = np.array([len(train_names[loc]) for loc in LOCALES], np.float64)
  share = sizes**locale_balance / np.sum(sizes**locale_balance)
  weights = np.concatenate([np.full(int(n), s / n) for n, s in zip(sizes, share)]).astype(np.float32)
  return NicknameData(vocab=vocab, train_names=train_names, heldout_names=heldout_names,
                      train=encode(train_names), heldout=encode(heldout_names),
                      train_weights=weights / weights.sum())

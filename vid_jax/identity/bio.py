"""Bio designer: a slot grammar from word lists, scored, chosen by REINFORCE in JAX.

No fluent bio corpus ships offline, so this is not a text generator trained on
bios. It is, plainly:

1. A grammar (`bio_words.TEMPLATES`, our own) whose slots are role, two
   interests, trait, motto, place, emoji and nickname. Each request gets K
   options per slot (`bio_options`): job titles and places drawn from faker's
   word lists, the user's keywords (translated through our interest table when
   the script does not fit the locale), related words from that table, other
   interests, our trait words, mottos and emoji (`bio_tables`; `POOL`: a few
   per slot, drawn with the request's key, as are 4 of the ~12 templates and
   one wording of each).
2. A score (`bio_score`), the weighted sum (`refiners.rl.combine`) of named
   terms: fluency under a character n-gram model fitted on package text of the
   locale (`bio_lm`), keyword coverage, agreement of the words' tags with the
   avatar's attributes, a random taste per request, repetition and length.
   All parts are tabulated per request in numpy, so the score of any slot
   choice is a handful of gathers in JAX.
3. The choice (`bio_policy`): a factorised categorical policy over the slot
   options per request, trained by REINFORCE, in `lax.scan` over iterations,
   `vmap` over requests, one `jit`. The bio returned is the best-scoring choice
   evaluated, as with `refiners.rl`. `learning_rate=0` gives the uniform
   random-search baseline.

Deterministic given the key: request i uses fold_in(key, i) for both the option
draw and the policy's samples, whatever else is in the batch. The variety
metrics of docs/identity.md are in `bio_metrics`. This module holds the entry
point, `design_bios`, and its request checks; it re-exports the public names of
the others.
"""

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax.data.attributes import ATTRIBUTE_INDEX
from vid_jax.errors import UserError
from vid_jax.identity import bio_options
from vid_jax.identity import bio_policy
from vid_jax.identity import bio_tables as T
from vid_jax.identity.bio_metrics import distinct_n, longest_shared_span
from vid_jax.identity.bio_options import (LM_BREAKS, LM_ORDER, POOL, keyword_forms, locale_lm)
from vid_jax.identity.bio_policy import (SlotPolicyState, SlotRefiner, slot_reinforce)
from vid_jax.identity.bio_score import (DEFAULT_WEIGHTS, MAX_CHARS, MAX_KEYWORDS, MAX_PIECES, NUM_OPTIONS,
                                        TERMS, Features, Tables, assemble)
from vid_jax.identity.locales import check_locale

__all__ = [
    "design_bios",
    "distinct_n",
    "longest_shared_span",
    "slot_reinforce",
    "SlotRefiner",
    "SlotPolicyState",
    "assemble",
    "Tables",
    "Features",
    "TERMS",
    "DEFAULT_WEIGHTS",
    "POOL",
    "keyword_forms",
    "locale_lm",
    "LM_ORDER",
    "LM_BREAKS",
    "MAX_CHARS",
    "MAX_KEYWORDS",
    "MAX_KEYWORD_CHARS",
    "MAX_NICKNAME_CHARS",
    "MAX_PIECES",
    "NUM_OPTIONS",
]

Array = jax.Array

MAX_KEYWORD_CHARS = 32
MAX_NICKNAME_CHARS = 32  # longer nicknames are not used in the bio


def _check(locale, keywords, attributes, nickname) -> tuple:
  """Validates one request; returns (keywords deduplicated, want [G], nickname)."""
  check_locale(locale)
  if isinstance(keywords, str) or not isinstance(keywords, (list, tuple)):
    raise UserError(f"keywords must be a list of words, got {keywords!r}")
  kws = []
  for k in keywords:
    k = k.strip() if isinstance(k, str) else k
    if not isinstance(k, str) or not k:
      raise UserError(f"--keywords: empty keyword in {list(keywords)!r}")
    if len(k) > MAX_KEYWORD_CHARS:
      raise UserError(f"--keywords: {k[:40]!r}... is longer than "
                      f"{MAX_KEYWORD_CHARS} characters")
    if T.normalize(k) not in {T.normalize(x) for x in kws}:
      kws.append(k)
  if len(kws) > MAX_KEYWORDS:
    raise UserError(f"--keywords: {len(kws)} keywords; at most {MAX_KEYWORDS}")
  want = np.zeros((len(T.TAGS),), np.float32)
  for name, value in dict(attributes or {}).items():
    if name not in ATTRIBUTE_INDEX:
      raise UserError(f"unknown attribute {name!r}; use CelebA names such as "
                      "Smiling, Eyeglasses, Wearing_Hat")
    if not isinstance(value, (bool, np.bool_)):
      raise UserError(f"attribute {name} must be true or false, got {value!r}")
    for tag, w in T.ATTRIBUTE_TAGS.get(name, {}).get(bool(value), {}).items():
      want[T.TAGS.index(tag)] += w
  nickname = (nickname or "").strip()
  if len(nickname) > MAX_NICKNAME_CHARS:
    nickname = ""  # optional flavour: a long one would crowd out the rest
  return kws, want, nickname


def design_bios(*, key: Array, locales: Sequence[str], keywords: Sequence[Sequence[str]],
                attributes: Sequence[Mapping[str, bool]], nicknames: Sequence[str | None] | None = None,
                iterations: int = 48, population: int = 32, learning_rate: float = 0.3,
                entropy_weight: float = 0.0, weights: Mapping[str, float] | None = None) -> list[dict]:
  """Designs one bio per request (<= 160 characters, in the request's locale).

  Args:
    key: PRNG key; request i uses fold_in(key, i).
    locales: [B] locale names (`locales.LOCALES`).
    keywords: [B] lists of up to 8 keywords (1-32 characters each), any script.
    attributes: [B] dicts CelebA attribute name -> bool (the avatar's).
    nicknames: optional [B] nicknames (None or "" for none); some templates
      start with it; one longer than 32 characters is not used.
    iterations: REINFORCE steps per request.
    population: slot choices scored per step.
    learning_rate: Adam step on the policy logits (0: uniform random search).
    entropy_weight: entropy bonus of the policy.
    weights: term name -> weight (default DEFAULT_WEIGHTS).

  Returns:
    [B] dicts: text, locale, keywords_covered (the request's keywords found in
    own or translated form), score (weighted total), terms ({name: value}),
    reward_trace (mean reward of each step's samples; [0] is uniform choice).

  Raises:
    UserError: unknown locale or attribute, a non-bool attribute value, an
      empty keyword or one over 32 characters, over 8 keywords, or lists of
      different lengths.
  """
  n = len(locales)
  nicknames = [None] * n if nicknames is None else list(nicknames)
  if not len(keywords) == len(attributes) == len(nicknames) == n:
    raise UserError("locales, keywords, attributes and nicknames must have one "
                    f"entry per bio; got {n}, {len(keywords)}, "
                    f"{len(attributes)}, {len(nicknames)}")
  if iterations < 1:
    raise ValueError(f"iterations must be >= 1, got {iterations}")
  checked = [_check(*r) for r in zip(locales, keywords, attributes, nicknames)]
  if n == 0:
    return []
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
  seeds = np.asarray(jax.random.key_data(jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys)))
  run_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
  options, tables = [], []
  for i, (locale, (kws, want, nick)) in enumerate(zip(locales, checked)):
    rng = np.random.default_rng(seeds[i].reshape(-1).tolist())
    options.append(bio_options.slot_options(locale, kws, nick, rng))
    tables.append(bio_options.tables(locale, options[-1], kws, want, locale_lm(locale), rng))
  bucket = max(8, 1 << (n - 1).bit_length())  # powers of two: few compiles
  pad = lambda xs: jnp.asarray(np.stack(list(xs) + [xs[0]] * (bucket - n)))
  batch = Tables(*[pad(xs) for xs in zip(*tables)])
  run_keys = jnp.concatenate([run_keys] + [run_keys[:1]] * (bucket - n))
  weights = DEFAULT_WEIGHTS if weights is None else weights
  run = bio_policy.runner(population, float(learning_rate), float(entropy_weight), int(iterations),
                          tuple(sorted(weights.items())))
  choice, total, terms, trace = jax.device_get(run(batch, run_keys))
  out = []
  for i, (locale, (kws, _, _)) in enumerate(zip(locales, checked)):
    text = bio_options.render(locale, options[i], choice[i])
    norm = T.normalize(text)
    out.append({
        "text": text,
        "locale": locale,
        "keywords_covered": [
            k for k in kws if any(T.normalize(f) in norm for f in keyword_forms(k, locale)[1])
        ],
        "score": float(total[i]),
        "terms": {
            k: float(v[i]) for k, v in terms.items()
        },
        "reward_trace": [float(x) for x in trace[i]]
    })
  return out

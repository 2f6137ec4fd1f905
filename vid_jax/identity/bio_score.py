"""The bio's score: tabulated parts, features of a choice, named terms.

The score of a slot choice is the weighted sum (`refiners.rl.combine`) of named
terms:
  fluency     mean log-probability per character (nats, < 0) under a
              character n-gram model with interpolated Kneser-Ney smoothing
              (`bio_lm`) fitted on package text of the locale, of the
              characters the choice decides: each slot option given the
              literal before it, and the first n-1 characters of the literal
              after it given the option (slots never touch, except emoji;
              emoji and the nickname are not language, are not scored and
              reset the context). The rest of a template's literal text is a
              constant of the template and is left out, and so is the
              template's mean under uniform fillers (`Tables.base`): the model
              judges fillers within a template, not our templates against each
              other (fitted on word lists, it would always prefer the
              list-shaped one). So the term is nats/char above the template's
              average filling.
  coverage    0.5 * [some keyword present] + 0.5 * fraction present (0
              without keywords); a keyword counts in its own or translated
              form, also inside a related word (猫 in 猫咖).
  agreement   tanh(tags of the chosen words . tags the avatar's attributes
              ask for), e.g. cheerful words when Smiling, bookish or glasses
              words with Eyeglasses (`bio_tables.ATTRIBUTE_TAGS`); in [-1, 1].
  taste       mean over the used slots of a standard Gumbel draw per option,
              drawn with the request's key: a random personal taste
              (perturb-and-MAP), so that the best options of the word lists do
              not win every request alike; its weight trades score for variety
              (distinct-2, docs/identity.md).
  repetition  minus the number of slot pairs repeating one concept.
  fits        -max(0, characters - 160) / 10.
All parts are tabulated per request in numpy (`bio_options.tables`; the n-gram
model runs there), so the score of any slot choice is a handful of gathers in
JAX (`assemble`).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from vid_jax.identity import bio_tables as T
from vid_jax.identity import bio_words as W

Array = jax.Array

MAX_CHARS = 160
MAX_KEYWORDS = 8
NUM_OPTIONS = 16  # K: room for options per slot (and templates)
MAX_PIECES = 16  # literal and slot pieces per template
DEFAULT_WEIGHTS = {
    "fluency": 1.0,
    "coverage": 2.0,
    "agreement": 1.0,
    "taste": 1.0,
    "repetition": 1.0,
    "fits": 1.0
}
_S, _K, _P, _G = len(W.SLOTS), NUM_OPTIONS, MAX_PIECES, len(T.TAGS)


class Tables(NamedTuple):
  """One request's tabulated grammar and score parts (vmap adds a leading [B])."""
  valid: Array  # [S, K] bool: option exists
  used: Array  # [K, S] bool: template t uses slot s (row per template option)
  dep: Array  # [K, P] int32: slot whose choice picks the piece's row (S: none)
  flu: Array  # [K, P, K] float32: log-prob of piece p of template t, per choice
  nch: Array  # [K, P, K] float32: characters it scores
  base: Array  # [K] float32: template's fluency under uniform fillers
  lit_len: Array  # [K] float32: literal characters of each template
  opt_len: Array  # [S, K] float32: characters of each option
  kw: Array  # [S, K, MAX_KEYWORDS] bool: option contains keyword j
  n_kw: Array  # [] int32
  tags: Array  # [S, K, G] float32
  want: Array  # [G] float32: tags the attributes ask for
  concept: Array  # [S, K] int32: concept id (-1: none)
  taste: Array  # [S, K] float32: standard Gumbel draws, the request's taste


class Features(NamedTuple):
  """What the terms read from an assembled bio (leading [N] when batched)."""
  logp: Array  # summed log-probability of the scored characters
  nch: Array  # number of scored characters
  base: Array  # the template's mean fluency under uniform fillers
  keywords: Array  # [MAX_KEYWORDS] bool: present
  tags: Array  # [G] summed tags of the chosen words
  duplicates: Array  # slot pairs repeating a concept
  length: Array  # characters
  taste: Array  # mean taste draw of the chosen options


def assemble(tab: Tables, choice: Array) -> Features:
  """Features of the bio that slot choices [S] (int32; choice[0] = template) make."""
  t = choice[0]
  idx = jnp.append(choice, 0)[tab.dep[t]]  # [P]
  p = jnp.arange(_P)
  u = tab.used[t]  # [S]
  s = jnp.arange(_S)
  con = jnp.where(u, tab.concept[s, choice], -1)  # [S]
  pair = (con[:, None] == con[None, :]) & (con[:, None] >= 0)
  return Features(logp=jnp.sum(tab.flu[t, p, idx]), nch=jnp.sum(tab.nch[t, p, idx]), base=tab.base[t],
                  keywords=jnp.any(tab.kw[s, choice] & u[:, None],
                                   axis=0), tags=jnp.sum(tab.tags[s, choice] * u[:, None], axis=0),
                  duplicates=jnp.sum(jnp.triu(pair, 1)).astype(jnp.float32),
                  taste=jnp.sum(u * tab.taste[s, choice]) / jnp.sum(u),
                  length=tab.lit_len[t] + jnp.sum(u * tab.opt_len[s, choice]))


# Reward terms in refiners.rl.rewards' (x, z, request) convention: x = Features [N],
# z = choices [N, S], request = the request's Tables. Larger is better.
def _fluency(f, z, tab):
  del z, tab
  return f.logp / jnp.maximum(f.nch, 1.0) - f.base


def _coverage(f, z, tab):
  del z
  n = jnp.maximum(tab.n_kw, 1).astype(jnp.float32)
  hit = f.keywords.astype(jnp.float32)  # [N, MAX_KEYWORDS]; padding never hits
  score = 0.5 * jnp.max(hit, axis=-1) + 0.5 * jnp.sum(hit, axis=-1) / n
  return jnp.where(tab.n_kw > 0, score, 0.0)


def _agreement(f, z, tab):
  del z
  return jnp.tanh(f.tags @ tab.want)


def _taste(f, z, tab):
  del z, tab
  return f.taste


def _repetition(f, z, tab):
  del z, tab
  return -f.duplicates


def _fits(f, z, tab):
  del z, tab
  return -jnp.maximum(f.length - MAX_CHARS, 0.0) / 10.0


TERMS = {
    "fluency": _fluency,
    "coverage": _coverage,
    "agreement": _agreement,
    "taste": _taste,
    "repetition": _repetition,
    "fits": _fits
}

"""A character n-gram language model with interpolated Kneser-Ney smoothing (numpy).

This is the bio's fluency model, and it is only that: counts of character
n-grams (orders 1..n) over locale text read from installed packages
(`bio_words.lm_corpus`), smoothed by interpolated Kneser-Ney (absolute
discounting; lower orders use continuation counts). It judges spelling and
short-range character flow; it knows nothing of grammar beyond n characters,
nor of meaning.

Texts are sequences of Unicode code points. Id 0 is the text boundary (every
text is padded with n-1 of them on the left, so contexts at the start are
"start of text"), id 1 an unknown character. N-grams are stored as sorted 64-bit
polynomial hashes (`_HASH_MUL`), one table per order, looked up with
`np.searchsorted`; two distinct n-grams of one order share a hash with
probability about 2^-64 per pair. Fitting and scoring are deterministic.

Where the corpus is word and phrase lists (zh_CN, ja_JP), punctuation is read
as the boundary (`breaks`): a phrase ends there and the next one starts, which
is how the lists look to the model.
"""

import re
from typing import NamedTuple, Sequence

import numpy as np

BOUNDARY = 0
UNKNOWN = 1
_HASH_MUL = np.uint64(0x100000001B3)  # the 64-bit FNV prime


class CharLM(NamedTuple):
  """A fitted model; per-order tables are tuples indexed by order k = 1..n (index k-1).

  Attributes:
    order: n, the longest n-gram (context of n-1 characters).
    vocab: character -> id (>= 2).
    breaks: characters read as the text boundary (punctuation in a locale
      whose corpus is word and phrase lists: a phrase ends there and the next
      one starts).
    discounts: [n] absolute discount D_k per order.
    gram_keys: per order, sorted uint64 hashes of the k-grams seen [G_k].
    gram_counts: per order, float64 [G_k]: raw counts (k = n) or continuation
      counts N1+(. w) (k < n).
    ctx_keys: per order, sorted uint64 hashes of the (k-1)-character contexts.
    ctx_totals: per order, sum of `gram_counts` over the context's k-grams.
    ctx_types: per order, number of distinct characters seen after the context.
  """
  order: int
  vocab: dict
  breaks: str
  discounts: np.ndarray
  gram_keys: tuple
  gram_counts: tuple
  ctx_keys: tuple
  ctx_totals: tuple
  ctx_types: tuple


def encode(lm: CharLM, text: str) -> tuple:
  """Ids of `text` and which of them are scored, both [T].

  Unknown characters become UNKNOWN; a break character becomes n-1 boundaries
  (as between training texts), of which only the first is scored (the
  probability that a phrase ends there).
  """
  pad = max(lm.order - 1, 1)
  ids, scored = [], []
  for ch in text:
    if ch in lm.breaks:
      ids += [BOUNDARY] * pad
      scored += [True] + [False] * (pad - 1)
    else:
      ids.append(lm.vocab.get(ch, UNKNOWN))
      scored.append(True)
  return np.asarray(ids, np.int64), np.asarray(scored, bool)


def _window_hashes(ids: np.ndarray, order: int) -> list:
  """hashes[k][i] = hash of ids[i-k+1 .. i] for k = 0..order (k = 0: zeros).

  Positions i < k-1 wrap around; callers only read positions whose windows lie
  inside the left padding, which every sequence has.
  """
  sym = ids.astype(np.uint64) + np.uint64(1)
  hashes = [np.zeros_like(sym)]
  for _ in range(order):
    hashes.append(np.roll(hashes[-1], 1) * _HASH_MUL + sym)
  return hashes


def _padded_ids(vocab: dict, texts: Sequence[str], pad: int) -> np.ndarray:
  """All texts, each preceded by `pad` boundaries, then one final boundary [N]."""
  parts = []
  for t in texts:
    parts.append(np.zeros((pad,), np.int64))
    parts.append(np.asarray([vocab[ch] for ch in t], np.int64))
  parts.append(np.zeros((pad + 1,), np.int64))
  return np.concatenate(parts)


def fit(texts: Sequence[str], *, order: int = 4, breaks: str = "") -> CharLM:
  """Fits an interpolated Kneser-Ney character n-gram model.

  Args:
    texts: training texts (words, phrases or prose); each is bounded by the
      boundary symbol, so no n-gram spans two texts.
    order: n >= 1.
    breaks: characters read as the text boundary: training texts are split
      there, and `score` ends a phrase there.

  Returns:
    The model.
  """
  if order < 1:
    raise ValueError(f"order must be >= 1, got {order}")
  if breaks:
    split = re.compile("[" + re.escape(breaks) + "]")
    texts = [seg for t in texts for seg in split.split(t) if seg]
  chars = sorted(set("".join(texts)))
  vocab = {ch: i + 2 for i, ch in enumerate(chars)}
  ids = _padded_ids(vocab, texts, order - 1)
  hashes = _window_hashes(ids, order)
  pos = np.arange(order - 1, ids.shape[0])  # every window inside the array
  gram_keys, gram_counts, ctx_keys, ctx_totals, ctx_types = [], [], [], [], []
  discounts = np.zeros((order,))
  higher = None  # (unique hashes, first positions) of order k + 1
  for k in range(order, 0, -1):
    keys, first, raw = np.unique(hashes[k][pos], return_index=True, return_counts=True)
    first = pos[first]
    if higher is None:
      counts = raw.astype(np.float64)
    else:  # continuation: distinct left extensions of each k-gram
      suffix = hashes[k][higher[1]]
      suffix_keys, cont = np.unique(suffix, return_counts=True)
      counts = np.zeros_like(keys, np.float64)
      counts[np.searchsorted(keys, suffix_keys)] = cont
    higher = (keys, first)
    ctx = hashes[k - 1][first - 1] if k > 1 else np.zeros_like(keys)
    c_keys, c_inv = np.unique(ctx, return_inverse=True)
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    discounts[k - 1] = np.clip(n1 / max(n1 + 2 * n2, 1), 0.1, 0.95)
    gram_keys.append(keys)
    gram_counts.append(counts)
    ctx_keys.append(c_keys)
    ctx_totals.append(np.bincount(c_inv, weights=counts))
    ctx_types.append(np.bincount(c_inv).astype(np.float64))
  rev = lambda xs: tuple(reversed(xs))
  return CharLM(order, vocab, breaks, discounts, rev(gram_keys), rev(gram_counts), rev(ctx_keys),
                rev(ctx_totals), rev(ctx_types))


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
  """values[key == query], 0 where the query is absent."""
  if keys.shape[0] == 0:
    return np.zeros(query.shape, np.float64)
  i = np.minimum(np.searchsorted(keys, query), keys.shape[0] - 1)
  return np.where(keys[i] == query, values[i], 0.0)


def _log_probs(lm: CharLM, ids: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """log P(ids[i] | ids[i-n+1 .. i-1]) at the positions `targets` [M]."""
  hashes = _window_hashes(ids, lm.order)
  p = np.full(targets.shape, 1.0 / (len(lm.vocab) + 2))  # uniform floor
  for k in range(1, lm.order + 1):
    d = lm.discounts[k - 1]
    count = _lookup(lm.gram_keys[k - 1], lm.gram_counts[k - 1], hashes[k][targets])
    ctx = hashes[k - 1][targets - 1]
    total = _lookup(lm.ctx_keys[k - 1], lm.ctx_totals[k - 1], ctx)
    types = _lookup(lm.ctx_keys[k - 1], lm.ctx_types[k - 1], ctx)
    safe = np.maximum(total, 1e-12)
    mixed = np.maximum(count - d, 0.0) / safe + d * types / safe * p
    p = np.where(total > 0, mixed, p)
  return np.log(p)


def score(lm: CharLM, texts: Sequence[str], *, contexts: Sequence[str] | None = None) -> tuple:
  """Log-probability of each text given an optional left context.

  Args:
    lm: the model.
    texts: M texts to score (the end-of-text boundary is not scored).
    contexts: M strings preceding each text; only their last n-1 characters
      matter. "" or None means the text starts a new text.

  Returns:
    (log_prob [M] float64 in nats, summed over the text's characters,
     num_chars [M] int64).
  """
  contexts = [""] * len(texts) if contexts is None else contexts
  if len(contexts) != len(texts):
    raise ValueError("score: texts and contexts differ in length")
  pad = lm.order - 1
  seqs, targets, owner, offset = [], [], [], 0
  for m, (ctx, text) in enumerate(zip(contexts, texts)):
    left = encode(lm, ctx)[0]
    left = left[-pad:] if pad else left[:0]
    body, scored = encode(lm, text)
    seq = np.concatenate([np.zeros((pad - left.shape[0],), np.int64), left, body])
    start = offset + pad
    targets.append(start + np.flatnonzero(scored))
    owner.append(np.full((int(scored.sum()),), m))
    seqs.append(seq)
    offset += seq.shape[0]
  if not seqs:
    return np.zeros((0,)), np.zeros((0,), np.int64)
  ids = np.concatenate(seqs)
  targets, owner = np.concatenate(targets), np.concatenate(owner)
  logp = _log_probs(lm, ids, targets)
  n = np.bincount(owner, minlength=len(texts)).astype(np.int64)
  return np.bincount(owner, weights=logp, minlength=len(texts)), n


def per_char(lm: CharLM, texts: Sequence[str]) -> np.ndarray:
  """Mean log-probability per character of each text, [M] (nats; 0 for "")."""
  logp, n = score(lm, texts)
  return logp / np.maximum(n, 1)

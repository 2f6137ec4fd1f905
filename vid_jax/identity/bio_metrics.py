"""Variety and originality metrics of bios: distinct-n and longest shared spans.

Texts are cut into tokens by `bio_words.words`: Latin words, and for
Chinese/Japanese a greedy dictionary segmenter over package word lists
(`unit="word"`) or single characters (`unit="char"`).
"""

from typing import Sequence

from vid_jax.identity import bio_words as W


def distinct_n(texts: Sequence[str], n: int, *, unit: str = "word") -> float:
  """Distinct-n: unique token n-grams / all token n-grams over the texts (0 if none)."""
  grams = [tuple(w[i:i + n]) for t in texts for w in [W.words(t, unit=unit)] for i in range(len(w) - n + 1)]
  return len(set(grams)) / len(grams) if grams else 0.0


def longest_shared_span(texts: Sequence[str], corpus: Sequence[str], *, unit: str = "word",
                        max_span: int = 16) -> list[int]:
  """Longest run of tokens each text shares with any one corpus text, [len(texts)].

  Spans never cross two corpus texts; capped at `max_span`.
  """
  toks = [W.words(t, unit=unit) for t in texts]
  grams = {
      tuple(w[i:i + m]) for w in toks for i in range(len(w)) for m in range(1,
                                                                            min(max_span,
                                                                                len(w) - i) + 1)
  }
  found = set()
  for c in corpus:
    cw = W.words(c, unit=unit)
    for i in range(len(cw)):
      for m in range(1, min(max_span, len(cw) - i) + 1):
        g = tuple(cw[i:i + m])
        if g not in grams:
          break  # text n-grams are closed under prefixes
        found.add(g)
  return [
      max([
          m for i in range(len(w)) for m in range(1,
                                                  min(max_span,
                                                      len(w) - i) + 1) if tuple(w[i:i + m]) in found
      ], default=0) for w in toks
  ]

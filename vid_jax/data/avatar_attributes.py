"""Attribute labels of the avatar dataset: which CelebA attributes are drawn, and how often.

Every drawn attribute is its own Bernoulli draw from a counter-based hash of
`(seed, index, attribute)`, so the labels of any set of indices are known without
rendering (marginals, caches, samplers); all other CelebA attributes are always False.
The exception is hair colour: one categorical draw per avatar (HAIR_COLOUR_PROBABILITIES) sets
at most one of the hair-colour attributes, as in CelebA, where they are in practice exclusive
(dataset version 2; version 1 drew them independently and painted several as stripes).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from vid_jax.data.attributes import ATTRIBUTE_INDEX, ATTRIBUTE_NAMES, HAIR_COLOURS, NUM_ATTRIBUTES

# One hair colour per avatar: the probability of each; the rest (0.2) is another colour (red,
# auburn, dark blonde; avatar_style.other_hair), labelled with none of them.
HAIR_COLOUR_PROBABILITIES: Mapping[str, float] = {
    "Black_Hair": 0.22,
    "Blond_Hair": 0.22,
    "Brown_Hair": 0.22,
    "Gray_Hair": 0.14,
}
# Probability that each drawn attribute is True. Every attribute but the hair colours (above) is
# its own independent draw (no correlations such as Male <-> Wearing_Lipstick), which is what a
# conditional generator needs to learn each one separately.
ATTRIBUTE_PROBABILITIES: Mapping[str, float] = {
    "Male": 0.5,
    "Smiling": 0.5,
    "Eyeglasses": 0.3,
    "Wearing_Hat": 0.25,
    **HAIR_COLOUR_PROBABILITIES,
    "Bald": 0.15,
    "Bangs": 0.3,
    "Pale_Skin": 0.25,
    "Mustache": 0.25,
    "No_Beard": 0.7,
    "Wearing_Lipstick": 0.35,
    "Heavy_Makeup": 0.3,
    "Young": 0.6,
    # Extras beyond the required sixteen; cheap to draw and visible at 64x64.
    "Bushy_Eyebrows": 0.3,
    "Big_Nose": 0.3,
    "Narrow_Eyes": 0.25,
    "Rosy_Cheeks": 0.3,
    "Wearing_Earrings": 0.3,
    "Wearing_Necktie": 0.25,
}
DRAWN_ATTRIBUTES: tuple[str, ...] = tuple(n for n in ATTRIBUTE_NAMES if n in ATTRIBUTE_PROBABILITIES)
UNDRAWN_ATTRIBUTES: tuple[str, ...] = tuple(n for n in ATTRIBUTE_NAMES if n not in ATTRIBUTE_PROBABILITIES)

_PROBS = np.array([ATTRIBUTE_PROBABILITIES.get(n, 0.0) for n in ATTRIBUTE_NAMES], np.float64)
_HAIR = np.array([ATTRIBUTE_INDEX[n] for n in HAIR_COLOURS])  # columns of the one categorical draw
_HAIR_EDGES = np.cumsum([HAIR_COLOUR_PROBABILITIES[n] for n in HAIR_COLOURS])  # [4] upper bounds

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
  x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
  x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
  x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
  return x ^ (x >> np.uint64(31))


def sample_attributes(indices, *, seed: int = 0) -> np.ndarray:
  """Attribute labels of avatar dataset indices, without rendering.

  Args:
    indices: int array-like [n] of dataset indices (>= 0).
    seed: dataset seed.

  Returns:
    bool [n, 40] in ATTRIBUTE_NAMES order.
  """
  idx = np.asarray(indices, dtype=np.int64).reshape(-1)
  if idx.size and idx.min() < 0:
    raise IndexError(f"negative avatar index {int(idx.min())}")
  with np.errstate(over="ignore"):
    key = _splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], np.uint64))
    h = _splitmix64(key ^ idx.astype(np.uint64))  # [n]
    k = np.arange(NUM_ATTRIBUTES, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
    h = _splitmix64(h[:, None] ^ k[None, :])  # [n, 40]
  u = (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
  out = u < _PROBS[None, :]
  # Hair colour: the first hair column's uniform picks one colour (or none, past the last edge).
  colour = np.searchsorted(_HAIR_EDGES, u[:, _HAIR[0]], side="right")  # [n] in 0..4, 4 = none
  out[:, _HAIR] = colour[:, None] == np.arange(len(_HAIR))[None, :]
  return out


def attribute_marginals(num_examples: int, *, seed: int = 0) -> np.ndarray:
  """Fraction of True per attribute over the first `num_examples` avatars.

  Returns:
    float32 [40].
  """
  total = np.zeros(NUM_ATTRIBUTES, np.int64)
  for start in range(0, num_examples, 1 << 16):
    stop = min(num_examples, start + (1 << 16))
    total += sample_attributes(np.arange(start, stop), seed=seed).sum(0)
  return (total / max(num_examples, 1)).astype(np.float32)

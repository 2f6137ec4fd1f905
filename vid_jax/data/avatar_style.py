"""Nuisance style of an avatar: everything that is not an attribute.

Background colour, face shape and size, skin tone, head position, hair volume, and the
colours of hats, glasses, clothes and make-up, all drawn from one `np.random.Generator`.
"""
from __future__ import annotations

import colorsys
import dataclasses

import numpy as np

_OTHER_HAIR = ((170, 62, 30), (196, 96, 44), (120, 40, 30))  # auburn / ginger


@dataclasses.dataclass(frozen=True)
class AvatarStyle:
  """Nuisance parameters of one avatar (positions in units of the canvas)."""
  background: tuple[int, int, int]
  center: tuple[float, float]  # face centre (x, y)
  half_size: tuple[float, float]  # face half-width, half-height
  skin_t: float  # 0 = lightest non-pale tone, 1 = darkest
  eye_colour: tuple[int, int, int]
  shirt_colour: tuple[int, int, int]
  hat_colour: tuple[int, int, int]
  hat_kind: int  # 0 beanie, 1 brimmed hat, 2 cap
  glasses_colour: tuple[int, int, int]
  glasses_round: bool
  makeup_colour: tuple[int, int, int]
  lipstick_colour: tuple[int, int, int]
  other_hair: tuple[int, int, int]  # used when no hair colour attribute is set
  hair_volume: float


def _hsv(h, s, v):
  r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
  return (int(r * 255 + 0.5), int(g * 255 + 0.5), int(b * 255 + 0.5))


def sample_style(rng: np.random.Generator) -> AvatarStyle:
  """Draws the nuisance parameters of one avatar from `rng`."""
  u = rng.random(24)  # u[23] drew version 1's hair-stripe phase; still drawn, so the rest is as before
  scale = 0.86 + 0.22 * u[0]
  return AvatarStyle(
      background=_hsv(u[1], 0.15 + 0.45 * u[2], 0.55 + 0.4 * u[3]),
      center=(0.5 + 0.1 * (u[4] - 0.5), 0.5 + 0.08 * (u[5] - 0.5)),
      half_size=(0.21 * scale * (0.92 + 0.16 * u[6]), 0.26 * scale * (0.93 + 0.12 * u[7])),
      skin_t=float(u[8]),
      eye_colour=((70, 45, 25), (60, 110, 170), (70, 120, 70), (35, 30, 30))[int(u[9] * 4)],
      shirt_colour=_hsv(u[10], 0.3 + 0.6 * u[11], 0.3 + 0.6 * u[12]),
      hat_colour=_hsv(u[13], 0.5 + 0.5 * u[14], 0.3 + 0.6 * u[15]),
      hat_kind=int(u[16] * 3),
      glasses_colour=((20, 20, 20), (120, 20, 30), (30, 40, 120), (90, 60, 30))[int(u[17] * 4)],
      glasses_round=bool(u[18] < 0.5),
      makeup_colour=((130, 60, 160), (60, 90, 180), (160, 100, 60), (200, 80, 140))[int(u[19] * 4)],
      lipstick_colour=((200, 20, 45), (170, 10, 70), (225, 50, 90))[int(u[20] * 3)],
      other_hair=_OTHER_HAIR[int(u[21] * 3)],
      hair_volume=0.95 + 0.15 * float(u[22]),
  )

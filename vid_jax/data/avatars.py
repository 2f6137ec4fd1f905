"""The built-in avatar dataset: procedurally drawn cartoon faces.

Every image is drawn with Pillow on a canvas `supersample` times larger than
the output and then downsampled with a Lanczos filter, so edges are
anti-aliased. Labels use CelebA's 40 attribute names in tfds order
(`vid_jax.data.attributes.ATTRIBUTE_NAMES`). The attributes in
`DRAWN_ATTRIBUTES` are drawn visibly and sampled independently of each other
(each one is its own Bernoulli draw); all other CelebA attributes are always
False. Nuisance variation (background colour, face shape and size, skin tone,
head position, hair volume, colours of hats, glasses, clothes, make-up) comes
from a separate random stream.

Image `i` of the dataset with seed `s` is a pure function of `(s, i)`:
attributes come from a counter-based hash of `(s, i, attribute)`, the style
from `np.random.default_rng(SeedSequence([s, i]))`. Random access, any dataset
size, identical bytes on every machine (same numpy and Pillow versions).

Labels and their probabilities: `vid_jax.data.avatar_attributes`; the style:
`vid_jax.data.avatar_style`; this module draws.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from vid_jax.data.attributes import ATTRIBUTE_INDEX, ATTRIBUTE_NAMES
from vid_jax.data.avatar_attributes import sample_attributes
from vid_jax.data.avatar_style import AvatarStyle, sample_style
from vid_jax.errors import UserError

# Values used by `render_avatar` for attributes missing from its dict: the
# "plain" face (clean-shaven, young); everything else defaults to False.
DEFAULT_ATTRIBUTES: Mapping[str, bool] = {"No_Beard": True, "Young": True}

_HAIR_COLOURS = {  # RGB; several True (a caller's request) are blended into one.
    "Black_Hair": (28, 24, 26),
    "Blond_Hair": (236, 204, 112),
    "Brown_Hair": (112, 70, 38),
    "Gray_Hair": (172, 172, 178),
}
_PALE_SKIN = np.array([252, 234, 224], np.float64)
_SKIN_LIGHT = np.array([234, 184, 146], np.float64)  # lightest non-pale tone
_SKIN_DARK = np.array([104, 64, 42], np.float64)


def _as_rng(rng_or_seed) -> np.random.Generator:
  if isinstance(rng_or_seed, np.random.Generator):
    return rng_or_seed
  return np.random.default_rng(rng_or_seed)


def _mix(a, b, t):
  return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))


def _attribute_flags(attributes: Mapping[str, bool]) -> dict[str, bool]:
  unknown = sorted(set(attributes) - set(ATTRIBUTE_INDEX))
  if unknown:
    raise UserError(f"unknown avatar attribute(s) {unknown}; valid names are CelebA's: "
                    f"{', '.join(ATTRIBUTE_NAMES)}")
  flags = {n: DEFAULT_ATTRIBUTES.get(n, False) for n in ATTRIBUTE_NAMES}
  flags.update({k: bool(v) for k, v in attributes.items()})
  return flags


# ----------------------------------------------------------------------------
# Drawing.


def render_avatar(attributes: Mapping[str, bool], *, size: int = 64, rng_or_seed=0,
                  style: AvatarStyle | None = None, supersample: int | None = None) -> np.ndarray:
  """Renders one avatar with the given attributes.

  Args:
    attributes: CelebA attribute name -> bool. Names missing from the dict take
      `DEFAULT_ATTRIBUTES` (No_Beard=True, Young=True) or False. Attributes
      outside `DRAWN_ATTRIBUTES` have no visible effect.
    size: output side in pixels.
    rng_or_seed: np.random.Generator or seed for the nuisance style (ignored
      when `style` is given).
    style: explicit nuisance parameters (see `sample_style`).
    supersample: canvas oversampling factor; default max(2, ceil(256 / size)).

  Returns:
    uint8 [size, size, 3].
  """
  a = _attribute_flags(attributes)
  if style is None:
    style = sample_style(_as_rng(rng_or_seed))
  if supersample is None:
    supersample = max(2, -(-256 // size))
  canvas = _draw(a, style, size * supersample)
  if supersample > 1:
    # reducing_gap=2: box-reduce by an integer factor first, then Lanczos over
    # the last >= 2x; visually the same as plain Lanczos at half the cost.
    canvas = canvas.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
  return np.asarray(canvas, dtype=np.uint8)


def render_index(i: int, *, seed: int = 0, size: int = 64):
  """Renders image `i` of the avatar dataset with `seed`.

  Returns:
    (image uint8 [size, size, 3], attributes bool [40]).
  """
  i = int(i)
  labels = sample_attributes([i], seed=seed)[0]
  rng = np.random.default_rng(np.random.SeedSequence([seed & (2**63 - 1), i]))
  image = render_avatar({n: bool(v) for n, v in zip(ATTRIBUTE_NAMES, labels)}, size=size, rng_or_seed=rng)
  return image, labels


def _draw(a: Mapping[str, bool], st: AvatarStyle, s: int) -> Image.Image:
  """Draws the avatar on an s x s canvas."""
  cx, cy = st.center[0] * s, st.center[1] * s
  fw, fh = st.half_size[0] * s, st.half_size[1] * s

  def p(u, v):  # face-relative coordinates -> canvas pixels
    return (cx + u * fw, cy + v * fh)

  def box(u0, v0, u1, v1):
    return [cx + u0 * fw, cy + v0 * fh, cx + u1 * fw, cy + v1 * fh]

  def w(t):  # stroke width, t in units of the face half-height
    return max(1, int(round(t * fh)))

  if a["Pale_Skin"]:
    skin_rgb = _PALE_SKIN
  else:
    skin_rgb = _SKIN_LIGHT * (1 - st.skin_t) + _SKIN_DARK * st.skin_t
  skin = tuple(int(round(c)) for c in skin_rgb)
  shade = _mix(skin, (40, 20, 15), 0.35)
  wrinkle = _mix(skin, (30, 15, 10), 0.6)

  # One hair colour (the dataset draws at most one); attributes that ask for several, which only
  # a caller of render_avatar can pass, get their blend: solid, never stripes (dataset version 2).
  hair_colours = [c for n, c in _HAIR_COLOURS.items() if a[n]] or [st.other_hair]
  hair_colour = tuple(int(round(sum(c[i] for c in hair_colours) / len(hair_colours))) for i in range(3))
  brow_colour = _mix(hair_colour, (20, 15, 10), 0.6)

  img = Image.new("RGB", (s, s), st.background)
  d = ImageDraw.Draw(img)

  # Hair layer: one flat colour.
  hair_layer = Image.new("RGB", (s, s), hair_colour)

  def paint_hair(*draw_masks):
    # One mask per layer of hair; pasting only its bounding box keeps this cheap.
    mask = Image.new("L", (s, s), 0)
    md = ImageDraw.Draw(mask)
    for draw_mask in draw_masks:
      draw_mask(md)
    bbox = mask.getbbox()
    if bbox:
      img.paste(hair_layer.crop(bbox), bbox, mask.crop(bbox))

  vol = st.hair_volume
  male, bald = a["Male"], a["Bald"]

  # Shoulders, neck.
  d.ellipse(box(-2.3, 1.25, 2.3, 3.6), fill=st.shirt_colour)
  d.rectangle(box(-0.36, 0.5, 0.36, 1.45), fill=shade)
  if a["Wearing_Necktie"]:
    d.polygon([p(-0.55, 1.22), p(0, 1.55), p(0.55, 1.22), p(0.5, 1.6), p(-0.5, 1.6)], fill=(245, 245, 245))
    d.polygon([p(-0.13, 1.5), p(0.13, 1.5), p(0.2, 2.4),
               p(0, 2.7), p(-0.2, 2.4)], fill=(150, 25, 35), outline=(60, 10, 15), width=w(0.02))
    d.polygon([p(-0.16, 1.42), p(0.16, 1.42), p(0.11, 1.58), p(-0.11, 1.58)], fill=(130, 20, 30))

  # Long hair behind the head (not for Male, not for Bald).
  if not male and not bald:
    paint_hair(
        lambda m: m.rounded_rectangle(box(-1.3 * vol, -1.15, 1.3 * vol, 1.5), radius=int(1.0 * fw), fill=255))

  # Ears and earrings.
  for sgn in (-1, 1):
    d.ellipse(box(sgn * 1.0 - 0.16, -0.28, sgn * 1.0 + 0.16, 0.22), fill=skin)
    if a["Wearing_Earrings"]:
      ex, ey = p(sgn * 1.0, 0.3)
      r = 0.1 * fw
      d.ellipse([ex - r, ey - r, ex + r, ey + r], fill=(235, 190, 40), outline=(150, 110, 10), width=w(0.015))

  # Face: an oval, with a squarer jaw when Male.
  if male:
    d.ellipse(box(-0.95, -1.0, 0.95, 0.7), fill=skin)
    d.rounded_rectangle(box(-0.93, -0.1, 0.93, 1.0), radius=int(0.45 * fw), fill=skin)
  else:
    d.ellipse(box(-0.9, -1.0, 0.9, 1.0), fill=skin)

  # Beard (No_Beard False): the jaw below the cheeks, in hair colour.
  if not a["No_Beard"]:

    def beard(m):
      if male:
        m.rounded_rectangle(box(-0.97, -0.1, 0.97, 1.08), radius=int(0.5 * fw), fill=255)
      else:
        m.ellipse(box(-0.95, -1.03, 0.95, 1.08), fill=255)
      m.rectangle(box(-1.1, -1.1, 1.1, 0.22), fill=0)
      m.ellipse(box(-0.42, 0.3, 0.42, 0.74), fill=0)  # skin around the lips

    paint_hair(beard)

  # Old age (Young False): forehead lines, eye bags, deep smile lines.
  if not a["Young"]:
    for v in (-0.66, -0.54):
      d.arc(box(-0.5, v, 0.5, v + 0.3), 200, 340, fill=wrinkle, width=w(0.05))
    for sgn in (-1, 1):
      d.arc(box(sgn * 0.38 - 0.24, -0.1, sgn * 0.38 + 0.24, 0.14), 15, 165, fill=wrinkle, width=w(0.045))
      d.line([p(sgn * 0.2, 0.12), p(sgn * 0.4, 0.34),
              p(sgn * 0.44, 0.56)], fill=wrinkle, width=w(0.055), joint="curve")

  # Rosy cheeks.
  if a["Rosy_Cheeks"]:
    cheek = _mix(skin, (235, 90, 110), 0.55)
    for sgn in (-1, 1):
      d.ellipse(box(sgn * 0.55 - 0.18, 0.08, sgn * 0.55 + 0.18, 0.34), fill=cheek)

  # Hair on the head, bangs and mustache: one layer above the face.
  layers = []
  if not bald:

    def top(m):
      if male:
        m.ellipse(box(-1.04 * vol, -1.18 * vol, 1.04 * vol, 0.25), fill=255)
        m.ellipse(box(-0.88, -0.72, 0.88, 1.8), fill=0)
      else:
        m.ellipse(box(-1.1 * vol, -1.22 * vol, 1.1 * vol, 0.6), fill=255)
        m.ellipse(box(-0.84, -0.7, 0.84, 1.9), fill=0)
      m.rectangle(box(-2, 0.2 if male else 0.6, 2, 3), fill=0)

    layers.append(top)
  else:  # a fringe of hair over the ears only

    def tufts(m):
      for sgn in (-1, 1):
        m.ellipse(box(sgn * 0.96 - 0.16, -0.5, sgn * 0.96 + 0.16, 0.05), fill=255)

    layers.append(tufts)
  if a["Bangs"]:

    def bangs(m):
      n = 7
      pts = [p(-0.86, -0.42), p(-0.82, -0.85), p(0, -1.02), p(0.82, -0.85), p(0.86, -0.42)]
      for j in range(n, -1, -1):  # zig-zag bottom edge, right to left
        u = -0.86 + 1.72 * j / n
        pts.append(p(u, -0.36 if j % 2 == 0 else -0.5))
      m.polygon(pts, fill=255)

    layers.append(bangs)
  if a["Mustache"]:
    layers.append(lambda m: m.polygon(
        [p(-0.42, 0.43), p(-0.3, 0.3),
         p(0, 0.27), p(0.3, 0.3),
         p(0.42, 0.43), p(0, 0.37)], fill=255))
  paint_hair(*layers)

  # Eyes.
  ey_half = 0.05 if a["Narrow_Eyes"] else 0.11
  ew = 0.2
  for sgn in (-1, 1):
    ex = sgn * 0.38
    if a["Heavy_Makeup"]:
      d.ellipse(box(ex - ew * 1.25, -0.12 - 0.26, ex + ew * 1.25, -0.12 + 0.06), fill=st.makeup_colour)
    d.ellipse(box(ex - ew, -0.12 - ey_half, ex + ew, -0.12 + ey_half), fill=(250, 250, 250),
              outline=(20, 15, 15), width=w(0.06 if a["Heavy_Makeup"] else 0.02))
    ir = min(0.1, ey_half * 0.95)
    d.ellipse(box(ex - ir * fh / fw, -0.12 - ir, ex + ir * fh / fw, -0.12 + ir), fill=st.eye_colour)
    pr = ir * 0.45
    d.ellipse(box(ex - pr * fh / fw, -0.12 - pr, ex + pr * fh / fw, -0.12 + pr), fill=(10, 10, 10))
    if not male:  # eyelashes
      for t in (-0.7, 0.0, 0.7):
        x0, y0 = p(ex + t * ew * 0.8, -0.12 - ey_half * 0.9)
        x1, y1 = p(ex + t * ew * 1.1, -0.12 - ey_half - 0.07)
        d.line([x0, y0, x1, y1], fill=(20, 15, 15), width=w(0.025))
    # Eyebrows.
    if a["Bushy_Eyebrows"]:
      d.line([p(ex - 0.25, -0.33), p(ex, -0.41), p(ex + 0.25, -0.33)], fill=brow_colour, width=w(0.11),
             joint="curve")
    else:
      d.line([p(ex - 0.2, -0.34), p(ex, -0.4), p(ex + 0.2, -0.34)], fill=brow_colour, width=w(0.04),
             joint="curve")

  # Nose.
  if a["Big_Nose"]:
    d.polygon([p(0, -0.14), p(0.21, 0.26), p(-0.21, 0.26)], fill=shade)
  else:
    d.polygon([p(0, -0.04), p(0.08, 0.22), p(-0.08, 0.22)], fill=shade)

  # Mouth.
  lip = (st.lipstick_colour if a["Wearing_Lipstick"] else _mix(skin, (120, 35, 40), 0.55))
  lip_w = w(0.07 if a["Wearing_Lipstick"] else 0.035)
  if a["Smiling"]:
    mb = box(-0.36, 0.22, 0.36, 0.72)
    d.chord(mb, 0, 180, fill=(90, 20, 25))
    d.chord(box(-0.3, 0.25, 0.3, 0.6), 0, 180, fill=(250, 250, 250))
    d.arc(mb, 0, 180, fill=lip, width=lip_w)
    d.line([p(-0.36, 0.47), p(0.36, 0.47)], fill=lip, width=lip_w)
  else:
    if a["Wearing_Lipstick"]:
      d.ellipse(box(-0.26, 0.44, 0.26, 0.62), fill=lip)
      d.line([p(-0.26, 0.53), p(0.26, 0.53)], fill=(90, 10, 25), width=w(0.02))
    else:
      d.line([p(-0.24, 0.54), p(0.24, 0.54)], fill=lip, width=w(0.05))

  # Eyeglasses: two frames, a bridge and the temples to the ears.
  if a["Eyeglasses"]:
    gw, gh, gc = 0.3, 0.2, st.glasses_colour
    fwid = w(0.05)
    for sgn in (-1, 1):
      ex = sgn * 0.38
      fb = box(ex - gw, -0.12 - gh, ex + gw, -0.12 + gh)
      if st.glasses_round:
        d.ellipse(fb, outline=gc, width=fwid)
      else:
        d.rounded_rectangle(fb, radius=int(0.06 * fw), outline=gc, width=fwid)
      d.line([p(sgn * (0.38 + gw), -0.16), p(sgn * 0.98, -0.2)], fill=gc, width=fwid)
    d.line([p(-0.08, -0.14), p(0.08, -0.14)], fill=gc, width=fwid)

  # Hat on top of everything.
  if a["Wearing_Hat"]:
    hc = st.hat_colour
    band = _mix(hc, (0, 0, 0), 0.4)
    if st.hat_kind == 0:  # beanie
      d.chord(box(-1.1, -1.45, 1.1, -0.05), 180, 360, fill=hc)
      d.rounded_rectangle(box(-1.12, -0.8, 1.12, -0.55), radius=int(0.1 * fw), fill=band)
    elif st.hat_kind == 1:  # brimmed hat
      d.rounded_rectangle(box(-0.78, -1.65, 0.78, -0.6), radius=int(0.2 * fw), fill=hc)
      d.rectangle(box(-0.78, -0.9, 0.78, -0.72), fill=band)
      d.ellipse(box(-1.55, -0.78, 1.55, -0.5), fill=hc)
    else:  # cap with a visor
      d.chord(box(-1.05, -1.42, 1.05, -0.25), 180, 360, fill=hc)
      d.chord(box(-1.3, -1.0, 0.6, -0.55), 0, 180, fill=band)
  return img


def render_batch(indices: Sequence[int], *, seed: int = 0, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
  """Renders several dataset indices.

  Returns:
    (images uint8 [n, size, size, 3], attributes bool [n, 40]).
  """
  indices = np.asarray(indices, np.int64).reshape(-1)
  images = np.empty((len(indices), size, size, 3), np.uint8)
  for j, i in enumerate(indices):
    images[j], _ = render_index(int(i), seed=seed, size=size)
  return images, sample_attributes(indices, seed=seed)

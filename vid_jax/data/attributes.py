"""CelebA's 40 binary attribute names, in the order tfds `celeb_a` uses, and the names a run conditions on."""

ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)
NUM_ATTRIBUTES = len(ATTRIBUTE_NAMES)
ATTRIBUTE_INDEX = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}
# CelebA's hair colours, in practice exclusive there and exclusive in the built-in avatars: a
# request for several becomes the first one asked for (exclusive_request), samplers draw one.
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")


def parse_attribute_list(text: str) -> tuple[str, ...]:
  """'Smiling, Eyeglasses' -> ('Smiling', 'Eyeglasses'): comma-separated names, blanks dropped."""
  return tuple(a.strip() for a in text.split(",") if a.strip())


def attribute_names(config) -> tuple[str, ...]:
  """The attribute names a run config conditions on (empty for unconditional models)."""
  if not config.model.conditional:
    return ()
  return parse_attribute_list(config.model.attributes)


def exclusive_columns(names) -> tuple[int, ...]:
  """Columns of `names` that hold the hair colours (at most one True per sample); () if < 2."""
  cols = tuple(i for i, n in enumerate(names) if n in HAIR_COLOURS)
  return cols if len(cols) > 1 else ()


def exclusive_request(wanted, unwanted) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
  """One hair colour per request: (wanted, unwanted, note).

  Several hair colours in `wanted` keep the first one asked for; a wanted hair colour adds the
  other hair colours to `unwanted` (models trained on exclusive colours never saw two at once).
  `note` says what changed (None when nothing did), for the tools to print.
  """
  wanted, unwanted = tuple(wanted), tuple(unwanted)
  hair = [a for a in wanted if a in HAIR_COLOURS]
  if not hair:
    return wanted, unwanted, None
  note = None
  if len(hair) > 1:
    note = (f"one hair colour per avatar: {', '.join(hair)} were asked for, {hair[0]} is used "
            f"(the first named)")
    wanted = tuple(a for a in wanted if a not in HAIR_COLOURS or a == hair[0])
  unwanted += tuple(a for a in HAIR_COLOURS if a != hair[0] and a not in unwanted)
  return wanted, unwanted, note

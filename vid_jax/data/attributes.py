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


def parse_attribute_list(text: str) -> tuple[str, ...]:
  """'Smiling, Eyeglasses' -> ('Smiling', 'Eyeglasses'): comma-separated names, blanks dropped."""
  return tuple(a.strip() for a in text.split(",") if a.strip())


def attribute_names(config) -> tuple[str, ...]:
  """The attribute names a run config conditions on (empty for unconditional models)."""
  if not config.model.conditional:
    return ()
  return parse_attribute_list(config.model.attributes)

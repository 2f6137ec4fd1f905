r"""Designs virtual identities (avatar, cover, nickname, bio) from a person's wishes.

  python tools/design.py --out=me/          # every model flag defaults to the shipped zoo (zoo/, vid_jax/zoo.py)
  python tools/design.py --workdir=runs/cdcgan --classifier_workdir=runs/classifier \
      --nickname_workdir=runs/nickname --locale=zh_CN --keywords=猫,摄影 --attrs=Smiling,Eyeglasses \
      --not=Wearing_Hat --style=cartoon --num=4 --seed=7 --out=me/ [--taken=handles.txt]
  python tools/design.py --from_image=me.jpg --attrs=Eyeglasses --out=me/   # the avatar from a photo (zoo:encoder)

Writes NNN/{avatar.png, avatar_256.png, cover.png, identity.json}, identities.json and a
self-contained index.html into --out (docs/identity.md). The same flags give the same files.
"""
import sys

from absl import app
from absl import flags
from absl import logging

from vid_jax.data import photos
from vid_jax.data.attributes import exclusive_request
from vid_jax.errors import UserError
from vid_jax.identity import avatar as avatar_lib
from vid_jax.identity import cards
from vid_jax.identity import designer
from vid_jax.identity import locales as locales_lib

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "workdir", "zoo:avatar_gan",
    "Conditional GAN: a training workdir or a zoo entry (default: the shipped zoo:avatar_gan).")
flags.DEFINE_string(
    "classifier_workdir", "zoo:classifier",
    "Attribute classifier: a workdir or a zoo entry (default: the shipped zoo:classifier); '' = none "
    "(no refinement, no predicted attributes).")
flags.DEFINE_string(
    "nickname_workdir", "zoo:nickname",
    "Nickname model: a workdir (tools/train_nickname.py) or a zoo entry (default: zoo:nickname).")
flags.DEFINE_list(
    "locale", ["en_US"], f"Locale(s), one of {', '.join(locales_lib.LOCALES)}; "
    "with several, identities take them in turn.")
flags.DEFINE_list("keywords", [], "Interests or theme words, in the locale's script or Latin (<= 8).")
flags.DEFINE_list("attrs", [], "CelebA attributes the avatar should have, e.g. Smiling,Eyeglasses.")
flags.DEFINE_list("not", [], "CelebA attributes the avatar should not have, e.g. Wearing_Hat.")
flags.DEFINE_string("style", "none", f"Look of avatar and cover: {', '.join(avatar_lib.STYLES)}.")
flags.DEFINE_integer("num", 4, "Identities to design.")
flags.DEFINE_integer("seed", 0, "Seed: the same flags and seed give the same identities.")
flags.DEFINE_string("out", None, "Output folder (new, empty, or an earlier design to replace).")
flags.DEFINE_string("taken", "", "A file of handles already taken (one per line); never proposed.")
flags.DEFINE_enum(
    "cover", designer.cover_lib.DEFAULT_MODE, list(designer.COVER_MODES),
    "Cover: pattern (seeded by the handle, in the avatar's palette) or tiles (neighbouring "
    "latents of the avatar, seams optimised by gradient descent, then feathered).")
flags.DEFINE_integer(
    "refine_budget", designer.REFINE_BUDGET, "Generator evaluations per avatar for the RL refiner over z "
    "(0 = off; needs a classifier).")
flags.DEFINE_string(
    "from_image", "", "A photo (or avatar) to start from: the avatar is the GAN's nearest "
    "one (tools/encode.py's inversion), with --attrs/--not as edits.")
flags.DEFINE_string(
    "encoder_workdir", "zoo:encoder",
    "Encoder of the avatar GAN for --from_image: a tools/train_encoder.py workdir or a zoo entry.")
flags.DEFINE_integer("reference_images", designer.REFERENCE_IMAGES,
                     "Training images the originality check compares with (0 = off).")


def read_taken(path: str) -> frozenset:
  """Handles in a text file, one per line (case-insensitive, '@' optional)."""
  if not path:
    return frozenset()
  try:
    with open(path, encoding="utf-8") as f:
      return frozenset(line.strip().lstrip("@").lower() for line in f if line.strip())
  except (OSError, UnicodeDecodeError) as e:
    raise UserError(
        f"--taken={path} cannot be read ({e}); give a UTF-8 text file, one handle per line") from e


def run():
  if not FLAGS.out:
    raise UserError("--out is required: the folder for the identity cards, e.g. --out=me/")
  out = cards.check_out_dir(FLAGS.out)
  taken = read_taken(FLAGS.taken)
  for loc in FLAGS.locale:  # cheap checks before any model loads
    locales_lib.check_locale(loc)
  models = designer.load_designer_models(workdir=FLAGS.workdir, classifier_workdir=FLAGS.classifier_workdir,
                                         nickname_workdir=FLAGS.nickname_workdir,
                                         reference_images=FLAGS.reference_images,
                                         encoder_workdir=FLAGS.encoder_workdir if FLAGS.from_image else "")
  photo = None
  if FLAGS.from_image:
    inputs = photos.read_inputs(FLAGS.from_image, size=models.avatar.resolution)
    if len(inputs.images) != 1:
      raise UserError(f"--from_image={FLAGS.from_image} holds {len(inputs.images)} images; give one image "
                      "(tools/encode.py takes folders)")
    for n in inputs.notes:
      print(f"note: {n}", file=sys.stderr)
    photo = inputs.images[0]
  wishes = designer.make_wishes(models, locales=FLAGS.locale, keywords=FLAGS.keywords, attrs=FLAGS.attrs,
                                avoid=getattr(FLAGS, "not"), style=FLAGS.style, num=FLAGS.num,
                                seed=FLAGS.seed, taken=taken, cover_mode=FLAGS.cover,
                                refine_budget=FLAGS.refine_budget, photo=photo, photo_name=FLAGS.from_image)
  note = exclusive_request(FLAGS.attrs, getattr(FLAGS, "not"))[2]
  if note:
    print(f"note: {note}", file=sys.stderr)
  design = designer.design_identities(models, wishes)
  cards.write_design(out, design)
  st = design.stats
  print(f"wrote {len(design.identities)} identities to {out} (open {out}/index.html); "
        f"nickname rejection rate {st['nickname']['rejection_rate']:.3f}, "
        f"{st['avatars_resampled']} avatar(s) redrawn as near-copies, "
        f"{st['timings_ms_per_identity']['total']:.0f} ms per identity")


def main(argv):
  if len(argv) > 1:
    print(f"error: unexpected arguments {argv[1:]}; every input is a --flag (see --help)", file=sys.stderr)
    sys.exit(2)
  if not FLAGS["verbosity"].present:  # orbax logs every restore at INFO
    logging.set_verbosity(logging.WARNING)
  try:
    run()
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)

"""The locales the identity designer speaks, and checks on them (one place for every part)."""
from vid_jax.errors import UserError

LOCALES = ("en_US", "zh_CN", "ja_JP")  # order = the nickname model's locale-token ids


def check_locale(locale: str) -> str:
  """Returns `locale` if the designer knows it; otherwise a UserError naming the known ones."""
  if locale not in LOCALES:
    raise UserError(f"--locale={locale!r} is unknown; use one of {', '.join(LOCALES)}")
  return locale


def locale_id(locale: str) -> int:
  """The integer id of a known locale (its position in LOCALES)."""
  return LOCALES.index(check_locale(locale))

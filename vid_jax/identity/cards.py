"""Identity cards on disk: NNN/{avatar.png, avatar_256.png, cover.png, identity.json}, identities.json
and a self-contained index.html (images inlined as data URIs, so it opens from disk with no server).

Everything is written into a fresh folder beside `out` and moved into place at the end, so a failure
leaves `out` as it was.
"""
import base64
import html
import io
import json
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from vid_jax.errors import UserError

AVATAR_UPSCALE = 256  # side of the upscaled avatar (nearest neighbour keeps the pixels crisp)
MARKER = "identities.json"  # an `out` holding this is a previous design and may be replaced


def check_out_dir(out: str) -> str:
  """`out` as an absolute path that can be written; UserError (nothing written) otherwise."""
  if not out:
    raise UserError("--out is empty; give a folder for the identity cards, e.g. --out=me/")
  out = os.path.abspath(out)
  if os.path.exists(out) and not os.path.isdir(out):
    raise UserError(f"--out={out} is a file; give a folder")
  if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, MARKER)):
    raise UserError(
        f"--out={out} is a non-empty folder that holds no earlier design; give a new or empty folder")
  parent = os.path.dirname(out)
  try:
    os.makedirs(parent, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=parent, prefix=".vid_write_check"):
      pass
  except OSError as e:
    raise UserError(f"--out={out} cannot be written ({e.strerror}); choose a folder you can write") from e
  return out


def png_bytes(image: np.ndarray) -> bytes:
  """uint8 [H, W, 3] -> PNG bytes (deterministic: no timestamps or text chunks)."""
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="PNG", optimize=False)
  return buf.getvalue()


def upscale(image: np.ndarray, side: int = AVATAR_UPSCALE) -> np.ndarray:
  """uint8 [R, R, 3] -> uint8 [side, side, 3] by nearest neighbour."""
  return np.asarray(Image.fromarray(image).resize((side, side), Image.NEAREST))


def dumps(record) -> str:
  return json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_design(out: str, design) -> list[str]:
  """Writes a `designer.Design` into `out` atomically; returns the identity folders' names."""
  out = check_out_dir(out)
  parent = os.path.dirname(out)
  tmp = tempfile.mkdtemp(dir=parent, prefix=".vid_design_")
  try:
    folders = []
    cards = []
    for i, record in enumerate(design.identities):
      name = f"{i:03d}"
      folder = os.path.join(tmp, name)
      os.makedirs(folder)
      files = {
          "avatar.png": png_bytes(design.avatars[i]),
          "avatar_256.png": png_bytes(upscale(design.avatars[i])),
          "cover.png": png_bytes(design.covers[i])
      }
      for fname, data in files.items():
        with open(os.path.join(folder, fname), "wb") as f:
          f.write(data)
      with open(os.path.join(folder, "identity.json"), "w", encoding="utf-8") as f:
        f.write(dumps(record))
      folders.append(name)
      cards.append((name, record, files["avatar_256.png"], files["cover.png"]))
    with open(os.path.join(tmp, MARKER), "w", encoding="utf-8") as f:
      f.write(dumps({"identities": design.identities, "stats": design.stats}))
    with open(os.path.join(tmp, "index.html"), "w", encoding="utf-8") as f:
      f.write(render_index(cards, design.stats))
    old = None
    if os.path.exists(out):
      old = tempfile.mkdtemp(dir=parent, prefix=".vid_old_")
      os.rename(out, os.path.join(old, "out"))
    os.rename(tmp, out)
    if old:
      shutil.rmtree(old, ignore_errors=True)
    return folders
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def _data_uri(png: bytes) -> str:
  return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","Noto Sans CJK JP",sans-serif;
background:#eef0f3;margin:0;padding:24px;color:#1d232b}
h1{font-size:20px;margin:0 0 4px}p.sub{margin:0 0 20px;color:#5b6470;font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(384px,1fr));gap:18px}
.card{background:#fff;border-radius:12px;overflow:hidden;box-shadow:0 1px 4px rgba(0,0,0,.12)}
.cover{width:100%;aspect-ratio:3/1;display:block;object-fit:cover}
.head{display:flex;gap:12px;padding:0 16px;margin-top:-44px;align-items:flex-end}
.avatar{width:88px;height:88px;border-radius:50%;border:4px solid #fff;image-rendering:pixelated;background:#fff}
.names{padding-bottom:4px}.display{font-weight:700;font-size:18px}.handle{color:#5b6470;font-size:14px}
.bio{padding:10px 16px 4px;font-size:14px;line-height:1.45}
.meta{padding:4px 16px 14px;font-size:11px;color:#8a929c}
"""


def render_index(cards, stats) -> str:
  """The index page: one card per identity (cover, avatar over it, nickname, handle, bio)."""
  items = []
  for name, record, avatar_png, cover_png in cards:
    nick, bio = record["nickname"], record["bio"]
    attrs = ", ".join(record["request"]["attrs"]) or "—"
    items.append(
        f'<div class="card" id="id{name}"><img class="cover" alt="cover" src="{_data_uri(cover_png)}">'
        f'<div class="head"><img class="avatar" alt="avatar" src="{_data_uri(avatar_png)}">'
        f'<div class="names"><div class="display">{html.escape(nick["display"])}</div>'
        f'<div class="handle">@{html.escape(nick["handle"])}</div></div></div>'
        f'<div class="bio">{html.escape(bio["text"])}</div>'
        f'<div class="meta">{name} · {html.escape(record["locale"])} · attrs: {html.escape(attrs)} · '
        f'style: {html.escape(record["avatar"]["style"])}</div></div>')
  n = len(cards)
  sub = (f"{n} identities · nickname rejection rate "
         f"{stats.get('nickname', {}).get('rejection_rate', 0):.2f}")
  return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
          f"<title>vid_jax identities</title><style>{_CSS}</style></head><body>"
          f"<h1>Virtual identities</h1><p class=\"sub\">{html.escape(sub)}</p>"
          f"<div class=\"grid\">{''.join(items)}</div></body></html>\n")

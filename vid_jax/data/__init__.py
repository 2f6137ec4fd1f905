"""Data sources and loaders.

  src = data.make_source("avatars", size=64)             # or tfds:celeb_a, folder:PATH
  src = data.make_source("avatars", size=64, cache_dir=DIR)  # prepared cache
  it = data.make_loader(src, global_batch_size=256, seed=0)
  batch = next(it)  # {"image": uint8 [B, 64, 64, 3], "attributes": bool [B, 40]}
  x = data.to_float(batch["image"])  # on the device: float32 in [-1, 1]
"""
from vid_jax.data.attributes import ATTRIBUTE_NAMES, ATTRIBUTE_INDEX, NUM_ATTRIBUTES
from vid_jax.data.avatar_attributes import DRAWN_ATTRIBUTES, UNDRAWN_ATTRIBUTES
from vid_jax.data.avatar_source import AvatarSource
from vid_jax.data.avatars import render_avatar, render_index
from vid_jax.data.cache import CacheSource, make_source, prepare_command, read_manifest, verify_cache
from vid_jax.data.cache_writer import write_cache
from vid_jax.data.celeba import CelebASource
from vid_jax.data.folder import FolderSource
from vid_jax.data.loader import Loader, make_loader, to_float, to_uint8
from vid_jax.data.sources import Source

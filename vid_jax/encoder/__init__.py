"""The self-supervised encoder of the conditional GAN: training, loading, editing (docs/encoder.md).

  enc = load_encoder("runs/encoder")                 # or zoo:encoder
  result = refiners.invert(images, encoder=enc)      # z, y, reconstructions
  z, y = apply_edits(result.z, result.y, parse_edits("+Eyeglasses"), g_names=enc.frozen.g_names,
                     directions=enc.directions)
"""
from vid_jax.encoder.bundle import EncoderModels, load_encoder
from vid_jax.encoder.directions import Directions, apply_edits, check_edits, fit_directions, parse_edits
from vid_jax.encoder.frozen import Frozen, load_frozen

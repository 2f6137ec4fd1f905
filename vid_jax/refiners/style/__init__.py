"""Style-transfer refiner: classic looks and neural style transfer.

  image_ops.py   colour spaces (`rgb_to_lab`, `lab_to_rgb`), `luminance`, blur, Sobel edges.
  filters.py     classic looks, pure jittable batched functions on float [B, H, W, 3] in [-1, 1]:
                 `sketch`, `cartoon`, `pixel_art`, `reinhard`, `posterize`, `duotone`.
  extractors.py  feature extractors for neural style (`get_extractor`, `random_extractor`,
                 `vgg19_extractor`, `discriminator_extractor`, `feature_extractor`).
  losses.py      content, Gram / AdaIN style and total-variation losses.
  neural.py      neural style transfer: the optax-style factory `neural_style_transform`,
                 `neural_style`, `neural_style_multi`, `neural_style_runner`.
  runner.py      `stylize(images, spec, ...)`: a look named by string (tools/stylize.py).

Public names are re-exported here and from `vid_jax.refiners`. See docs/style.md for the looks,
the extractors and measured speed.
"""

from vid_jax.refiners.style.extractors import (Extractor, discriminator_extractor, feature_extractor,
                                               get_extractor, random_extractor, vgg19_extractor)
from vid_jax.refiners.style.filters import (CLASSIC_STYLES, cartoon, duotone, pixel_art, posterize, reinhard,
                                            sketch)
from vid_jax.refiners.style.image_ops import (gaussian_blur, lab_to_rgb, luminance, rgb_to_lab,
                                              sobel_magnitude)
from vid_jax.refiners.style.losses import (adain_loss, content_loss, content_loss_value, gram_loss,
                                           gram_matrix, style_loss_value, total_variation)
from vid_jax.refiners.style.neural import (NeuralStyle, NeuralStyleState, neural_style, neural_style_multi,
                                           neural_style_runner, neural_style_transform)
from vid_jax.refiners.style.runner import STYLE_NAMES, stylize

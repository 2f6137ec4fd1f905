"""Refiners as pure JAX transforms: adversarial examples, style transfer, RL over the latent space."""
from vid_jax.refiners import style
from vid_jax.refiners.style import (CLASSIC_STYLES, STYLE_NAMES, Extractor,
                                    NeuralStyle, NeuralStyleState, cartoon,
                                    content_loss_value, discriminator_extractor,
                                    duotone, get_extractor, lab_to_rgb,
                                    neural_style, neural_style_multi,
                                    neural_style_runner, neural_style_transform,
                                    pixel_art, posterize, random_extractor,
                                    reinhard, rgb_to_lab, sketch,
                                    style_loss_value, stylize, vgg19_extractor)

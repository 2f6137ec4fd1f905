"""Refiners as pure JAX transforms: adversarial examples, style transfer, RL over the latent space, GAN
inversion (`invert`, `autoencode`: the encoder's VAE with the generator as decoder)."""
from vid_jax.refiners import style
from vid_jax.refiners.style import (CLASSIC_STYLES, STYLE_NAMES, Extractor, NeuralStyle, NeuralStyleState,
                                    cartoon, content_loss_value, discriminator_extractor, duotone,
                                    get_extractor, lab_to_rgb, neural_style, neural_style_multi,
                                    neural_style_runner, neural_style_transform, pixel_art, posterize,
                                    random_extractor, reinhard, rgb_to_lab, sketch, style_loss_value, stylize,
                                    vgg19_extractor)
from vid_jax.refiners import rl
from vid_jax.refiners.rl import (METHODS, Refiner, RefineResult, Request, amortized, amortized_refiner,
                                 attribute_vector, best_of_n, combine, evolution_strategies,
                                 fit_preference_model, gradient_ascent, make_refine_fn, make_request,
                                 model_task, refine, refine_requests, reinforce, train_amortized)
from vid_jax.refiners import adversarial
from vid_jax.refiners.adversarial import (away_from_attribute_loss, cross_entropy_loss, d_input_attributes,
                                          d_misclassification_loss, d_robustness_report,
                                          fakes_called_real_loss, fgsm, num_perturbed, perturb_d_inputs, pgd,
                                          reals_called_fake_loss, robustness_curve, toward_attribute_loss)
from vid_jax.refiners import gan_inversion
from vid_jax.refiners.gan_inversion import (Inversion, InversionResult, InversionState, autoencode, invert,
                                            inversion, inversion_loss)

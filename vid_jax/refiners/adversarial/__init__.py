"""Adversarial refiner: FGSM and PGD as pure JAX transforms, and their uses.

  attacks.py     `pgd`, `fgsm` on any per-example loss, inside an L-inf or L2 eps-ball.
  objectives.py  losses to maximise: D fooled either way, an attribute pushed, cross-entropy.
  training.py    adversarial training of D (`perturb_d_inputs`, the `refiners.adversarial`
                 config section's checks).
  robustness.py  D's accuracy under attack over an eps grid (`robustness_curve`,
                 `d_robustness_report`; tools/robustness.py).

Images inside vid_jax are in [-1, 1], so every eps and step size is in that scale (an L-inf budget
of 2/255 in [0, 1] pixel units is eps = 4/255). See docs/adversarial.md.
"""
from vid_jax.refiners.adversarial.attacks import NORMS, LossFn, fgsm, pgd
from vid_jax.refiners.adversarial.objectives import (away_from_attribute_loss, cross_entropy_loss,
                                                     d_misclassification_loss, fakes_called_real_loss,
                                                     reals_called_fake_loss, toward_attribute_loss)
from vid_jax.refiners.adversarial.robustness import d_accuracy, d_robustness_report, robustness_curve
from vid_jax.refiners.adversarial.training import (d_input_attributes, default_config, hparams_from_config,
                                                   num_perturbed, perturb_d_inputs, validate_config)

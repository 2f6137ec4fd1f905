"""The classifier's train step: augmentation per image, and one step on a tiny batch."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vid_jax import classifier_step
from vid_jax.models import classifier as clf_lib


def test_augment_blurs_and_adds_noise_per_image():
  key = jax.random.key(0)
  x = jnp.asarray(np.random.default_rng(0).uniform(-0.5, 0.5, (64, 16, 16, 3)), jnp.float32)
  np.testing.assert_array_equal(classifier_step.augment(key, x, blur_max=0.0, noise_max=0.0), x)
  noisy = np.asarray(classifier_step.augment(key, x, blur_max=0.0, noise_max=0.2))
  std = (noisy - np.asarray(x)).reshape(64, -1).std(1)
  assert std.max() < 0.22 and std.min() < 0.05 < 0.15 < std.max()  # std ~ U(0, 0.2) per image
  blurred = np.asarray(classifier_step.augment(key, x, blur_max=1.5, noise_max=0.0))
  # Blurring white noise lowers its variance, more for a larger sigma: per-image, not one sigma.
  var = blurred.reshape(64, -1).var(1) / np.asarray(x).reshape(64, -1).var(1)
  assert var.min() < 0.2 and var.max() > 0.8
  np.testing.assert_array_equal(blurred, classifier_step.augment(key, x, blur_max=1.5, noise_max=0.0))


def test_step_updates_variables_and_fits_a_fixed_batch():
  module = clf_lib.AttributeClassifier(num_attributes=5, width=4, feature_dim=8)
  variables = module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)), train=False)
  tx = optax.adam(1e-2)
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8))  # [B, R, R, 3]
  labels = jnp.asarray(rng.random((8, 5)) < 0.5)  # [B, A]
  step = jax.jit(classifier_step.make_train_step(module, tx))
  opt_state = tx.init(variables["params"])
  new, opt_state, first = step(variables, opt_state, images, labels, jax.random.key(1))
  assert set(first) == {"loss", "accuracy"} and 0.0 <= float(first["accuracy"]) <= 1.0
  changed = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), new, variables)
  assert all(jax.tree.leaves(changed["params"])) and any(jax.tree.leaves(changed["batch_stats"]))
  for i in range(30):
    new, opt_state, metrics = step(new, opt_state, images, labels, jax.random.key(i))
  assert float(metrics["loss"]) < 0.5 * float(first["loss"])  # one batch is memorised

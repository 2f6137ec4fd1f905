"""The attribute classifier's pure train step: augmentation, BCE loss, one Adam update."""
import jax
import jax.numpy as jnp
import optax

from vid_jax.models.classifier import AttributeClassifier, gaussian_blur


def _bce(logits, labels):
  return optax.sigmoid_binary_cross_entropy(logits, labels).mean()


def augment(key, x, *, blur_max: float, noise_max: float):
  """The degradations GAN samples show, for a classifier that judges them: per image a Gaussian
  blur with sigma ~ U(0, blur_max) px and Gaussian noise with std ~ U(0, noise_max); x in [-1, 1]."""
  k_blur, k_std, k_noise = jax.random.split(key, 3)
  b = x.shape[0]
  if blur_max > 0:
    x = gaussian_blur(x, jax.random.uniform(k_blur, (b,), maxval=blur_max))
  if noise_max > 0:
    std = jax.random.uniform(k_std, (b, 1, 1, 1), maxval=noise_max)
    x = jnp.clip(x + std * jax.random.normal(k_noise, x.shape), -1.0, 1.0)
  return x


def make_train_step(module: AttributeClassifier, tx: optax.GradientTransformation, *, blur_max: float = 0.0,
                    noise_max: float = 0.0):
  """(variables, opt_state, images uint8 [B,R,R,3], labels bool [B,A], key)
  -> (variables, opt_state, metrics).

  With `blur_max` / `noise_max` > 0 the training images are augmented (`augment`) with `key`.
  """

  def step(variables, opt_state, images, labels, key):
    x = augment(key, images.astype(jnp.float32) / 127.5 - 1.0, blur_max=blur_max, noise_max=noise_max)
    y = labels.astype(jnp.float32)

    def loss_fn(params):
      logits, updates = module.apply({
          "params": params,
          "batch_stats": variables["batch_stats"]
      }, x, train=True, mutable=["batch_stats"])
      return _bce(logits, y), (logits, updates["batch_stats"])

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])
    updates, opt_state = tx.update(grads, opt_state, variables["params"])
    params = optax.apply_updates(variables["params"], updates)
    accuracy = jnp.mean((logits > 0) == labels)
    return {"params": params, "batch_stats": batch_stats}, opt_state, {"loss": loss, "accuracy": accuracy}

  return step

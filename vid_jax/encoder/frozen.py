"""The frozen models an encoder works with: the conditional GAN (G decodes, D judges and gives
features) and the attribute classifier (it reads y off an image, and gives features).

Their variables are an argument of every function (`Frozen.variables()`), not constants baked
into the compiled code: one compile serves any weights of the same shapes.
"""
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from vid_jax import inference
from vid_jax.data.attributes import exclusive_columns
from vid_jax.errors import UserError
from vid_jax.models import classifier as classifier_lib


@dataclasses.dataclass(frozen=True)
class Frozen:
  """A conditional GAN's `inference.Models` and a `classifier.Classifier`, with the column maps."""
  gan: Any
  classifier: Any

  @property
  def z_dim(self) -> int:
    return self.gan.z_dim

  @property
  def resolution(self) -> int:
    return self.gan.resolution

  @property
  def g_names(self) -> tuple[str, ...]:
    """The attributes G is conditioned on, in its column order."""
    return tuple(self.gan.attribute_names)

  @property
  def c_names(self) -> tuple[str, ...]:
    """The classifier's attributes (CelebA's 40), in its logit order."""
    return tuple(self.classifier.attribute_names)

  def variables(self) -> dict:
    """{"g", "d", "c"}: the three models' variables, the first argument of the functions below."""
    return {"g": self.gan.g_variables, "d": self.gan.d_variables, "c": self.classifier.variables}

  def generate(self, v, z, y):
    """z [B, Z], y [B, A] -> images [B, R, R, 3] in [-1, 1] (the EMA generator, train=False)."""
    return self.gan.generator.apply(v["g"], z, y, train=False)

  def discriminate(self, v, images, y):
    """images [B, R, R, 3] in [-1, 1] -> (logits [B], D's per-stage feature maps)."""
    return self.gan.discriminator.apply(v["d"], images, y, train=False, return_features=True)

  def classify(self, v, images):
    """images [B, H, W, 3] (uint8, or float in [-1, 1]) -> (logits [B, 40], unit-scale features [B, F])."""
    c = self.classifier
    x = classifier_lib.images_to_float(images, c.resolution)
    logits, feats = c.module.apply(v["c"], x, train=False, return_features=True)
    return logits, feats / c.feature_scale

  def g_attributes(self, c_logits):
    """The classifier's reading as G's attribute vector: [B, 40] logits -> y [B, A] in {0, 1}.

    Each of G's attributes is present when its probability is > 0.5; of the hair colours (one per
    avatar, data.attributes.HAIR_COLOURS) only the most probable is kept.
    """
    cols = jnp.asarray([self.c_names.index(n) for n in self.g_names])
    logits = c_logits[:, cols]  # [B, A]
    y = (logits > 0).astype(jnp.float32)
    hair = exclusive_columns(self.g_names)
    if hair:
      h = jnp.asarray(hair)
      best = jax.nn.one_hot(jnp.argmax(logits[:, h], axis=-1), len(hair))
      y = y.at[:, h].set(y[:, h] * best)
    return y


def load_frozen(*, gan_workdir: str, classifier_workdir: str) -> Frozen:
  """The GAN and classifier of an encoder: workdirs or zoo entries (`zoo:avatar_gan`, `zoo:classifier`).

  Raises:
    UserError: a missing or unconditional GAN, a missing classifier, a classifier at another
      resolution or that lacks one of G's attributes.
  """
  gan = inference.load_models(gan_workdir)
  if not gan.attribute_names:
    raise UserError(f"--gan_workdir={gan_workdir} is an unconditional run; the encoder needs a conditional "
                    "GAN (configs/cdcgan_avatars.py, or zoo:avatar_gan)")
  classifier = classifier_lib.load_classifier(classifier_workdir)
  missing = [n for n in gan.attribute_names if n not in classifier.attribute_names]
  if missing:
    raise UserError(f"--classifier_workdir={classifier_workdir} does not predict {missing}, which "
                    f"--gan_workdir={gan_workdir} is conditioned on; train the classifier of "
                    "configs/classifier_avatars.py")
  return Frozen(gan=gan, classifier=classifier)

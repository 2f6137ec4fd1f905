"""The encoder's loss: named terms summed with config weights (losses.combine), each a mean over its
elements so that weights compare across resolutions and latent sizes.

  latent             ||mean(x) - z||^2, on G's samples x = G(z, y) (z known)
  pixel              ||G(z_q, y) - x||^2, z_q ~ q(z | x) (the VAE's reconstruction term)
  d_feature          ||phi_D(G(z_q, y)) - phi_D(x)||^2 over D's stages (a learned perceptual distance)
  classifier_feature ||phi_C(G(z_q, y)) - phi_C(x)||^2 in the classifier's unit-scale features
  adversarial        softplus(-D(G(z_q, y), y)): the reconstruction should look real to D
  kl                 KL(q(z | x) || N(0, I)) / z_dim: the prior term of the VAE
"""
import jax
import jax.numpy as jnp

from vid_jax import losses as losses_lib
from vid_jax.models.encoder import kl_to_prior, sample_posterior
from vid_jax.refiners.gan_inversion import d_feature_distance

TERMS = ("latent", "pixel", "d_feature", "classifier_feature", "adversarial", "kl")


def encoder_loss(params, *, encoder, frozen, fvars, key, x, y, z_true=None, weights):
  """The weighted sum of the terms with non-zero weight.

  Args:
    params: the encoder's params.
    encoder: the Encoder module.
    frozen: `encoder.frozen.Frozen`; `fvars` its variables (`Frozen.variables()`).
    key: PRNG key of the posterior sample.
    x: [B, R, R, 3] in [-1, 1]: the images to reconstruct.
    y: [B, A] in {0, 1}: G's attributes of each image (those it was drawn with, or the classifier's).
    z_true: [B, Z] the latents of G's samples (needed by `latent` only).
    weights: {term: weight} (TERMS).

  Returns:
    (loss scalar, {term: value} of the computed terms).
  """
  mean, log_var = encoder.apply({"params": params}, x)  # [B, Z] each
  z_q = sample_posterior(key, mean, log_var)
  recon = frozen.generate(fvars, z_q, y)  # [B, R, R, 3]

  def d_feature():
    _, fr = frozen.discriminate(fvars, recon, y)
    _, fx = frozen.discriminate(fvars, x, y)
    return jnp.mean(d_feature_distance(fr, jax.lax.stop_gradient(fx)))

  def classifier_feature():
    _, fr = frozen.classify(fvars, recon)
    _, fx = frozen.classify(fvars, x)
    return jnp.mean(jnp.square(fr - jax.lax.stop_gradient(fx)))

  def latent():
    if z_true is None:
      raise ValueError("the latent term needs z_true (G's samples)")
    return jnp.mean(jnp.square(mean - z_true))

  terms = {
      "latent":
          losses_lib.Term(latent),
      "pixel":
          losses_lib.Term(lambda: jnp.mean(jnp.square(recon - x))),
      "d_feature":
          losses_lib.Term(d_feature),
      "classifier_feature":
          losses_lib.Term(classifier_feature),
      "adversarial":
          losses_lib.Term(lambda: jnp.mean(jax.nn.softplus(-frozen.discriminate(fvars, recon, y)[0]))),
      "kl":
          losses_lib.Term(lambda: jnp.mean(kl_to_prior(mean, log_var)) / mean.shape[-1]),
  }
  return losses_lib.combine(terms, weights)

"""GAN inversion as a pure transform: Adam on z from the encoder's guess (IDInvert-style), and
`autoencode`, the VAE with the generator as its decoder.

  inv = inversion(loss_fn=..., steps=50, lr=0.05)     # optax-style factory
  z, loss = jax.vmap(inv.run)(z0, targets, ys)          # every image its own optimisation
  result = invert(images, encoder=load_encoder("zoo:encoder"), steps=50)
  reconstructions = autoencode(images, encoder=...)     # [B, R, R, 3] in [-1, 1]

The per-image loss (`inversion_loss`): pixel MSE + D-feature distance to the target + a term keeping
z near the encoder's code of G(z) (IDInvert's domain regulariser: the refined code stays where the
encoder, and so G's training distribution, puts such images).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from vid_jax.models.classifier import images_to_float
from vid_jax.models.encoder import sample_posterior


class InversionState(NamedTuple):
  z: jax.Array  # [Z]
  opt_state: Any


class Inversion(NamedTuple):
  """init(z0) -> state; update(state, target, y) -> (state, loss before the step); run(z0, target, y) ->
  (z after `steps` steps, its loss)."""
  init: Callable
  update: Callable
  run: Callable


def inversion(*, loss_fn: Callable, steps, lr: float) -> Inversion:
  """Adam on one image's latent.

  Args:
    loss_fn: (z [Z], target [R, R, 3], y [A]) -> scalar.
    steps: Adam steps of `run` (a lax.fori_loop; a traced int compiles one loop for every count).
    lr: Adam's learning rate.
  """
  tx = optax.adam(lr)

  def init(z0):
    return InversionState(z=z0, opt_state=tx.init(z0))

  def update(state, target, y):
    loss, grad = jax.value_and_grad(loss_fn)(state.z, target, y)
    updates, opt_state = tx.update(grad, state.opt_state, state.z)
    return InversionState(z=optax.apply_updates(state.z, updates), opt_state=opt_state), loss

  def run(z0, target, y):
    state, _ = jax.lax.fori_loop(0, steps, lambda _, c: update(c[0], target, y), (init(z0), jnp.zeros(())))
    return state.z, loss_fn(state.z, target, y)

  return Inversion(init=init, update=update, run=run)


def d_feature_distance(feats_a, feats_b):
  """Mean over D's stages of the mean squared difference of their feature maps: [B] (a learned
  perceptual distance; also the encoder's d_feature term)."""
  per_stage = [jnp.mean(jnp.square(a - b), axis=(1, 2, 3)) for a, b in zip(feats_a, feats_b)]
  return sum(per_stage) / len(per_stage)


def inversion_loss(z, target, y, *, models, params, fvars, weights: dict):
  """One image's inversion loss: weights["pixel"] * MSE + weights["d_feature"] * D-feature distance +
  weights["encoder"] * ||z - mean(E(G(z)))||^2 / Z. z [Z], target [R, R, 3] in [-1, 1], y [A]."""
  frozen = models.frozen
  image = frozen.generate(fvars, z[None], y[None])  # [1, R, R, 3]
  loss = weights["pixel"] * jnp.mean(jnp.square(image - target[None]))
  if weights["d_feature"]:
    _, fi = frozen.discriminate(fvars, image, y[None])
    _, ft = frozen.discriminate(fvars, target[None], y[None])
    loss = loss + weights["d_feature"] * d_feature_distance(fi, ft)[0]
  if weights["encoder"]:
    mean, _ = models.module.apply({"params": params}, image)
    loss = loss + weights["encoder"] * jnp.mean(jnp.square(z - jax.lax.stop_gradient(mean[0])))
  return loss


class InversionResult(NamedTuple):
  z: jax.Array  # [B, Z] the refined (or encoder's) latents
  y: jax.Array  # [B, A] G's attributes, the classifier's reading of the input
  reconstructions: jax.Array  # [B, R, R, 3] in [-1, 1]
  loss: jax.Array  # [B] each image's inversion loss at z


@functools.lru_cache(maxsize=16)
def _invert_fn(models, lr: float, weights: tuple):
  """The jitted inversion of an encoder bundle (cached per bundle and settings; `steps` is an argument)."""
  w = dict(weights)
  frozen = models.frozen

  @jax.jit
  def run(params, fvars, images, key, steps):
    x = images_to_float(images, frozen.resolution)
    logits, _ = frozen.classify(fvars, x)
    y = frozen.g_attributes(logits)
    mean, log_var = models.module.apply({"params": params}, x)
    z0 = mean if key is None else sample_posterior(key, mean, log_var)
    loss_fn = functools.partial(inversion_loss, models=models, params=params, fvars=fvars, weights=w)
    z, loss = jax.vmap(inversion(loss_fn=loss_fn, steps=steps, lr=lr).run)(z0, x, y)
    return InversionResult(z=z, y=y, reconstructions=frozen.generate(fvars, z, y), loss=loss)

  return run


def invert(images, *, encoder, steps: int | None = None, key=None,
           weights: dict | None = None) -> InversionResult:
  """The generator's nearest avatars to `images`.

  Args:
    images: [B, H, W, 3] uint8, or float in [-1, 1]; resized to G's resolution if needed.
    encoder: `vid_jax.encoder.EncoderModels` (load_encoder).
    steps: Adam steps on z after the encoder (default: the encoder config's inversion.steps; 0 = the
      encoder alone).
    key: None for the posterior mean as the start; a key draws the start from q(z | x).
    weights: {"pixel", "d_feature", "encoder"} replacing the encoder config's (e.g. pixel only).
  """
  s = encoder.inversion["steps"] if steps is None else int(steps)
  w = {k: float(encoder.inversion[k]) for k in ("pixel", "d_feature", "encoder")} | dict(weights or {})
  weights = tuple(sorted(w.items()))
  fn = _invert_fn(encoder, float(encoder.inversion["lr"]), weights)
  return fn(encoder.params, encoder.frozen.variables(), jnp.asarray(images), key, jnp.asarray(s, jnp.int32))


def autoencode(images, *, encoder, steps: int = 0, key=None):
  """The VAE with G as decoder: images [B, H, W, 3] -> reconstructions [B, R, R, 3] in [-1, 1].

  `steps` > 0 refines each code (invert); `key` samples the code from q(z | x) instead of its mean.
  """
  return invert(images, encoder=encoder, steps=steps, key=key).reconstructions

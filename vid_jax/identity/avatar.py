"""The avatar part: the conditional generator for a request, the RL refiner over z, originality, style.

Nothing here samples on its own: latents come from `inference.sample_latents`, attribute vectors
from `inference.request_attributes`, refinement from `refiners.rl.refine_requests` (REINFORCE on
the reward terms of `refiners.rl.model_task`, hyper-parameters `refiners.rl.default_config()`, the
values of configs/refine_avatars.py) and looks from `refiners.style.stylize`.
"""
import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from vid_jax import inference
from vid_jax.encoder import apply_edits
from vid_jax.identity import originality
from vid_jax.refiners import gan_inversion
from vid_jax.refiners import rl
from vid_jax.refiners import style as style_lib

STYLES = ("none",) + tuple(style_lib.CLASSIC_STYLES)  # looks that need no reference image
MAX_RESAMPLE_ROUNDS = 3  # near-copies are drawn again at most this often


@dataclasses.dataclass(frozen=True)
class AvatarResult:
  """Avatars for a batch of identities (numpy, on the host).

  Attributes:
    raw: float32 [N, R, R, 3] in [-1, 1]: the generator's images, before the style.
    images: float32 [N, R, R, 3] in [-1, 1]: after the style (what the identity shows).
    z: float32 [N, Z] latents.
    y: float32 [N, A] attribute vectors G was given (None for unconditional runs).
    predicted: float32 [N, C] classifier probabilities of `raw` (None without a classifier).
    reward: float32 [N] the refiner's reward of z (None when not refined).
    nearest: float32 [N] distance to the nearest training image (in the space `space`).
    typical: float: median nearest-neighbour distance among training images (same space).
    resampled: int32 [N] how often each avatar was drawn again as a near-copy.
    space: the references' space ("pixels" or "classifier"; "" without references).
  """
  raw: np.ndarray
  images: np.ndarray
  z: np.ndarray
  y: Optional[np.ndarray]
  predicted: Optional[np.ndarray]
  reward: Optional[np.ndarray]
  nearest: np.ndarray
  typical: float
  resampled: np.ndarray
  space: str


def refine_latents(models, classifier, *, key, y, wanted, unwanted, budget: int):
  """REINFORCE over z toward each identity's request (realism, attributes, uniqueness terms).

  Args:
    models: `inference.Models` of a conditional run.
    classifier: `models.classifier.Classifier` (the attribute term's judge).
    key: PRNG key.
    y: [N, A] the attribute vectors G is given (one per identity).
    wanted / unwanted: attribute names of the request.
    budget: generator evaluations per identity.

  Returns:
    (z [N, Z], reward [N]).
  """
  # The refiner's own defaults: a `refiners.rl` section in an older run's config.json is ignored.
  cfg = rl.default_config()
  k_task, k_run = jax.random.split(key)
  task = rl.model_task(models, classifier, cfg=cfg, key=k_task)
  want = rl.attribute_vector(wanted)
  avoid = rl.attribute_vector(unwanted, flag="--not")
  n = y.shape[0]
  requests = task.make_requests(want, avoid, n)._replace(cond=jnp.asarray(y, jnp.float32))
  refiner = rl.make_refiner("reinforce", cfg)
  result = rl.refine_requests(refiner, jax.random.split(k_run, n), requests, generate_fn=task.generate_fn,
                              reward_fn=task.reward_fn, z_dim=models.z_dim, budget=budget)
  return result.z, result.reward


def design_avatars(models, *, key, num: int, wanted=(), unwanted=(), classifier=None, refine_budget: int = 0,
                   style: str = "none", references: Optional[originality.ReferenceSet] = None,
                   near_copy_ratio: float = originality.NEAR_COPY_RATIO) -> AvatarResult:
  """Avatars for `num` identities with the same request.

  Args:
    models: `inference.Models` (conditional, or unconditional with no wanted/unwanted).
    key: PRNG key; the same key gives the same avatars.
    num: identities N.
    wanted / unwanted: attribute names to set / clear (others drawn from the data's marginals).
    classifier: optional attribute classifier: the refiner's judge and `predicted`.
    refine_budget: generator evaluations per identity for REINFORCE over z (0 = off; needs a
      classifier).
    style: one of STYLES.
    references: training images' features for the originality check (None = skip it); its
      `feature_fn` maps the avatars into the same space.
    near_copy_ratio: an avatar nearer a training image than this fraction of the typical
      real-to-real distance is drawn again.

  Returns:
    AvatarResult.
  """
  k_z, k_y, k_refine, k_again = jax.random.split(key, 4)
  y = inference.request_attributes(models, k_y, num, list(wanted), list(unwanted))
  generate = jax.jit(models.generate)
  reward = None
  if refine_budget > 0 and classifier is not None:
    z, reward = refine_latents(models, classifier, key=k_refine, y=y, wanted=wanted, unwanted=unwanted,
                               budget=refine_budget)
  else:
    z = inference.sample_latents(k_z, num, models.z_dim)
  raw = generate(z, y)
  resampled = np.zeros((num,), np.int32)
  nearest, typical = np.zeros((num,), np.float32), 0.0
  if references is not None:
    typical = references.typical
    nearest, _ = originality.nearest_distances(references.feature_fn(raw), references.features)
    for r in range(MAX_RESAMPLE_ROUNDS):
      copies = originality.near_copy_mask(nearest, typical, ratio=near_copy_ratio)
      if not bool(jnp.any(copies)):
        break
      # Fresh prior latents for the near-copies only (same shapes every round: one compile).
      z_new = inference.sample_latents(jax.random.fold_in(k_again, r), num, models.z_dim)
      z = jnp.where(copies[:, None], z_new, z)
      raw = generate(z, y)
      nearest, _ = originality.nearest_distances(references.feature_fn(raw), references.features)
      resampled = resampled + np.asarray(copies, np.int32)
  images = raw if style == "none" else style_lib.stylize(raw, style)
  predicted = None if classifier is None else classifier.probabilities(raw)
  host = lambda x: None if x is None else np.asarray(jax.device_get(x), np.float32)
  return AvatarResult(raw=host(raw), images=host(images), z=host(z), y=host(y), predicted=host(predicted),
                      reward=host(reward), nearest=host(nearest), typical=float(typical), resampled=resampled,
                      space="" if references is None else references.space)


def photo_avatars(encoder, photo, *, num: int, wanted=(), unwanted=(), classifier=None, style: str = "none",
                  steps: int | None = None) -> AvatarResult:
  """`num` copies of the generator's nearest avatar to a photo, with the request applied as edits.

  Args:
    encoder: `vid_jax.encoder.EncoderModels` of the designer's GAN.
    photo: uint8 [R, R, 3] (vid_jax.data.photos.read_inputs).
    num: identities N (they share the avatar; nicknames, bios and covers differ).
    wanted / unwanted: G's attributes to add / remove (encoder.apply_edits: bits of y).
    classifier: optional; `predicted` is its reading of the avatar.
    style: one of STYLES.
    steps: inversion steps (default: the encoder's).

  Returns:
    AvatarResult (no originality check: the avatar is meant to look like the photo; nearest = 0).
  """
  res = gan_inversion.invert(np.asarray(photo)[None], encoder=encoder, steps=steps)
  edits = tuple((a, 1) for a in wanted) + tuple((a, -1) for a in unwanted)
  z, y = apply_edits(res.z, res.y, edits, g_names=encoder.frozen.g_names, directions=encoder.directions)
  z, y = jnp.repeat(z, num, axis=0), jnp.repeat(y, num, axis=0)
  raw = jax.jit(encoder.frozen.generate)(encoder.frozen.variables(), z, y)
  images = raw if style == "none" else style_lib.stylize(raw, style)
  predicted = None if classifier is None else classifier.probabilities(raw)
  host = lambda x: None if x is None else np.asarray(jax.device_get(x), np.float32)
  return AvatarResult(raw=host(raw), images=host(images), z=host(z), y=host(y), predicted=host(predicted),
                      reward=None, nearest=np.zeros((num,), np.float32), typical=0.0, resampled=np.zeros(
                          (num,), np.int32), space="")


def predicted_dict(names, probabilities) -> dict[str, float]:
  """{attribute: probability} for one avatar, rounded for stable JSON."""
  return {n: round(float(p), 4) for n, p in zip(names, probabilities)}


def requested_dict(names, y_row, wanted, unwanted) -> dict[str, Any]:
  """What G was asked for: the user's attributes and the ones drawn from the data's marginals."""
  drawn = {n: bool(v > 0.5) for n, v in zip(names, y_row) if n not in wanted and n not in unwanted}
  return {"attrs": list(wanted), "not": list(unwanted), "drawn": drawn}

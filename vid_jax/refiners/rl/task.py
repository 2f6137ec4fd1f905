"""Refinement against a trained GAN: generation, reward terms and requests from loaded models.

Requests live in the 40-attribute CelebA space (ATTRIBUTE_NAMES order); `model_task` turns a
loaded run (and optionally an attribute classifier) into a `Task` the runner and tools use.
"""

import functools
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vid_jax.data.attributes import ATTRIBUTE_INDEX
from vid_jax.data.attributes import ATTRIBUTE_NAMES
from vid_jax.data.attributes import NUM_ATTRIBUTES
from vid_jax.errors import UserError
from vid_jax.refiners.rl.preference import fit_preference_model, preference
from vid_jax.refiners.rl.rewards import (Array, Request, attribute_hits, attributes, combine, make_request,
                                         prior, realism, uniqueness)


def attribute_vector(names: Sequence[str], *, flag: str = "--attrs") -> np.ndarray:
  """{0, 1} vector [40] over ATTRIBUTE_NAMES with `names` set.

  Raises:
    UserError: an unknown name.
  """
  v = np.zeros((NUM_ATTRIBUTES,), np.float32)
  for name in names:
    if name not in ATTRIBUTE_INDEX:
      raise UserError(f"{flag}: unknown attribute {name!r}; use CelebA names "
                      f"such as Smiling,Eyeglasses,Male (see "
                      f"vid_jax.data.attributes.ATTRIBUTE_NAMES)")
    v[ATTRIBUTE_INDEX[name]] = 1.0
  return v


def cond_from_attributes(want: Array, avoid: Array, *, cond_index: np.ndarray,
                         cond_default: np.ndarray) -> Array:
  """Conditioning vector [Ac] for a conditional GAN from want/avoid [40].

  Wanted attributes are 1, unwanted 0, the others take their most frequent
  value in the data (`cond_default`).
  """
  if len(cond_index) == 0:
    return jnp.zeros(want.shape[:-1] + (0,), jnp.float32)
  w = want[..., cond_index]
  a = avoid[..., cond_index]
  return jnp.where(w > 0, 1.0, jnp.where(a > 0, 0.0, jnp.asarray(cond_default)))


class Task(NamedTuple):
  """Everything refinement against a trained GAN needs (see `model_task`).

  Attributes:
    generate_fn: (z [N, Z], attrs [N, Ac] or None) -> images [N, R, R, 3].
    reward_fn: (images, z, request) -> total reward [N].
    terms_fn: (images, z, request) -> (total [N], {term: [N]}).
    hit_fn: (images, request) -> [N] bool, or None without a classifier.
    z_dim: latent size.
    weights: the non-zero reward weights in effect.
    dropped: names of terms with a weight but nothing to compute them with.
    make_requests: (want [40], avoid [40], num) -> batched Request [num].
    sample_requests: (key, num) -> batched random Request [num] (training).
  """
  generate_fn: Callable[..., Array]
  reward_fn: Callable[..., Array]
  terms_fn: Callable[..., Any]
  hit_fn: Optional[Callable[..., Array]]
  z_dim: int
  weights: Mapping[str, float]
  dropped: tuple[str, ...]
  make_requests: Callable[..., Request]
  sample_requests: Callable[..., Request]


def _scatter_logits(logits: Array, index: np.ndarray) -> Array:
  """Classifier logits [B, Ac] -> [B, 40] in ATTRIBUTE_NAMES order (0 elsewhere)."""
  out = jnp.zeros(logits.shape[:-1] + (NUM_ATTRIBUTES,), jnp.float32)
  return out.at[..., index].set(logits.astype(jnp.float32))


def model_task(models: Any, classifier: Any = None, *, cfg: ml_collections.ConfigDict, key: Array,
               preference_pairs: Optional[tuple[Array, Array, Array]] = None) -> Task:
  """Builds generation, reward and request functions from loaded models.

  Requests live in the 40-attribute CelebA space (ATTRIBUTE_NAMES order);
  classifier logits are scattered into it and a conditional GAN's vector is
  derived from it with `cond_from_attributes`.

  Args:
    models: `vid_jax.inference.Models`.
    classifier: `vid_jax.models.classifier.Classifier` or None (then the
      attribute term is off and hit rates are None).
    cfg: the refine config (configs/refine_avatars.py).
    key: PRNG key (for the identity bank).
    preference_pairs: optional (z_a [M, Z], z_b [M, Z], prefer_a [M]) choices
      a user made; a Bradley-Terry model on the uniqueness features is fitted
      to them and becomes the `preference` term.

  Returns:
    The task.
  """
  z_dim = models.z_dim
  cond_names = tuple(models.attribute_names)
  cond_index = np.asarray([ATTRIBUTE_INDEX[n] for n in cond_names], np.int32)
  if models.attribute_marginals is not None:
    cond_default = (np.asarray(models.attribute_marginals) > 0.5).astype(np.float32)
  else:
    cond_default = np.zeros((len(cond_names),), np.float32)
  cond_fn = functools.partial(cond_from_attributes, cond_index=cond_index, cond_default=cond_default)
  generate_fn = models.generate

  if classifier is not None:
    missing = [n for n in classifier.attribute_names if n not in ATTRIBUTE_INDEX]
    if missing:
      raise UserError(f"classifier attributes {missing} are not CelebA names")
    clf_index = np.asarray([ATTRIBUTE_INDEX[n] for n in classifier.attribute_names], np.int32)
    logits_fn = lambda images: _scatter_logits(classifier.logits(images), clf_index)
    features_fn = classifier.features
    coverage = np.zeros((NUM_ATTRIBUTES,), np.float32)
    coverage[clf_index] = 1.0
  else:
    logits_fn = None
    coverage = np.zeros((NUM_ATTRIBUTES,), np.float32)
    coverage[cond_index] = 1.0

    def features_fn(images):
      attrs = (None if not cond_names else jnp.zeros((images.shape[0], len(cond_names)), jnp.float32))
      _, feats = models.discriminate(images, attrs, return_features=True)
      return jnp.mean(feats[-1].astype(jnp.float32), axis=(1, 2))  # [B, C]

  terms = {
      "realism": realism(models.discriminate, kind=cfg.realism_kind),
      "uniqueness": uniqueness(features_fn),
      "prior": prior,
  }
  if logits_fn is not None:
    terms["attributes"] = attributes(logits_fn)

  default_cond = jnp.asarray(cond_default)
  default_cond_batch = lambda n: None if not cond_names else jnp.broadcast_to(
      default_cond, (n, len(cond_names)))

  @jax.jit
  def embed(z):
    return features_fn(generate_fn(z, default_cond_batch(z.shape[0])))

  if preference_pairs is not None:
    z_a, z_b, prefer_a = preference_pairs
    model = fit_preference_model(embed(jnp.asarray(z_a)), embed(jnp.asarray(z_b)), prefer_a)
    terms["preference"] = preference(features_fn, model)

  weights = {k: float(w) for k, w in cfg.weights.items() if w and k in terms}
  dropped = tuple(k for k, w in cfg.weights.items() if w and k not in terms)
  reward_fn = combine(terms, weights)
  terms_fn = combine(terms, weights, return_terms=True)

  if cfg.bank_size > 0:
    bank = embed(jax.random.normal(key, (cfg.bank_size, z_dim)))
    bank_mask = jnp.ones((cfg.bank_size,), jnp.float32)
  else:
    feat_dim = embed(jnp.zeros((1, z_dim))).shape[-1]
    bank = jnp.zeros((1, feat_dim), jnp.float32)
    bank_mask = jnp.zeros((1,), jnp.float32)

  hit_fn = None
  if logits_fn is not None:
    threshold = cfg.attr_threshold

    def hit_fn(images, request):
      return attribute_hits(logits_fn(images), request.want, request.avoid, threshold=threshold)

  def make_requests(want, avoid, num):
    want = np.asarray(want, np.float32)
    avoid = np.asarray(avoid, np.float32)
    if np.any(want * avoid):
      both = [ATTRIBUTE_NAMES[i] for i in np.flatnonzero(want * avoid)]
      raise UserError(f"--attrs and --not both name {both}; drop one")
    asked = np.flatnonzero((want + avoid) * (1 - coverage))
    if asked.size:
      names = [ATTRIBUTE_NAMES[i] for i in asked]
      how = ("the classifier does not predict them"
             if classifier is not None else "the generator is not conditioned on them and no "
             "--classifier_workdir was given")
      raise UserError(f"cannot steer towards {names}: {how}; drop them or give "
                      "a --classifier_workdir whose classifier knows them")
    one = make_request(want=want, avoid=avoid, cond=cond_fn(jnp.asarray(want), jnp.asarray(avoid)), bank=bank,
                       bank_mask=bank_mask)
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (num,) + x.shape), one)

  n_cand = max(float(coverage.sum()), 1.0)
  p_want = min(cfg.amortized.mean_wanted / n_cand, 1.0)
  p_avoid = min(cfg.amortized.mean_avoided / n_cand, 1.0 - p_want)
  cover = jnp.asarray(coverage)

  def sample_requests(key, num):
    u = jax.random.uniform(key, (num, NUM_ATTRIBUTES))
    want = ((u < p_want) * cover).astype(jnp.float32)
    avoid = (((u >= p_want) & (u < p_want + p_avoid)) * cover).astype(jnp.float32)
    return Request(want, avoid, cond_fn(want, avoid), jnp.broadcast_to(bank, (num,) + bank.shape),
                   jnp.broadcast_to(bank_mask, (num,) + bank_mask.shape))

  return Task(generate_fn, reward_fn, terms_fn, hit_fn, z_dim, weights, dropped, make_requests,
              sample_requests)

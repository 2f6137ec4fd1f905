"""Reward terms for the RL latent refiner: pure functions of (images, z, request).

Every term has the signature `term(images, z, request) -> [B]` with images
[B, H, W, C] in [-1, 1], z [B, Z] the latents that produced them and `request`
a `Request` (one request, not a batch: the refiner vmaps over requests). Terms
are built by small factories that close over the model functions they need,
so they are jittable and safe inside `lax.scan`/`vmap`. Larger is better for
every term; `combine` sums them by name and weight.

Scales (so that weights of 1 are a sensible start):
  realism     log D(x) = log sigmoid(logit) <= 0 (or the raw logit).
  attributes  sum of log-probabilities of the requested facts <= 0.
  uniqueness  cosine distance to the nearest banked identity, in [0, 2].
  preference  Bradley-Terry score (preference.py): a difference of 1 between two
              images means the user prefers the first with probability 0.73.
  prior       -(mean(z**2) - 1) / 2: 0 for a typical prior draw, < 0 far out.
"""

from typing import Any, Callable, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp

Array = jax.Array
RewardFn = Callable[[Array, Array, "Request"], Array]


class Request(NamedTuple):
  """One generation request (vmap over a leading axis for many).

  Attributes:
    want: [A] float {0, 1}: attributes the avatar should have.
    avoid: [A] float {0, 1}: attributes it should not have.
    cond: [Ac] float {0, 1}: the conditioning vector of a conditional
      generator/discriminator; shape [0] for unconditional models.
    bank: [K, F] features of identities already handed out (K >= 1).
    bank_mask: [K] float {0, 1}: which bank rows are real (so one fixed K
      serves every request).
  """
  want: Array
  avoid: Array
  cond: Array
  bank: Array
  bank_mask: Array


def make_request(*, want: Array, avoid: Optional[Array] = None, cond: Optional[Array] = None,
                 bank: Optional[Array] = None, bank_mask: Optional[Array] = None,
                 feature_dim: int = 1) -> Request:
  """Builds a `Request`, filling absent parts with empty/neutral values.

  Args:
    want: [A] {0, 1} requested attributes.
    avoid: [A] {0, 1} unwanted attributes (default none).
    cond: [Ac] conditioning vector (default [0], unconditional).
    bank: [K, F] banked identity features (default one masked-out row).
    bank_mask: [K] validity of bank rows (default all valid if a bank is given).
    feature_dim: F of the placeholder bank when `bank` is None.

  Returns:
    The request, every leaf float32.
  """
  want = jnp.asarray(want, jnp.float32)
  avoid = jnp.zeros_like(want) if avoid is None else jnp.asarray(avoid, jnp.float32)
  cond = jnp.zeros((0,), jnp.float32) if cond is None else jnp.asarray(cond, jnp.float32)
  if bank is None:
    bank = jnp.zeros((1, feature_dim), jnp.float32)
    bank_mask = jnp.zeros((1,), jnp.float32)
  bank = jnp.asarray(bank, jnp.float32)
  if bank_mask is None:
    bank_mask = jnp.ones(bank.shape[:1], jnp.float32)
  return Request(want, avoid, cond, bank, jnp.asarray(bank_mask, jnp.float32))


def cond_batch(request: Request, batch: int) -> Optional[Array]:
  """[B, Ac] conditioning for a batch, or None for unconditional models."""
  if request.cond.shape[-1] == 0:
    return None
  return jnp.broadcast_to(request.cond, (batch, request.cond.shape[-1]))


# ----------------------------------------------------------------- terms


def realism(d_logits_fn: Callable[[Array, Optional[Array]], Array], *, kind: str = "log_sigmoid") -> RewardFn:
  """Realism from the discriminator's logit.

  Args:
    d_logits_fn: (images [B,H,W,C], attrs [B,Ac] or None) -> logits [B].
    kind: "log_sigmoid" for log D(x) (<= 0, saturates for very real images,
      so one image cannot buy the whole reward with realism alone) or "logit".

  Returns:
    A reward term.
  """
  if kind not in ("log_sigmoid", "logit"):
    raise ValueError(f"realism kind must be 'log_sigmoid' or 'logit', "
                     f"got {kind!r}")

  def term(images, z, request):
    del z
    logits = d_logits_fn(images, cond_batch(request, images.shape[0]))
    logits = logits.astype(jnp.float32)  # [B]
    return jax.nn.log_sigmoid(logits) if kind == "log_sigmoid" else logits

  return term


def attribute_log_prob(logits: Array, want: Array, avoid: Array) -> Array:
  """Log-probability that the requested facts hold, under independent sigmoids.

  Args:
    logits: [B, A] attribute classifier logits.
    want: [A] {0, 1} attributes that should be present.
    avoid: [A] {0, 1} attributes that should be absent.

  Returns:
    [B] sum_a want_a log p(a) + avoid_a log (1 - p(a)).
  """
  logits = logits.astype(jnp.float32)
  return (jax.nn.log_sigmoid(logits) @ want + jax.nn.log_sigmoid(-logits) @ avoid)


def attribute_hits(logits: Array, want: Array, avoid: Array, *, threshold: float = 0.0) -> Array:
  """Whether every wanted attribute is detected and every unwanted one is not.

  Args:
    logits: [B, A] classifier logits.
    want: [A] {0, 1}.
    avoid: [A] {0, 1}.
    threshold: logit threshold for "present".

  Returns:
    [B] bool.
  """
  present = logits > threshold  # [B, A]
  miss = (want > 0) & ~present | (avoid > 0) & present
  return ~jnp.any(miss, axis=-1)


def attributes(logits_fn: Callable[[Array], Array]) -> RewardFn:
  """Log-probability of the request's attributes under a classifier.

  Args:
    logits_fn: images [B,H,W,C] -> logits [B, A], A matching `Request.want`.

  Returns:
    A reward term (<= 0; 0 when the classifier is certain of every fact).
  """

  def term(images, z, request):
    del z
    return attribute_log_prob(logits_fn(images), request.want, request.avoid)

  return term


def nearest_distance(features: Array, bank: Array, bank_mask: Array) -> Array:
  """Cosine distance from each feature row to its nearest valid bank row.

  Args:
    features: [B, F].
    bank: [K, F].
    bank_mask: [K] {0, 1}.

  Returns:
    [B] in [0, 2]; 0 when the bank has no valid row (nothing to stand out from).
  """
  f = features.astype(jnp.float32)
  f = f / (jnp.linalg.norm(f, axis=-1, keepdims=True) + 1e-8)
  b = bank.astype(jnp.float32)
  b = b / (jnp.linalg.norm(b, axis=-1, keepdims=True) + 1e-8)
  sim = f @ b.T  # [B, K]
  sim = jnp.where(bank_mask[None, :] > 0, sim, -jnp.inf)
  nearest = jnp.max(sim, axis=-1)  # [B]
  return jnp.where(jnp.any(bank_mask > 0), 1.0 - nearest, 0.0)


def uniqueness(features_fn: Callable[[Array], Array]) -> RewardFn:
  """Distance to the nearest identity already handed out (`Request.bank`).

  Args:
    features_fn: images [B,H,W,C] -> features [B, F] (classifier or D
      features); the bank must hold features from the same function.

  Returns:
    A reward term in [0, 2].
  """

  def term(images, z, request):
    del z
    return nearest_distance(features_fn(images), request.bank, request.bank_mask)

  return term


def prior(images: Array, z: Array, request: Request) -> Array:
  """Log prior density of z per dimension, centred: -(mean(z**2) - 1) / 2."""
  del images, request
  return -0.5 * (jnp.mean(jnp.square(z.astype(jnp.float32)), axis=-1) - 1.0)


# --------------------------------------------------------------- combine


def combine(terms: Mapping[str, RewardFn], weights: Mapping[str, float], *,
            return_terms: bool = False) -> Callable[..., Any]:
  """Weighted sum of reward terms; terms with weight 0 are never evaluated.

  Args:
    terms: name -> term.
    weights: name -> weight (a name missing from `weights` gets 0).
    return_terms: if True the result returns (total [B], {name: [B]}).

  Returns:
    A function (images, z, request) -> total [B] (or (total, terms)).

  Raises:
    ValueError: a weight names a term that does not exist, or all are 0.
  """
  unknown = sorted(set(weights) - set(terms))
  nonzero = {k: float(w) for k, w in weights.items() if w and k in terms}
  if unknown and any(weights[k] for k in unknown):
    raise ValueError(f"reward weights name unknown terms {unknown}; "
                     f"available: {sorted(terms)}")
  if not nonzero:
    raise ValueError("every reward weight is 0; set at least one of "
                     f"{sorted(terms)} in the weights (--refine_config.weights for tools/refine.py)")

  def reward(images, z, request):
    values = {k: terms[k](images, z, request) for k in nonzero}
    total = sum(w * values[k] for k, w in nonzero.items())
    return (total, values) if return_terms else total

  return reward

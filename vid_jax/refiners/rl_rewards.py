"""Reward terms for the RL latent refiner: pure functions of (images, z, request).

Every term has the signature `term(images, z, request) -> [B]` with images
[B, H, W, C] in [-1, 1], z [B, Z] the latents that produced them and `request`
a `Request` (one request, not a batch: the refiner vmaps over requests). Terms
are built by small factories that close over the model functions they need,
so they are jittable and safe inside `lax.scan`/`vmap`. Larger is better for
every term.

Scales (so that weights of 1 are a sensible start):
  realism     log D(x) = log sigmoid(logit) <= 0 (or the raw logit).
  attributes  sum of log-probabilities of the requested facts <= 0.
  uniqueness  cosine distance to the nearest banked identity, in [0, 2].
  preference  Bradley-Terry score: a difference of 1 between two images means
              the user prefers the first with probability sigmoid(1) = 0.73.
  prior       -(mean(z**2) - 1) / 2: 0 for a typical prior draw, < 0 far out.
"""

import functools
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from vid_jax.data.attributes import ATTRIBUTE_INDEX
from vid_jax.data.attributes import ATTRIBUTE_NAMES
from vid_jax.data.attributes import NUM_ATTRIBUTES
from vid_jax.errors import UserError

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


def make_request(*, want: Array, avoid: Optional[Array] = None,
                 cond: Optional[Array] = None, bank: Optional[Array] = None,
                 bank_mask: Optional[Array] = None,
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
  avoid = jnp.zeros_like(want) if avoid is None else jnp.asarray(
      avoid, jnp.float32)
  cond = jnp.zeros((0,), jnp.float32) if cond is None else jnp.asarray(
      cond, jnp.float32)
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


def realism(d_logits_fn: Callable[[Array, Optional[Array]], Array], *,
            kind: str = "log_sigmoid") -> RewardFn:
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
  return (jax.nn.log_sigmoid(logits) @ want +
          jax.nn.log_sigmoid(-logits) @ avoid)


def attribute_hits(logits: Array, want: Array, avoid: Array, *,
                   threshold: float = 0.0) -> Array:
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
    return nearest_distance(features_fn(images), request.bank,
                            request.bank_mask)

  return term


def prior(images: Array, z: Array, request: Request) -> Array:
  """Log prior density of z per dimension, centred: -(mean(z**2) - 1) / 2."""
  del images, request
  return -0.5 * (jnp.mean(jnp.square(z.astype(jnp.float32)), axis=-1) - 1.0)


# ------------------------------------------------------------ preference


class PreferenceModel(NamedTuple):
  """A reward model r(features) fitted to pairwise choices.

  Attributes:
    params: {"mean": [F], "scale": [F], "layers": [(w, b), ...]}; features are
      standardised with mean/scale, then an MLP (a linear map when there are no
      hidden layers) gives a scalar score.
  """
  params: Mapping[str, Any]


def preference_score(params: Mapping[str, Any], features: Array) -> Array:
  """Scores features with a fitted preference model.

  Args:
    params: `PreferenceModel.params`.
    features: [B, F].

  Returns:
    [B] scores; only differences are meaningful (Bradley-Terry).
  """
  h = (features.astype(jnp.float32) - params["mean"]) / params["scale"]
  layers = params["layers"]
  for w, b in layers[:-1]:
    h = jax.nn.gelu(h @ w + b)
  w, b = layers[-1]
  return (h @ w + b)[..., 0]


def fit_preference_model(features_a: Array, features_b: Array,
                         prefer_a: Array, *, hidden: Sequence[int] = (),
                         steps: int = 500, learning_rate: float = 0.05,
                         l2: float = 1e-3,
                         key: Optional[Array] = None) -> PreferenceModel:
  """Fits a Bradley-Terry reward model to pairwise choices.

  P(a preferred over b) = sigmoid(r(a) - r(b)); minimises the logistic loss
  plus `l2` times the squared weights, full batch, Adam, in one `lax.scan`.

  Args:
    features_a: [M, F] features of the first image of each pair.
    features_b: [M, F] features of the second.
    prefer_a: [M] 1 if the user chose a, 0 if b (fractions allowed).
    hidden: hidden widths of the MLP; () gives a linear model.
    steps: optimisation steps.
    learning_rate: Adam step size.
    l2: weight decay on the weights (keeps few pairs from overfitting).
    key: PRNG key for the MLP's initial weights (default key 0).

  Returns:
    The fitted model.

  Raises:
    ValueError: shapes disagree or there are no pairs.
  """
  features_a = jnp.asarray(features_a, jnp.float32)
  features_b = jnp.asarray(features_b, jnp.float32)
  prefer_a = jnp.asarray(prefer_a, jnp.float32)
  if (features_a.ndim != 2 or features_a.shape != features_b.shape or
      prefer_a.shape != features_a.shape[:1] or features_a.shape[0] == 0):
    raise ValueError(
        "fit_preference_model: need features_a, features_b [M, F] and "
        f"prefer_a [M] with M > 0; got {features_a.shape}, "
        f"{features_b.shape}, {prefer_a.shape}")
  key = jax.random.key(0) if key is None else key
  params = _fit_preference(features_a, features_b, prefer_a, key,
                           hidden=tuple(int(h) for h in hidden),
                           steps=int(steps), learning_rate=float(learning_rate),
                           l2=float(l2))
  return PreferenceModel(params)


@functools.partial(jax.jit, static_argnames=("hidden", "steps",
                                             "learning_rate", "l2"))
def _fit_preference(features_a, features_b, prefer_a, key, *, hidden, steps,
                    learning_rate, l2):
  """The jitted body of `fit_preference_model` (init, then Adam in a scan)."""
  both = jnp.concatenate([features_a, features_b])
  stats = {"mean": jnp.mean(both, axis=0),
           "scale": jnp.std(both, axis=0) + 1e-6}
  widths = [features_a.shape[1], *hidden, 1]
  layers = []
  for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
    w = jax.random.normal(jax.random.fold_in(key, i), (fan_in, fan_out))
    w = w / jnp.sqrt(fan_in)
    if i == len(widths) - 2:
      w = jnp.zeros_like(w)  # start at "no preference"
    layers.append((w, jnp.zeros((fan_out,))))

  def loss_fn(layers):
    params = {**stats, "layers": layers}
    margin = (preference_score(params, features_a) -
              preference_score(params, features_b))  # [M]
    nll = optax.sigmoid_binary_cross_entropy(margin, prefer_a).mean()
    return nll + l2 * sum(jnp.sum(w * w) for w, _ in layers)

  opt = optax.adam(learning_rate)

  def step(carry, _):
    layers, opt_state = carry
    grads = jax.grad(loss_fn)(layers)
    updates, opt_state = opt.update(grads, opt_state, layers)
    return (optax.apply_updates(layers, updates), opt_state), None

  (layers, _), _ = jax.lax.scan(step, (layers, opt.init(layers)), None,
                                length=steps)
  return {**stats, "layers": layers}


def preference(features_fn: Callable[[Array], Array],
               model: PreferenceModel) -> RewardFn:
  """A learned preference score as a reward term.

  Args:
    features_fn: images -> [B, F], the same features the model was fitted on.
    model: from `fit_preference_model`.

  Returns:
    A reward term.
  """

  def term(images, z, request):
    del z, request
    return preference_score(model.params, features_fn(images))

  return term


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
                     f"{sorted(terms)} in refiners.rl.weights")

  def reward(images, z, request):
    values = {k: terms[k](images, z, request) for k in nonzero}
    total = sum(w * values[k] for k, w in nonzero.items())
    return (total, values) if return_terms else total

  return reward


# ------------------------------------------ requests and tasks from models


def attribute_vector(names: Sequence[str], *, flag: str = "--attrs"
                     ) -> np.ndarray:
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


def model_task(models: Any, classifier: Any = None, *,
               cfg: ml_collections.ConfigDict, key: Array,
               preference_pairs: Optional[tuple[Array, Array, Array]] = None
               ) -> Task:
  """Builds generation, reward and request functions from loaded models.

  Requests live in the 40-attribute CelebA space (ATTRIBUTE_NAMES order);
  classifier logits are scattered into it and a conditional GAN's vector is
  derived from it with `cond_from_attributes`.

  Args:
    models: `vid_jax.inference.Models`.
    classifier: `vid_jax.models.classifier.Classifier` or None (then the
      attribute term is off and hit rates are None).
    cfg: a `refiners.rl` section.
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
    cond_default = (np.asarray(models.attribute_marginals) > 0.5).astype(
        np.float32)
  else:
    cond_default = np.zeros((len(cond_names),), np.float32)
  cond_fn = functools.partial(cond_from_attributes, cond_index=cond_index,
                              cond_default=cond_default)
  generate_fn = models.generate

  if classifier is not None:
    missing = [n for n in classifier.attribute_names if n not in ATTRIBUTE_INDEX]
    if missing:
      raise UserError(f"classifier attributes {missing} are not CelebA names")
    clf_index = np.asarray([ATTRIBUTE_INDEX[n] for n in
                            classifier.attribute_names], np.int32)
    logits_fn = lambda images: _scatter_logits(classifier.logits(images),
                                               clf_index)
    features_fn = classifier.features
    coverage = np.zeros((NUM_ATTRIBUTES,), np.float32)
    coverage[clf_index] = 1.0
  else:
    logits_fn = None
    coverage = np.zeros((NUM_ATTRIBUTES,), np.float32)
    coverage[cond_index] = 1.0

    def features_fn(images):
      attrs = (None if not cond_names else
               jnp.zeros((images.shape[0], len(cond_names)), jnp.float32))
      _, feats = models.discriminate(images, attrs, return_features=True)
      return jnp.mean(feats[-1].astype(jnp.float32), axis=(1, 2))  # [B, C]

  terms = {
      "realism": realism(models.discriminate,
                                    kind=cfg.realism_kind),
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
    model = fit_preference_model(embed(jnp.asarray(z_a)),
                                            embed(jnp.asarray(z_b)), prefer_a)
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
      return attribute_hits(logits_fn(images), request.want,
                                       request.avoid, threshold=threshold)

  def make_requests(want, avoid, num):
    want = np.asarray(want, np.float32)
    avoid = np.asarray(avoid, np.float32)
    if np.any(want * avoid):
      both = [ATTRIBUTE_NAMES[i] for i in np.flatnonzero(want * avoid)]
      raise UserError(f"--attrs and --not both name {both}; drop one")
    asked = np.flatnonzero((want + avoid) * (1 - coverage))
    if asked.size:
      names = [ATTRIBUTE_NAMES[i] for i in asked]
      how = ("the classifier does not predict them" if classifier is not None
             else "the generator is not conditioned on them and no "
             "--classifier_workdir was given")
      raise UserError(f"cannot steer towards {names}: {how}; drop them or give "
                      "a --classifier_workdir whose classifier knows them")
    one = make_request(
        want=want, avoid=avoid, cond=cond_fn(jnp.asarray(want),
                                             jnp.asarray(avoid)),
        bank=bank, bank_mask=bank_mask)
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (num,) + x.shape), one)

  n_cand = max(float(coverage.sum()), 1.0)
  p_want = min(cfg.amortized.mean_wanted / n_cand, 1.0)
  p_avoid = min(cfg.amortized.mean_avoided / n_cand, 1.0 - p_want)
  cover = jnp.asarray(coverage)

  def sample_requests(key, num):
    u = jax.random.uniform(key, (num, NUM_ATTRIBUTES))
    want = ((u < p_want) * cover).astype(jnp.float32)
    avoid = (((u >= p_want) & (u < p_want + p_avoid)) * cover).astype(
        jnp.float32)
    return Request(want, avoid, cond_fn(want, avoid),
                   jnp.broadcast_to(bank, (num,) + bank.shape),
                   jnp.broadcast_to(bank_mask, (num,) + bank_mask.shape))

  return Task(generate_fn, reward_fn, terms_fn, hit_fn, z_dim, weights,
              dropped, make_requests, sample_requests)

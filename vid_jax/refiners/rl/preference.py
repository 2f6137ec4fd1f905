"""A learned preference as a reward term: a Bradley-Terry model fitted to a user's pairwise choices."""

import functools
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import optax

from vid_jax.refiners.rl.rewards import Array, RewardFn


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


def fit_preference_model(features_a: Array, features_b: Array, prefer_a: Array, *, hidden: Sequence[int] = (),
                         steps: int = 500, learning_rate: float = 0.05, l2: float = 1e-3,
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
    raise ValueError("fit_preference_model: need features_a, features_b [M, F] and "
                     f"prefer_a [M] with M > 0; got {features_a.shape}, "
                     f"{features_b.shape}, {prefer_a.shape}")
  key = jax.random.key(0) if key is None else key
  params = _fit_preference(features_a, features_b, prefer_a, key, hidden=tuple(int(h) for h in hidden),
                           steps=int(steps), learning_rate=float(learning_rate), l2=float(l2))
  return PreferenceModel(params)


@functools.partial(jax.jit, static_argnames=("hidden", "steps", "learning_rate", "l2"))
def _fit_preference(features_a, features_b, prefer_a, key, *, hidden, steps, learning_rate, l2):
  """The jitted body of `fit_preference_model` (init, then Adam in a scan)."""
  both = jnp.concatenate([features_a, features_b])
  stats = {"mean": jnp.mean(both, axis=0), "scale": jnp.std(both, axis=0) + 1e-6}
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
    margin = (preference_score(params, features_a) - preference_score(params, features_b))  # [M]
    nll = optax.sigmoid_binary_cross_entropy(margin, prefer_a).mean()
    return nll + l2 * sum(jnp.sum(w * w) for w, _ in layers)

  opt = optax.adam(learning_rate)

  def step(carry, _):
    layers, opt_state = carry
    grads = jax.grad(loss_fn)(layers)
    updates, opt_state = opt.update(grads, opt_state, layers)
    return (optax.apply_updates(layers, updates), opt_state), None

  (layers, _), _ = jax.lax.scan(step, (layers, opt.init(layers)), None, length=steps)
  return {**stats, "layers": layers}


def preference(features_fn: Callable[[Array], Array], model: PreferenceModel) -> RewardFn:
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

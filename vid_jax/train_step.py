"""The pure GAN train step: D update(s), then a G update that reuses G's forward pass."""
import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from vid_jax import losses
from vid_jax.config import D_BATCHES, FAKE_AWARE_AUX_MODES
from vid_jax.data.loader import to_float
from vid_jax.refiners import adversarial
from vid_jax.train_state import TrainState


@dataclasses.dataclass(frozen=True)
class StepOptions:
  """Static settings of the train step (hashable; part of the compiled program)."""
  loss: str = "ns"
  n_critic: int = 1
  r1_gamma: float = 0.0
  ema_decay: float = 0.999
  z_dim: int = 100
  attribute_indices: tuple[int, ...] = ()   # columns of batch["attributes"] the models condition on
  adversarial: Any = None                   # frozen dict of PGD settings, or None (off)
  aux_weight: float = 0.0                   # AC-GAN attribute loss: D's head on reals, G on fakes
  aux_mode: str = "ac"                      # ac: head learns reals' attributes | adc, adc_ratio: (real, fake) x attribute
  mode_seeking: float = 0.0                 # weight of the mode-seeking term on G (Mao et al. 2019); 0 = off
  mismatch_weight: float = 0.0              # D's loss on reals with one attribute flipped, as fakes (Reed et al. 2016)
  d_batch: str = "separate"                 # separate: reals and fakes normalised apart in D | joint: one batch


MODE_SEEKING_EPS = 1e-5


def fake_attributes(y_real, key, *, paired: bool = False):
  """The attributes fakes are conditioned on: a permutation of the batch's attribute vectors.

  The data's joint distribution of attributes, decoupled from the images. `paired` (mode
  seeking): rows 2i and 2i+1 share the vector of permuted row 2i, so each pair differs in z only.
  """
  y = y_real[jax.random.permutation(key, y_real.shape[0])]
  if paired:
    y = jnp.repeat(y[0::2], 2, axis=0)[:y_real.shape[0]]
  return y


def flip_one_attribute(y, key):
  """y [B, A] in {0, 1} with one attribute per row, chosen uniformly, flipped.

  The matching-aware D's negatives (Reed et al. 2016): a real image with attributes that are wrong
  in exactly one place, so D must read every attribute from the image, not just most of them.
  """
  which = jax.random.randint(key, (y.shape[0],), 0, y.shape[1])
  return jnp.abs(y - jax.nn.one_hot(which, y.shape[1], dtype=y.dtype))


def pair_spread(images, z):
  """Mean over adjacent pairs (2i, 2i+1) of mean |x_2i - x_2i+1| / mean |z_2i - z_2i+1|.

  Mode seeking (Mao et al. 2019, MSGAN): G minimises 1 / (spread + eps), so two latents with the
  same attributes may not land on the same image (a conditional G otherwise learns to ignore z).
  """
  b = images.shape[0] // 2 * 2
  dx = jnp.mean(jnp.abs(images[0:b:2] - images[1:b:2]).astype(jnp.float32), axis=(1, 2, 3))
  dz = jnp.mean(jnp.abs(z[0:b:2] - z[1:b:2]), axis=1)
  return jnp.mean(dx / dz)


def make_train_step(*, generator, discriminator, options: StepOptions) -> Callable:
  """Returns `train_step(state, batch) -> (state, metrics)`; metrics are float32 scalars."""
  d_loss_fn, g_loss_fn = losses.LOSSES[options.loss]
  d_fake_term = losses.D_FAKE_TERMS[options.loss]
  conditional = bool(options.attribute_indices)
  attr_idx = jnp.asarray(options.attribute_indices, jnp.int32) if conditional else None

  aux = conditional and options.aux_weight > 0
  adc = aux and options.aux_mode in FAKE_AWARE_AUX_MODES
  mismatch = conditional and options.mismatch_weight > 0
  joint = options.d_batch == "joint"
  if options.d_batch not in D_BATCHES:
    raise ValueError(f"d_batch={options.d_batch!r}; use one of {D_BATCHES}")

  def d_apply(params, batch_stats, x, y, aux_rows=None):  # -> (logits, attribute logits of the
    # first aux_rows images (all if None) or None, batch stats)
    out, new = discriminator.apply({"params": params, "batch_stats": batch_stats}, x, y,
                                   train=True, mutable=["batch_stats"], return_aux=aux,
                                   aux_rows=aux_rows)
    logits, aux_logits = out if aux else (out, None)
    return logits, aux_logits, new["batch_stats"]

  def aux_loss(aux_logits, y, source=0):
    """Attribute cross-entropy, mean over examples and attributes.

    ac: aux_logits [B, A], sigmoid cross-entropy against y.
    adc: aux_logits [B, A, 2, 2]; the target class of attribute a is (source, y_a), source 0 for
    real and 1 for fake: D learns to tell a fake's attributes from a real's, so G cannot satisfy
    the head with patterns only D reads as the attribute.
    """
    if not adc:
      return jnp.mean(optax.sigmoid_binary_cross_entropy(aux_logits, y))
    b, a = y.shape
    labels = 2 * source + y.astype(jnp.int32)  # [B, A] in 0..3
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(aux_logits.reshape(b, a, 4), labels))

  def train_step(state: TrainState, batch) -> tuple[TrainState, dict]:
    key = jax.random.fold_in(state.rng, state.step)
    k_attr, k_adv, k_z = jax.random.split(key, 3)
    real = to_float(batch["image"])  # [B, R, R, 3] in [-1, 1]; batches travel as uint8
    b = real.shape[0]
    if conditional:
      y_real = batch["attributes"][:, attr_idx].astype(jnp.float32)  # [B, A]
      y_fake = fake_attributes(y_real, k_attr, paired=bool(options.mode_seeking))
      # (a key of its own that leaves the other streams, and so earlier runs, as they were)
      y_wrong = flip_one_attribute(y_real, jax.random.fold_in(k_attr, 1)) if mismatch else None
    else:
      y_real = y_fake = y_wrong = None

    d_params, d_bs, d_opt = state.d_params, state.d_batch_stats, state.d_opt_state
    for i in range(options.n_critic):
      z = jax.random.normal(jax.random.fold_in(k_z, i), (b, options.z_dim), jnp.float32)

      def g_forward(g_params, z=z):
        fake, new = generator.apply({"params": g_params, "batch_stats": state.g_batch_stats}, z, y_fake,
                                    train=True, mutable=["batch_stats"])
        return fake, new["batch_stats"]

      # One G forward per critic step; the last one's VJP is reused by the G update.
      fake, g_vjp, g_bs = jax.vjp(g_forward, state.g_params, has_aux=True)
      d_real_in, d_fake_in = real, jax.lax.stop_gradient(fake)
      if options.adversarial is not None:
        d_real_in, d_fake_in = _adversarial_inputs(discriminator, d_params, d_bs, d_real_in, d_fake_in,
                                                   y_real, y_fake, jax.random.fold_in(k_adv, i),
                                                   dict(options.adversarial))

      def d_objective(params, real_in=d_real_in, fake_in=d_fake_in):
        if joint:  # reals (twice with mismatch), then fakes, in one batch: shared BatchNorm statistics
          xs = [real_in, real_in, fake_in] if mismatch else [real_in, fake_in]
          ys = ([y_real, y_wrong, y_fake] if mismatch else [y_real, y_fake]) if conditional else None
          logits, aux_all, bs = d_apply(params, d_bs, jnp.concatenate(xs),
                                        None if ys is None else jnp.concatenate(ys))
          real_logits, fake_logits = logits[:b], logits[-b:]
          wrong_logits = logits[b:2 * b] if mismatch else None
          aux_real, aux_fake = (aux_all[:b], aux_all[-b:]) if aux else (None, None)
        else:
          # Mismatch: the reals twice in one batch (BatchNorm sees the same statistics as for one copy).
          x_in, y_in = ((jnp.concatenate([real_in, real_in]), jnp.concatenate([y_real, y_wrong]))
                        if mismatch else (real_in, y_real))
          logits, aux_real, bs = d_apply(params, d_bs, x_in, y_in, aux_rows=b)  # the head: one copy
          real_logits, wrong_logits = logits[:b], (logits[b:] if mismatch else None)
          fake_logits, aux_fake, bs = d_apply(params, bs, fake_in, y_fake)
        loss = d_loss_fn(real_logits=real_logits, fake_logits=fake_logits)
        if mismatch:
          loss = loss + options.mismatch_weight * d_fake_term(wrong_logits)
        d_aux = jnp.zeros((), jnp.float32)
        if aux:  # ac: the head learns reals' attributes; adc: also fakes' requested ones, as fake classes
          d_aux = (0.5 * (aux_loss(aux_real, y_real, 0) + aux_loss(aux_fake, y_fake, 1)) if adc
                   else aux_loss(aux_real, y_real))
          loss = loss + options.aux_weight * d_aux
        if options.r1_gamma:
          d_fn = lambda x: d_apply(params, d_bs, x, y_real)[0]
          loss = loss + options.r1_gamma * losses.r1_penalty(d_fn=d_fn, real=real)
        return loss, (bs, real_logits, fake_logits, wrong_logits, d_aux)

      (d_loss, (d_bs, real_logits, fake_logits, wrong_logits, d_aux)), d_grads = jax.value_and_grad(
          d_objective, has_aux=True)(d_params)
      updates, d_opt = state.d_tx.update(d_grads, d_opt, d_params)
      d_params = optax.apply_updates(d_params, updates)

    g_real_in = jax.lax.stop_gradient(d_real_in) if joint else None  # the last critic step's reals ride along

    def g_objective(fake_in):
      if joint:  # D normalises the fakes together with reals here too, as in its own update
        logits, aux_all, bs = d_apply(d_params, d_bs, jnp.concatenate([g_real_in, fake_in]),
                                      jnp.concatenate([y_real, y_fake]) if conditional else None)
        logits, aux_fake = logits[b:], (aux_all[b:] if aux else None)
      else:
        logits, aux_fake, bs = d_apply(d_params, d_bs, fake_in, y_fake)
      loss = g_loss_fn(fake_logits=logits)
      g_aux = jnp.zeros((), jnp.float32)
      if aux:  # G is pushed to make the requested attributes recognisable
        g_aux = aux_loss(aux_fake, y_fake, 0)
        if options.aux_mode == "adc_ratio":  # Hou et al.'s G objective: log C(fake, y|x) - log C(real, y|x)
          g_aux = g_aux - aux_loss(aux_fake, y_fake, 1)
        loss = loss + options.aux_weight * g_aux
      spread = jnp.zeros((), jnp.float32)
      if options.mode_seeking:
        spread = pair_spread(fake_in, z)  # z: the last critic step's latents, those behind `fake`
        loss = loss + options.mode_seeking / (spread + MODE_SEEKING_EPS)
      return loss, (bs, g_aux, spread)

    (g_loss, (d_bs, g_aux, spread)), dfake = jax.value_and_grad(g_objective, has_aux=True)(fake)
    (g_grads,) = g_vjp(dfake)
    updates, g_opt = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    decay = options.ema_decay
    ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, g_params)

    new_state = state.replace(step=state.step + 1, g_params=g_params, g_batch_stats=g_bs,
                              d_params=d_params, d_batch_stats=d_bs, g_opt_state=g_opt,
                              d_opt_state=d_opt, ema_params=ema)
    metrics = {
        "d_loss": d_loss, "g_loss": g_loss,
        "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),   # mean D(x)
        "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),   # mean D(G(z)) before D's update
        "d_grad_norm": optax.tree.norm(d_grads), "g_grad_norm": optax.tree.norm(g_grads),
    }
    if mismatch:
      metrics.update(d_mismatch=jnp.mean(jax.nn.sigmoid(wrong_logits)))  # mean D(x, attributes wrong in one place)
    if options.mode_seeking:
      metrics.update(g_spread=spread)  # G's image distance per latent distance over the pairs
    if aux:
      metrics.update(d_aux=d_aux, g_aux=g_aux)  # attribute cross-entropies: D on reals, G's fakes
    return new_state, jax.tree.map(lambda m: m.astype(jnp.float32), metrics)

  return train_step


def _adversarial_inputs(discriminator, d_params, d_bs, real, fake, y_real, y_fake, key, adv):
  """PGD-perturbs part of D's real and fake inputs (D in inference mode, no grads to params)."""
  variables = jax.lax.stop_gradient({"params": d_params, "batch_stats": d_bs})

  settings = dict(norm=adv["norm"], eps=adv["eps"], step_size=adv["step_size"],
                  num_steps=adv["num_steps"], fraction=adv["fraction"])
  # A conditional D sees the attacked rows [real[:k]; fake[:k]] with their own attributes.
  y = None if y_real is None else adversarial.d_input_attributes(y_real, y_fake, adv["fraction"])
  d_logits_fn = lambda x: discriminator.apply(variables, x, y, train=False)
  return adversarial.perturb_d_inputs(d_logits_fn, real, fake, key, **settings)


def make_multi_step(train_step: Callable, k: int) -> Callable:
  """k train steps per dispatch.

  Batches carry a leading [k] axis; the returned metrics are per-step arrays [k].
  """
  if k == 1:
    def one_step(state, batches):
      state, metrics = train_step(state, jax.tree.map(lambda x: x[0], batches))
      return state, jax.tree.map(lambda m: m[None], metrics)
    return one_step
  return lambda state, batches: jax.lax.scan(train_step, state, batches)

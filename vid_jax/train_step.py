"""The pure GAN train step: D update(s), then a G update that reuses G's forward pass.

Each loss is a weighted sum of named terms (losses.combine): D's of adversarial, mismatch, aux and
r1; G's of adversarial, aux and mode_seeking; a term whose weight is 0 is not computed. How D sees
a step's reals and fakes is a D application: the core's "separate" (below) or the experimental
"joint" (vid_jax.experimental.joint_batch), picked by `StepOptions.d_batch`. With a DiffAugment
policy (`StepOptions.diffaugment`, vid_jax.augment) every image D sees is augmented first.
"""
import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from vid_jax import augment
from vid_jax import losses
from vid_jax.data.loader import to_float
from vid_jax.experimental import joint_batch
from vid_jax.refiners import adversarial
from vid_jax.train_state import TrainState

# fold_in constant of DiffAugment's keys: a stream of its own beside the step's split, so the
# other streams, and with no policy the whole step, are as they were before the option existed.
AUGMENT_STREAM = 0x44694175


@dataclasses.dataclass(frozen=True)
class StepOptions:
  """Static settings of the train step (hashable; part of the compiled program)."""
  loss: str = "ns"
  n_critic: int = 1
  r1_gamma: float = 0.0
  ema_decay: float = 0.999
  z_dim: int = 100
  attribute_indices: tuple[int, ...] = ()  # columns of batch["attributes"] the models condition on
  adversarial: Any = None  # frozen dict of PGD settings, or None (off)
  aux_weight: float = 0.0  # AC-GAN attribute loss: D's head on reals, G on fakes
  aux_mode: str = "ac"  # ac: head learns reals' attributes | adc: (real, fake) x attribute
  mode_seeking: float = 0.0  # weight of G's mode-seeking term (Mao et al. 2019); 0 = off
  mismatch_weight: float = 0.0  # D's loss on reals with one attribute flipped, as fakes (Reed 2016)
  d_batch: str = "separate"  # a D_APPLICATIONS name: separate | joint (experimental)
  diffaugment: tuple[str, ...] = ()  # vid_jax.augment names applied to every image D sees; () = off

  def d_weights(self) -> dict:
    """D's loss terms' weights (terms that do not apply get 0)."""
    conditional = bool(self.attribute_indices)
    return {
        "adversarial": 1.0,
        "mismatch": self.mismatch_weight if conditional else 0.0,
        "aux": self.aux_weight if conditional else 0.0,
        "r1": self.r1_gamma
    }

  def g_weights(self) -> dict:
    """G's loss terms' weights."""
    return {
        "adversarial": 1.0,
        "aux": self.aux_weight if self.attribute_indices else 0.0,
        "mode_seeking": self.mode_seeking
    }


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


def separate_for_d(d_apply, params, batch_stats, *, real, fake, y_real, y_fake, y_wrong):
  """D's logits for its update: the reals, then the fakes, each batch with its own BatchNorm statistics.

  Args:
    d_apply: (params, batch_stats, x, y, aux_rows=None) -> (logits [N], attribute logits of the
      first aux_rows images (all if None) or None, new batch_stats).
    real, fake: images [B, R, R, 3]; y_real, y_fake: attributes [B, A] or None (unconditional);
    y_wrong: the reals' attributes with one flipped [B, A], or None (no matching-aware term).

  Returns:
    dict(real, wrong, fake: logits [B] (wrong None without y_wrong), aux_real, aux_fake: attribute
    logits or None, batch_stats).
  """
  b = real.shape[0]
  mismatch = y_wrong is not None
  # Mismatch: the reals twice in one batch (BatchNorm sees the same statistics as for one copy).
  x_in, y_in = ((jnp.concatenate([real, real]), jnp.concatenate([y_real, y_wrong])) if mismatch else
                (real, y_real))
  logits, aux_real, bs = d_apply(params, batch_stats, x_in, y_in, aux_rows=b)  # the head: one copy
  real_logits, wrong_logits = logits[:b], (logits[b:] if mismatch else None)
  fake_logits, aux_fake, bs = d_apply(params, bs, fake, y_fake)
  return dict(real=real_logits, wrong=wrong_logits, fake=fake_logits, aux_real=aux_real, aux_fake=aux_fake,
              batch_stats=bs)


def separate_for_g(d_apply, params, batch_stats, *, fake, y_fake, real, y_real):
  """D's logits of the fakes for G's update (`real`, `y_real`: for applications that batch them too).

  Returns:
    dict(fake: logits [B], aux_fake: attribute logits or None, batch_stats).
  """
  logits, aux_fake, bs = d_apply(params, batch_stats, fake, y_fake)
  return dict(fake=logits, aux_fake=aux_fake, batch_stats=bs)


class DApplication(NamedTuple):
  """How D sees a step's images: `for_d` in D's update, `for_g` in G's (signatures as separate_for_*)."""
  for_d: Callable[..., dict]
  for_g: Callable[..., dict]


D_APPLICATIONS = {
    "separate": DApplication(separate_for_d, separate_for_g),
    "joint": DApplication(joint_batch.for_d, joint_batch.for_g)
}  # experimental


def make_train_step(*, generator, discriminator, options: StepOptions) -> Callable:
  """Returns `train_step(state, batch) -> (state, metrics)`; metrics are float32 scalars."""
  d_loss_fn, g_loss_fn = losses.LOSSES[options.loss]
  d_fake_term = losses.D_FAKE_TERMS[options.loss]
  conditional = bool(options.attribute_indices)
  attr_idx = jnp.asarray(options.attribute_indices, jnp.int32) if conditional else None
  if options.d_batch not in D_APPLICATIONS:
    raise ValueError(f"d_batch={options.d_batch!r}; use one of {tuple(D_APPLICATIONS)}")
  apply_d = D_APPLICATIONS[options.d_batch]
  policy = tuple(options.diffaugment)
  if any(name not in augment.AUGMENTATIONS for name in policy):
    raise ValueError(f"diffaugment={policy!r}; use names from {tuple(augment.AUGMENTATIONS)}")
  d_weights, g_weights = options.d_weights(), options.g_weights()
  aux = bool(d_weights["aux"])
  adc = aux and options.aux_mode == "adc"
  mismatch = bool(d_weights["mismatch"])

  def d_apply(params, batch_stats, x, y, aux_rows=None):  # -> (logits, attribute logits of the
    # first aux_rows images (all if None) or None, batch stats)
    out, new = discriminator.apply({
        "params": params,
        "batch_stats": batch_stats
    }, x, y, train=True, mutable=["batch_stats"], return_aux=aux, aux_rows=aux_rows)
    logits, aux_logits = out if aux else (out, None)
    return logits, aux_logits, new["batch_stats"]

  def d_aux_term(out, y_real, y_fake):
    """ac: the head learns reals' attributes; adc: also fakes' requested ones, as fake classes."""
    if adc:
      return 0.5 * (losses.aux_ce(logits=out["aux_real"], attributes=y_real, source=0) +
                    losses.aux_ce(logits=out["aux_fake"], attributes=y_fake, source=1))
    return losses.aux_ce(logits=out["aux_real"], attributes=y_real)

  def train_step(state: TrainState, batch) -> tuple[TrainState, dict]:
    key = jax.random.fold_in(state.rng, state.step)
    k_attr, k_adv, k_z = jax.random.split(key, 3)
    # DiffAugment: critic step i's reals and fakes from fold_in(k_aug, i), G's fakes from
    # fold_in(k_aug, n_critic). No policy: no key and no op, the step as without the option.
    k_aug = jax.random.fold_in(key, AUGMENT_STREAM) if policy else None
    augment_with = lambda k, x: augment.diff_augment(k, x, policy) if policy else x
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
        fake, new = generator.apply({
            "params": g_params,
            "batch_stats": state.g_batch_stats
        }, z, y_fake, train=True, mutable=["batch_stats"])
        return fake, new["batch_stats"]

      # One G forward per critic step; the last one's VJP is reused by the G update.
      fake, g_vjp, g_bs = jax.vjp(g_forward, state.g_params, has_aux=True)
      k_real, k_fake = jax.random.split(jax.random.fold_in(k_aug, i)) if policy else (None, None)
      augment_real = lambda x, k=k_real: augment_with(k, x)  # [B, R, R, 3] -> [B, R, R, 3]
      # The mismatched reals are these augmented reals with wrong attributes (the same images).
      d_real_in, d_fake_in = augment_real(real), augment_with(k_fake, jax.lax.stop_gradient(fake))
      if options.adversarial is not None:
        # PGD perturbs what D sees: the augmented images.
        d_real_in, d_fake_in = _adversarial_inputs(discriminator, d_params, d_bs, d_real_in, d_fake_in,
                                                   y_real, y_fake, jax.random.fold_in(k_adv, i),
                                                   dict(options.adversarial))

      def d_objective(params, real_in=d_real_in, fake_in=d_fake_in, batch_stats=d_bs,
                      augment_real=augment_real):
        out = apply_d.for_d(d_apply, params, batch_stats, real=real_in, fake=fake_in, y_real=y_real,
                            y_fake=y_fake, y_wrong=y_wrong)
        # R1 w.r.t. the un-augmented reals, through the augmentation: grad_x D(augment(x)) with the
        # same augmentation as the reals D scored (before any PGD), as DiffAugment's
        # ns_DiffAugment_r1; without a policy, grad_x D(x) as before.
        r1_fn = lambda x: d_apply(params, batch_stats, augment_real(x), y_real)[0]
        loss, values = losses.combine(
            {
                "adversarial":
                    losses.Term(lambda: d_loss_fn(real_logits=out["real"], fake_logits=out["fake"])),
                "mismatch":
                    losses.Term(lambda: d_fake_term(out["wrong"])),
                "aux":
                    losses.Term(lambda: d_aux_term(out, y_real, y_fake)),
                "r1":
                    losses.Term(lambda: losses.r1_penalty(d_fn=r1_fn, real=real)),
            }, d_weights)
        d_aux = values.get("aux", jnp.zeros((), jnp.float32))
        return loss, (out["batch_stats"], out["real"], out["fake"], out["wrong"], d_aux)

      (d_loss, (d_bs, real_logits, fake_logits, wrong_logits,
                d_aux)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(d_params)
      updates, d_opt = state.d_tx.update(d_grads, d_opt, d_params)
      d_params = optax.apply_updates(d_params, updates)

    k_g_fake = jax.random.fold_in(k_aug, options.n_critic) if policy else None

    def g_objective(fake_in):
      # D sees the fakes augmented afresh; G's gradient flows back through the augmentation.
      out = apply_d.for_g(d_apply, d_params, d_bs, fake=augment_with(k_g_fake, fake_in), y_fake=y_fake,
                          real=d_real_in, y_real=y_real)
      loss, values = losses.combine(
          {
              "adversarial": losses.Term(lambda: g_loss_fn(fake_logits=out["fake"])),
              # G is pushed to make the requested attributes recognisable (as reals' in ADC's head)
              "aux": losses.Term(lambda: losses.aux_ce(logits=out["aux_fake"], attributes=y_fake, source=0)),
              # z: the last critic step's latents, those behind `fake`
              "mode_seeking": losses.Term(lambda: losses.pair_spread(fake_in, z), losses.inverse),
          },
          g_weights)
      zero = jnp.zeros((), jnp.float32)
      return loss, (out["batch_stats"], values.get("aux", zero), values.get("mode_seeking", zero))

    (g_loss, (d_bs, g_aux, spread)), dfake = jax.value_and_grad(g_objective, has_aux=True)(fake)
    (g_grads,) = g_vjp(dfake)
    updates, g_opt = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    decay = options.ema_decay
    ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, g_params)

    new_state = state.replace(step=state.step + 1, g_params=g_params, g_batch_stats=g_bs, d_params=d_params,
                              d_batch_stats=d_bs, g_opt_state=g_opt, d_opt_state=d_opt, ema_params=ema)
    metrics = {
        "d_loss": d_loss,
        "g_loss": g_loss,
        "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),  # mean D(x)
        "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),  # mean D(G(z)) before D's update
        "d_grad_norm": optax.tree.norm(d_grads),
        "g_grad_norm": optax.tree.norm(g_grads),
    }
    if mismatch:
      metrics.update(d_mismatch=jnp.mean(
          jax.nn.sigmoid(wrong_logits)))  # mean D(x, attributes wrong in one place)
    if options.mode_seeking:
      metrics.update(g_spread=spread)  # G's image distance per latent distance over the pairs
    if aux:
      metrics.update(d_aux=d_aux, g_aux=g_aux)  # attribute cross-entropies: D on reals, G's fakes
    return new_state, jax.tree.map(lambda m: m.astype(jnp.float32), metrics)

  return train_step


def _adversarial_inputs(discriminator, d_params, d_bs, real, fake, y_real, y_fake, key, adv):
  """PGD-perturbs part of D's real and fake inputs (D in inference mode, no grads to params)."""
  variables = jax.lax.stop_gradient({"params": d_params, "batch_stats": d_bs})

  settings = dict(norm=adv["norm"], eps=adv["eps"], step_size=adv["step_size"], num_steps=adv["num_steps"],
                  fraction=adv["fraction"])
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

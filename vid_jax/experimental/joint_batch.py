"""Reals and fakes through D as one batch (`optim.d_batch = "joint"`): the train step's D application.

With the core's "separate" application D's BatchNorm normalises the real and the fake batch each
by its own statistics (DCGAN's practice); here they share one batch's statistics, in D's update and
in G's, so a shift common to the fakes is not normalised away. Same signatures and results as the
core's (vid_jax.train_step.separate_for_d / separate_for_g).
"""
import jax
import jax.numpy as jnp


def for_d(d_apply, params, batch_stats, *, real, fake, y_real, y_fake, y_wrong):
  """D's logits for its update: reals (twice with mismatched attributes), then fakes, in one batch.

  Args:
    d_apply: (params, batch_stats, x, y, aux_rows=None) -> (logits [N], attribute logits or None,
      new batch_stats).
    real, fake: images [B, R, R, 3]; y_real, y_fake: attributes [B, A] or None (unconditional);
    y_wrong: the reals' attributes with one flipped [B, A], or None (no matching-aware term).

  Returns:
    dict(real, wrong, fake: logits [B] (wrong None without y_wrong), aux_real, aux_fake: attribute
    logits or None, batch_stats).
  """
  b = real.shape[0]
  mismatch = y_wrong is not None
  xs = [real, real, fake] if mismatch else [real, fake]
  ys = ([y_real, y_wrong, y_fake] if mismatch else [y_real, y_fake]) if y_real is not None else None
  logits, aux_all, bs = d_apply(params, batch_stats, jnp.concatenate(xs),
                                None if ys is None else jnp.concatenate(ys))
  has_aux = aux_all is not None
  return dict(real=logits[:b], wrong=logits[b:2 * b] if mismatch else None, fake=logits[-b:],
              aux_real=aux_all[:b] if has_aux else None, aux_fake=aux_all[-b:] if has_aux else None,
              batch_stats=bs)


def for_g(d_apply, params, batch_stats, *, fake, y_fake, real, y_real):
  """D's logits of the fakes for G's update, normalised together with the (constant) reals.

  Returns:
    dict(fake: logits [B], aux_fake: attribute logits or None, batch_stats).
  """
  b = real.shape[0]
  real = jax.lax.stop_gradient(real)  # the last critic step's reals ride along
  logits, aux_all, bs = d_apply(params, batch_stats, jnp.concatenate([real, fake]),
                                None if y_real is None else jnp.concatenate([y_real, y_fake]))
  return dict(fake=logits[b:], aux_fake=None if aux_all is None else aux_all[b:], batch_stats=bs)

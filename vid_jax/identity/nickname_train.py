"""Trains the nickname model and measures it (tools/train_nickname.py, configs/nickname.py).

Workdir: checkpoints/ (orbax items "state" for resuming, "params" and "meta" for
nickname.load_nickname_model), metrics.json (quality figures), metrics.jsonl and
TensorBoard events. Batches are a pure function of (seed, step), so a run interrupted
and resumed from its last checkpoint ends with the same params as an uninterrupted one.

Losses are nats per predicted token (each character and the final EOS) on the held-out
strings, for the model, for an add-alpha bigram model counted on the same training
strings (alpha picked on the held-out strings, which flatters the baseline), and for the
model reading every held-out string after a wrong locale token (averaged over the wrong
locales).
"""
import dataclasses
import functools
import json
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging

from vid_jax import paths
from vid_jax import writer as writer_lib
from vid_jax.checkpoint import abstract_with_sharding
from vid_jax.errors import UserError
from vid_jax.identity import nickname as nick_lib
from vid_jax.identity import nickname_data as data_lib
from vid_jax.identity.locales import LOCALES
from vid_jax.identity.nickname_model import NicknameTransformer, param_count, sample, token_nll

BIGRAM_ALPHAS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
# The rbg PRNG in training: threefry's random-bits code compiles several times slower on XLA:CPU.
PRNG_IMPL = "rbg"


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # int32 []
  params: Any
  opt_state: Any


def _err(field, value, fix):
  return UserError(f"config.{field}={value!r}: {fix}")


def validate_config(config) -> None:
  """One UserError per bad field, before anything compiles."""
  d, m, o, t, e = config.data, config.model, config.optim, config.train, config.eval
  if not 4 <= d.max_chars <= 32:
    raise _err("data.max_chars", d.max_chars, "use 4..32")
  if not 0.0 < d.heldout_fraction < 0.5:
    raise _err("data.heldout_fraction", d.heldout_fraction, "must be in (0, 0.5)")
  if not 0.0 <= d.unk_rate < 0.5:
    raise _err("data.unk_rate", d.unk_rate, "must be in [0, 0.5)")
  if d.locale_balance < 0:
    raise _err("data.locale_balance", d.locale_balance, "must be >= 0")
  for field in ("width", "depth", "heads", "mlp_ratio"):
    if m[field] < 1:
      raise _err(f"model.{field}", m[field], "must be a positive integer")
  if m.width % m.heads:
    raise _err("model.heads", m.heads, f"must divide model.width ({m.width})")
  if not 0.0 <= m.dropout < 1.0:
    raise _err("model.dropout", m.dropout, "must be in [0, 1)")
  if o.lr <= 0 or o.clip_norm <= 0 or o.weight_decay < 0 or not 0 <= o.end_lr_fraction <= 1:
    raise _err("optim", o.to_dict(),
               "lr and clip_norm must be > 0, weight_decay >= 0, end_lr_fraction in [0, 1]")
  if t.num_steps < 1 or t.batch_size < 1 or t.steps_per_dispatch < 1 or t.keep < 1:
    raise _err("train", t.to_dict(), "num_steps, batch_size, steps_per_dispatch and keep must be >= 1")
  if o.warmup_steps < 0 or o.warmup_steps >= t.num_steps:
    raise _err("optim.warmup_steps", o.warmup_steps, f"must be in [0, train.num_steps={t.num_steps})")
  k = t.steps_per_dispatch
  for field in ("num_steps", "log_every", "checkpoint_every"):
    if t[field] < 1 or t[field] % k:
      raise _err(f"train.{field}", t[field], f"must be a positive multiple of train.steps_per_dispatch ({k})")
  if e.samples_per_locale < 1 or e.batch_size < 1 or e.temperature <= 0 or e.designer_requests < 1:
    raise _err("eval", e.to_dict(), "samples_per_locale, batch_size, designer_requests >= 1, temperature > 0")


@dataclasses.dataclass(frozen=True)
class OptimOptions:
  """config.optim plus the step count its schedule spans (hashable: keys the compiled step)."""
  lr: float
  warmup_steps: int
  end_lr_fraction: float
  weight_decay: float
  b2: float
  clip_norm: float
  num_steps: int

  @classmethod
  def from_config(cls, config):
    o = config.optim
    return cls(lr=o.lr, warmup_steps=o.warmup_steps, end_lr_fraction=o.end_lr_fraction,
               weight_decay=o.weight_decay, b2=o.b2, clip_norm=o.clip_norm, num_steps=config.train.num_steps)


def make_module(config, vocab: data_lib.Vocab) -> NicknameTransformer:
  m = config.model
  return NicknameTransformer(vocab_size=vocab.size, max_len=config.data.max_chars + 2, width=m.width,
                             depth=m.depth, heads=m.heads, mlp_ratio=m.mlp_ratio, dropout=m.dropout)


def make_optimizer(o: OptimOptions) -> optax.GradientTransformation:
  """AdamW with linear warmup and cosine decay, after global-norm clipping."""
  schedule = optax.warmup_cosine_decay_schedule(0.0, o.lr, o.warmup_steps, o.num_steps,
                                                end_value=o.lr * o.end_lr_fraction)
  return optax.chain(optax.clip_by_global_norm(o.clip_norm),
                     optax.adamw(schedule, b2=o.b2, weight_decay=o.weight_decay))


# Cached: runs with the same model and settings in one process (tests, resumes) compile once.
@functools.lru_cache(maxsize=8)
def make_init(module: NicknameTransformer, optim: OptimOptions, seed: int):
  """A jitted `init() -> TrainState` (step 0)."""
  tx = make_optimizer(optim)

  @jax.jit
  def init():
    params = module.init(jax.random.key(seed, impl=PRNG_IMPL), jnp.zeros((1, module.max_len),
                                                                         jnp.int32))["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))

  return init


@functools.lru_cache(maxsize=8)
def make_train_chunk(module: NicknameTransformer, optim: OptimOptions, *, batch_size: int, unk_rate: float,
                     seed: int, steps: int):
  """A jitted `chunk(state, data, weights) -> (state, metrics)` running `steps` steps in a scan.

  data: int32 [N, T] encoded training strings; weights: float32 [N] draw probabilities.
  Step s draws its batch, UNK inputs and dropout from fold_in(key(seed), s) only.
  """
  tx = make_optimizer(optim)
  base = jax.random.key(seed, impl=PRNG_IMPL)

  def step(state, data, weights):
    k_idx, k_unk, k_drop = jax.random.split(jax.random.fold_in(base, state.step), 3)
    seq = data[jax.random.choice(k_idx, data.shape[0], (batch_size,), p=weights)]  # [B, T]
    inputs, targets = seq[:, :-1], seq[:, 1:]
    drop = (inputs >= data_lib.NUM_SPECIAL) & jax.random.bernoulli(k_unk, unk_rate, inputs.shape)
    inputs = jnp.where(drop, data_lib.UNK, inputs)
    mask = (targets != data_lib.PAD).astype(jnp.float32)

    def loss_fn(params):
      logits = module.apply({"params": params}, inputs, train=True, rngs={"dropout": k_drop})
      nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
      return jnp.sum(nll * mask) / jnp.sum(mask)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state)
    return state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  @jax.jit
  def chunk(state, data, weights):
    state, metrics = jax.lax.scan(lambda s, _: step(s, data, weights), state, None, length=steps)
    return state, jax.tree.map(jnp.mean, metrics)

  return chunk


_token_nll = jax.jit(token_nll, static_argnames="module")


def heldout_losses(params, module, data: data_lib.NicknameData, *, batch_size: int) -> dict:
  """Held-out nats/char with the right locale token and with each wrong one (overall and per locale)."""
  seq = data.heldout
  loc = seq[:, 0] - data_lib.bos_id(0)
  out = {}
  for shift in range(len(LOCALES)):
    wrong = seq.copy()
    wrong[:, 0] = data_lib.bos_id(0) + (loc + shift) % len(LOCALES)
    sums, counts = np.zeros(len(LOCALES)), np.zeros(len(LOCALES))
    for i in range(0, len(seq), batch_size):
      nll, mask = jax.device_get(_token_nll(params, jnp.asarray(wrong[i:i + batch_size]), module=module))
      np.add.at(sums, loc[i:i + batch_size], (nll * mask).sum(1))
      np.add.at(counts, loc[i:i + batch_size], mask.sum(1))
    out[shift] = (sums, counts)
  right_s, right_c = out[0]
  wrong_s = sum(out[s][0] for s in range(1, len(LOCALES))) / (len(LOCALES) - 1)
  return {
      "heldout": float(right_s.sum() / right_c.sum()),
      "wrong_locale": float(wrong_s.sum() / right_c.sum()),
      "per_locale": {
          l: {
              "heldout": float(right_s[j] / right_c[j]),
              "wrong_locale": float(wrong_s[j] / right_c[j])
          } for j, l in enumerate(LOCALES)
      }
  }


def bigram_losses(data: data_lib.NicknameData) -> dict:
  """Held-out nats/char of add-alpha bigram models counted on the training strings (best alpha)."""
  v = data.vocab.size

  def counts(seq):
    prev, nxt = seq[:, :-1].ravel(), seq[:, 1:].ravel()
    keep = nxt != data_lib.PAD
    return prev[keep], nxt[keep]

  table = np.zeros((v, v))
  np.add.at(table, counts(data.train), 1.0)
  prev, nxt = counts(data.heldout)
  loc = np.repeat(data.heldout[:, 0] - data_lib.bos_id(0), (data.heldout[:, 1:] != data_lib.PAD).sum(1))
  best = None
  for alpha in BIGRAM_ALPHAS:
    nll = -np.log((table[prev, nxt] + alpha) / (table[prev].sum(1) + alpha * (v - data_lib.NUM_SPECIAL + 1)))
    if best is None or nll.mean() < best[1].mean():
      best = (alpha, nll)
  alpha, nll = best
  return {
      "bigram": float(nll.mean()),
      "alpha": alpha,
      "per_locale": {
          l: float(nll[loc == j].mean()) for j, l in enumerate(LOCALES)
      }
  }


def sample_quality(model: nick_lib.NicknameModel, *, key, num: int, batch_size: int,
                   temperature: float) -> dict:
  """Validity, uniqueness and novelty of `num` unsteered names per locale (and their means)."""
  out = {}
  for j, loc in enumerate(LOCALES):
    texts, valid = [], []
    for start in range(0, num, batch_size):
      b = min(batch_size, num - start)
      drawn = jax.device_get(
          sample(model.params, jax.random.fold_in(key, j * 100_003 + start), jnp.full((b,), j, jnp.int32),
                 jnp.zeros((b, model.max_chars), jnp.int32), jnp.zeros((b, model.max_chars), bool),
                 module=model.module, temperature=temperature))
      for row in range(b):
        text, in_script = nick_lib.decode_candidate(model, loc, drawn["tokens"][row], {})
        texts.append(text)
        valid.append(bool(drawn["terminated"][row]) and in_script and len(text) >= nick_lib.MIN_CHARS[loc])
    good = [t for t, ok in zip(texts, valid) if ok]
    out[loc] = {
        "validity": len(good) / num,
        "uniqueness": len(set(good)) / max(len(good), 1),
        "novelty": sum(t not in model.training_names[loc] for t in good) / max(len(good), 1),
        "examples": sorted(set(good))[:12]
    }
  for k in ("validity", "uniqueness", "novelty"):
    out[k] = float(np.mean([out[loc][k] for loc in LOCALES]))
  return out


def _run_fields(config: dict) -> dict:
  """The settings a resumed run must share with its start (not logging or evaluation)."""
  t = config["train"]
  return {
      "data": config["data"],
      "model": config["model"],
      "optim": config["optim"],
      "train": {
          k: t[k] for k in ("num_steps", "batch_size", "steps_per_dispatch", "seed")
      }
  }


def _meta(config, data: data_lib.NicknameData, module: NicknameTransformer, step: int) -> dict:
  model = {
      f.name: getattr(module, f.name) for f in dataclasses.fields(module) if f.name not in ("parent", "name")
  }
  return {
      "kind": "nickname",
      "version": nick_lib.META_VERSION,
      "step": int(step),
      "config": config.to_dict(),
      "model": model,
      "chars": list(data.vocab.chars),
      "train_names": {
          l: list(v) for l, v in data.train_names.items()
      },
      "heldout_names": {
          l: list(v) for l, v in data.heldout_names.items()
      }
  }


def train_nickname(config, workdir: str, *, stop_after: int | None = None) -> dict:
  """Trains (or resumes) the nickname model of `config` in `workdir`, then writes metrics.json.

  Args:
    config: configs/nickname.py's ConfigDict.
    workdir: output folder; an existing checkpoint there is resumed.
    stop_after: stop after this step without the final save or evaluation, as an
      interrupted run would (tests); None = run to config.train.num_steps.

  Returns:
    The metrics written to WORKDIR/metrics.json ({"step": ...} only when stopped early).
  """
  validate_config(config)
  t_start = time.perf_counter()
  d, t = config.data, config.train
  data = data_lib.load_data(max_chars=d.max_chars, heldout_fraction=d.heldout_fraction, seed=d.seed,
                            locale_balance=d.locale_balance)
  module, optim = make_module(config, data.vocab), OptimOptions.from_config(config)
  init = make_init(module, optim, t.seed)

  manager = nick_lib.checkpoint_manager(workdir, read_only=False, keep=t.keep)
  try:
    state = _restore_or_init(manager, workdir, config, data=data, init=init)
    metrics = _train_loop(config, workdir, manager=manager, data=data, module=module, optim=optim,
                          state=state, t_start=t_start, stop_after=stop_after)
  finally:
    manager.close()
  return metrics


def _restore_or_init(manager, workdir: str, config, *, data: data_lib.NicknameData, init) -> TrainState:
  """The latest checkpoint's train state (checked against the config), or a new one."""
  start = manager.latest_step()
  if start is None:
    return init()
  try:
    meta = manager.restore(start, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
  except (KeyError, ValueError, FileNotFoundError):
    meta = {}
  if meta.get("kind") != "nickname":
    raise UserError(f"{workdir}/checkpoints holds another model's checkpoints; give a new --workdir")
  if meta.get("chars") != list(data.vocab.chars) or _run_fields(meta["config"]) != _run_fields(
      config.to_dict()):
    raise UserError(f"the checkpoint in {workdir} was trained on other data or with other data/model/optim/"
                    "train settings; resume with the run's config (its checkpoints' meta) or train in a new "
                    "--workdir")
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = abstract_with_sharding(jax.eval_shape(init), device)
  state = manager.restore(start, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
  logging.info("nickname: resumed at step %d from %s", start, workdir)
  return state


def _train_loop(config, workdir: str, *, manager, data: data_lib.NicknameData, module: NicknameTransformer,
                optim: OptimOptions, state: TrainState, t_start: float, stop_after: int | None) -> dict:
  """Steps from state.step to train.num_steps with logging and checkpoints, then evaluate()."""
  d, t = config.data, config.train
  start = int(state.step)
  chunk = make_train_chunk(module, optim, batch_size=t.batch_size, unk_rate=d.unk_rate, seed=t.seed,
                           steps=t.steps_per_dispatch)
  train_data, weights = jnp.asarray(data.train), jnp.asarray(data.train_weights)
  writer = writer_lib.MetricWriter(workdir, enabled=jax.process_index() == 0)

  def save(step):
    manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                      params=ocp.args.StandardSave(state.params),
                                      meta=ocp.args.JsonSave(_meta(config, data, module, step))), force=True)

  t_log, step_log, last = time.perf_counter(), start, {}
  try:
    for step in range(start + t.steps_per_dispatch, t.num_steps + 1, t.steps_per_dispatch):
      state, metrics = chunk(state, train_data, weights)
      if step % t.log_every == 0 or step == t.num_steps:
        last = {f"nickname/{k}": float(v) for k, v in jax.device_get(metrics).items()}
        if not np.isfinite(last["nickname/loss"]):
          raise UserError(f"nickname loss is {last['nickname/loss']} at step {step}; lower config.optim.lr")
        now = time.perf_counter()
        last["nickname/steps_per_sec"] = (step - step_log) / max(now - t_log, 1e-9)
        t_log, step_log = now, step
        writer.scalars(step, last)
        logging.info("nickname step %d/%d loss %.4f (%.1f steps/s)", step, t.num_steps, last["nickname/loss"],
                     last["nickname/steps_per_sec"])
      if step % t.checkpoint_every == 0 and step != t.num_steps:
        save(step)
      if stop_after is not None and step >= stop_after:
        return {"step": step}
    if manager.latest_step() != t.num_steps:
      save(t.num_steps)
    train_s = time.perf_counter() - t_start
    metrics = evaluate(config, data, module, state.params, step=t.num_steps)
    # Times of this process: a resumed run (resumed_from > 0) counts only its own steps.
    metrics.update(train_s=train_s, wall_s=time.perf_counter() - t_start, resumed_from=start,
                   train_loss=last.get("nickname/loss"))
    writer.scalars(t.num_steps, {
        f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None
    })
    if jax.process_index() == 0:
      with paths.workdir_file(workdir, "metrics.json").open("w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2, ensure_ascii=False)
  finally:
    writer.close()
  return metrics


def evaluate(config, data: data_lib.NicknameData, module: NicknameTransformer, params, *, step: int) -> dict:
  """The quality figures of metrics.json (see the module docstring)."""
  e = config.eval
  loss = heldout_losses(params, module, data, batch_size=e.batch_size)
  bigram = bigram_losses(data)
  train = {l: frozenset(v) for l, v in data.train_names.items()}
  model = nick_lib.NicknameModel(params=params, module=module, vocab=data.vocab, config=config.to_dict(),
                                 step=step, training_names=train,
                                 known_names={l: train[l] | frozenset(data.heldout_names[l]) for l in LOCALES})
  key = jax.random.key(config.train.seed + 1)
  quality = sample_quality(model, key=key, num=e.samples_per_locale, batch_size=e.batch_size,
                           temperature=e.temperature)
  n = e.designer_requests
  locales = [l for l in LOCALES for _ in range(n)]
  _, designer = nick_lib.draw_nicknames(model, key=jax.random.fold_in(key, 1), locales=locales,
                                        keywords=[[]] * len(locales), temperature=e.temperature)
  per_locale = {
      l: {
          "heldout_nats_per_char": loss["per_locale"][l]["heldout"],
          "bigram_nats_per_char": bigram["per_locale"][l],
          "wrong_locale_nats_per_char": loss["per_locale"][l]["wrong_locale"],
          "train_strings": len(data.train_names[l]),
          "heldout_strings": len(data.heldout_names[l]),
          **quality[l]
      } for l in LOCALES
  }
  return {
      "step": step,
      "heldout_nats_per_char": float(loss["heldout"]),
      "bigram_nats_per_char": bigram["bigram"],
      "bigram_alpha": bigram["alpha"],
      "wrong_locale_nats_per_char": float(loss["wrong_locale"]),
      "novelty": quality["novelty"],
      "uniqueness": quality["uniqueness"],
      "validity": quality["validity"],
      "rejection_rate": designer["rejection_rate"],
      "designer": designer,
      "param_count": param_count(params),
      "vocab_size": data.vocab.size,
      "samples_per_locale": e.samples_per_locale,
      "per_locale": per_locale
  }

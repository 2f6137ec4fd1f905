"""The nickname model: a small causal character transformer whose first token is the locale.

  tokens [B, T] = BOS(locale), c1, c2, ... -> logits [B, T, V] of the next token

Pre-LayerNorm blocks, learnt positions, output layer tied to the input embedding (with
~860 characters the embedding is a third of the ~150k parameters). `sample` draws
names for a batch in one jitted fixed-length `lax.scan` over positions (the whole
prefix is re-read each step: 16 steps of a 17-token window are cheaper to compile than
a KV cache and cost well under a millisecond per name).
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from vid_jax.identity.nickname_data import EOS, NUM_SPECIAL, PAD, UNK, bos_id


class _Block(nn.Module):
  """Pre-LN transformer block: causal self-attention, then a GELU MLP, each residual."""
  width: int
  heads: int
  mlp_ratio: int
  dropout: float

  @nn.compact
  def __call__(self, x, mask, *, train: bool):
    h = nn.LayerNorm()(x)
    h = nn.MultiHeadDotProductAttention(num_heads=self.heads, qkv_features=self.width,
                                        dropout_rate=self.dropout, deterministic=not train)(h, h, mask=mask)
    x = x + nn.Dropout(self.dropout, deterministic=not train)(h)
    h = nn.LayerNorm()(x)
    h = nn.gelu(nn.Dense(self.width * self.mlp_ratio)(h))
    h = nn.Dense(self.width)(h)
    return x + nn.Dropout(self.dropout, deterministic=not train)(h)


class NicknameTransformer(nn.Module):
  """Causal character transformer conditioned on a locale BOS token.

  Attributes:
    vocab_size: number of token ids (nickname_data.Vocab.size).
    max_len: longest token sequence (BOS + max_chars characters + EOS).
    width: model width (embedding size).
    depth: number of transformer blocks.
    heads: attention heads.
    mlp_ratio: MLP hidden width / width.
    dropout: dropout rate in training (attention weights and residual branches).
  """
  vocab_size: int
  max_len: int
  width: int = 64
  depth: int = 2
  heads: int = 4
  mlp_ratio: int = 4
  dropout: float = 0.0

  @nn.compact
  def __call__(self, tokens, *, train: bool = False):
    """Next-token logits.

    Args:
      tokens: int32 [B, T], T <= max_len; position 0 is the locale's BOS.
      train: apply dropout (needs a 'dropout' rng).

    Returns:
      float32 [B, T, vocab_size] logits of the token after each position.
    """
    embed = nn.Embed(self.vocab_size, self.width, embedding_init=nn.initializers.normal(0.02))
    pos = self.param("pos", nn.initializers.normal(0.02), (self.max_len, self.width))
    x = embed(tokens) + pos[:tokens.shape[1]]  # [B, T, W]
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    mask = nn.make_causal_mask(tokens)  # [B, 1, T, T]
    for _ in range(self.depth):
      x = _Block(self.width, self.heads, self.mlp_ratio, self.dropout)(x, mask, train=train)
    return embed.attend(nn.LayerNorm()(x)).astype(jnp.float32)  # [B, T, V]


def param_count(params) -> int:
  return int(sum(x.size for x in jax.tree.leaves(params)))


def token_nll(params, seq, *, module: NicknameTransformer):
  """Per-token negative log-likelihood (nats) of encoded names.

  Args:
    params: the model's params.
    seq: int32 [B, T] (nickname_data.encode_names: BOS, characters, EOS, PAD).

  Returns:
    (nll float32 [B, T - 1], mask bool [B, T - 1]): the loss of predicting seq[:, 1:] and
    which of those targets are real (characters and EOS, not PAD).
  """
  logits = module.apply({"params": params}, seq[:, :-1])  # [B, T-1, V]
  targets = seq[:, 1:]
  logp = jax.nn.log_softmax(logits)
  nll = -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
  return nll, targets != PAD


@functools.partial(jax.jit, static_argnames=("module", "temperature"))
def sample(params, key, locale_ids, forced, forced_mask, *, module: NicknameTransformer,
           temperature: float = 1.0):
  """Draws one name per row in a single fixed-length scan (jitted, batched).

  Row b starts with BOS(locale_ids[b]); at character position t where forced_mask[b, t]
  the character is forced[b, t] (a keyword as prefix or infix; UNK stands for a character
  outside the vocabulary), elsewhere it is sampled. EOS is not drawn before at least one
  free character follows the last forced one, nor before position 1. Special tokens
  other than EOS are never drawn.

  Args:
    params: the model's params.
    key: PRNG key.
    locale_ids: int32 [B] indices into LOCALES.
    forced: int32 [B, L] forced character ids (L = module.max_len - 2 = max characters).
    forced_mask: bool [B, L] where `forced` applies.
    module: the NicknameTransformer (static).
    temperature: softmax temperature of the draws (static).

  Returns:
    dict with "tokens" int32 [B, L + 1] (characters, then EOS, then PAD), "log_prob"
    float32 [B] (log-probability of the characters and EOS under the model at temperature
    1; forced UNK characters count 0), "length" int32 [B] (characters), "terminated" bool
    [B] (EOS drawn within L + 1 positions).
  """
  batch, max_chars = forced.shape
  positions = jnp.arange(max_chars)
  last_forced = jnp.max(jnp.where(forced_mask, positions, -1), axis=1)  # [B], -1 = none
  eos_from = jnp.maximum(last_forced + 2, 1)  # first position where EOS may be drawn
  never = jnp.zeros((module.vocab_size,), bool).at[jnp.array([PAD, UNK])].set(True)
  never = never.at[bos_id(0):NUM_SPECIAL].set(True)  # the BOS tokens
  seq = jnp.zeros((batch, max_chars + 1), jnp.int32).at[:, 0].set(bos_id(0) + locale_ids)
  forced = jnp.pad(forced, ((0, 0), (0, 1)))
  forced_mask = jnp.pad(forced_mask, ((0, 0), (0, 1)))

  def step(carry, t):
    seq, done, logp_sum, length = carry
    logits = module.apply({"params": params}, seq)  # [B, L+1, V]
    logits = jax.lax.dynamic_index_in_dim(logits, t, axis=1, keepdims=False)  # [B, V]
    logp = jax.nn.log_softmax(logits)
    blocked = never[None, :] | ((jnp.arange(module.vocab_size) == EOS)[None, :] & (t < eos_from)[:, None])
    drawn = jax.random.categorical(jax.random.fold_in(key, t),
                                   jnp.where(blocked, -jnp.inf, logits / temperature))
    tok = jnp.where(forced_mask[:, t], forced[:, t], drawn)
    tok = jnp.where(done, PAD, tok)
    lp = jnp.take_along_axis(logp, tok[:, None], axis=1)[:, 0]
    logp_sum += jnp.where(done | (tok == UNK), 0.0, lp)
    length += (~done & (tok != EOS)).astype(jnp.int32)
    done = done | (tok == EOS)
    write = jnp.minimum(t + 1, max_chars)  # the last step's token has no slot (only EOS matters)
    seq = jnp.where(t < max_chars, jax.lax.dynamic_update_index_in_dim(seq, tok, write, axis=1), seq)
    return (seq, done, logp_sum, length), tok

  init = (seq, jnp.zeros((batch,), bool), jnp.zeros((batch,), jnp.float32), jnp.zeros((batch,), jnp.int32))
  (_, done, logp_sum, length), toks = jax.lax.scan(step, init, jnp.arange(max_chars + 1))
  return {"tokens": toks.T, "log_prob": logp_sum, "length": length, "terminated": done}

"""Tests for the grain loader: determinism, epochs, sharding, resume, flips."""
import json

import jax

import numpy as np
import pytest

from vid_jax import data
from vid_jax.data import sources
from vid_jax.errors import UserError


class IndexSource(sources.Source):
  """Image i encodes i in its pixels, with a left/right asymmetry for flips."""

  def __init__(self, n, size=4):
    self.spec, self.size, self._n = "test:index", size, n

  def __len__(self):
    return self._n

  def _load(self, i):
    img = np.zeros((self.size, self.size, 3), np.uint8)
    img[..., 0] = i % 256
    img[..., 1] = i // 256
    img[:, 0, 2] = 255  # marks the left column
    attrs = np.zeros(40, np.bool_)
    attrs[i % 40] = True
    return img, attrs

  def attribute_marginals(self):
    return np.full(40, 1 / 40, np.float32)


def _ids(batch):
  img = batch["image"].astype(np.int64)
  return img[:, 0, -1, 0] + 256 * img[:, 0, -1, 1]


def _loader(src, **kw):
  kw = {"global_batch_size": 8, "seed": 0, "process_index": 0, "process_count": 1, **kw}
  return data.make_loader(src, **kw)


def test_batches_shapes_dtypes_and_labels():
  it = _loader(IndexSource(50))
  b = next(it)
  assert b["image"].shape == (8, 4, 4, 3) and b["image"].dtype == np.uint8
  assert b["attributes"].shape == (8, 40) and b["attributes"].dtype == np.bool_
  ids = _ids(b)
  assert (b["attributes"].argmax(1) == ids % 40).all()
  assert it.steps_per_epoch == 6  # 50 // 8, remainder dropped


def test_same_seed_same_batches_and_reshuffled_epochs():
  src = IndexSource(40)
  a = [_ids(next(_it)) for _it in [_loader(src)] for _ in range(12)]
  it = _loader(src)
  b = [_ids(next(it)) for _ in range(12)]
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  it2 = _loader(src, seed=1)
  c = [_ids(next(it2)) for _ in range(5)]
  assert any(not np.array_equal(x, y) for x, y in zip(a, c))
  epoch0, epoch1 = np.concatenate(b[:5]), np.concatenate(b[5:10])
  assert sorted(epoch0) == list(range(40)) == sorted(epoch1)  # each epoch once
  assert not np.array_equal(epoch0, epoch1)  # reshuffled
  assert it.epoch == 2


def test_unshuffled_is_sequential():
  it = _loader(IndexSource(20), shuffle=False)
  assert list(_ids(next(it))) == list(range(8))
  assert list(_ids(next(it))) == list(range(8, 16))
  assert list(_ids(next(it))) == list(range(8))  # 20 // 8 = 2 steps/epoch


def test_two_process_shards_disjoint_and_cover_the_epoch():
  src = IndexSource(48)
  whole = _loader(src)
  p0 = _loader(src, process_index=0, process_count=2)
  p1 = _loader(src, process_index=1, process_count=2)
  seen = []
  for _ in range(whole.steps_per_epoch):
    g, a, b = _ids(next(whole)), _ids(next(p0)), _ids(next(p1))
    assert len(a) == len(b) == 4
    assert not set(a) & set(b)
    assert set(a) | set(b) == set(g)  # same global batch whatever the sharding
    seen += list(a) + list(b)
  assert sorted(seen) == list(range(48))


def test_resume_from_saved_state_yields_the_next_batch():
  src = IndexSource(30)
  ref = _loader(src, flip=True)
  for _ in range(5):  # crosses the epoch boundary (3 steps per epoch)
    next(ref)
  state = json.loads(json.dumps(ref.get_state()))  # JSON-serialisable
  want = [next(ref) for _ in range(4)]
  resumed = _loader(src, flip=True)
  next(resumed)  # a different position, then restore
  resumed.set_state(state)
  for w in want:
    got = next(resumed)
    np.testing.assert_array_equal(got["image"], w["image"])
    np.testing.assert_array_equal(got["attributes"], w["attributes"])
  assert resumed.get_state() == ref.get_state()


def test_set_state_rejects_mismatched_settings():
  it = _loader(IndexSource(30))
  state = it.get_state()
  with pytest.raises(UserError, match="seed"):
    _loader(IndexSource(30), seed=3).set_state(state)
  with pytest.raises(UserError, match="num_examples"):
    _loader(IndexSource(31)).set_state(state)
  with pytest.raises(UserError, match="not a vid_jax loader state"):
    it.set_state({"next_index": 3})
  # Another process count continues the same global batches.
  p1 = _loader(IndexSource(30), process_index=1, process_count=2)
  p1.set_state(state)
  assert len(_ids(next(p1))) == 4


def test_flip_mirrors_about_half_deterministically():
  src = IndexSource(64)
  it = _loader(src, flip=True, global_batch_size=64)
  b = next(it)
  flipped = b["image"][:, 0, -1, 2] == 255  # marker column moved to the right
  kept = b["image"][:, 0, 0, 2] == 255
  assert (flipped ^ kept).all()
  assert 16 < flipped.sum() < 48
  ids = _ids(b)
  for k in np.flatnonzero(flipped)[:3]:
    np.testing.assert_array_equal(b["image"][k], src[ids[k]]["image"][:, ::-1])
  b2 = next(_loader(src, flip=True, global_batch_size=64))
  np.testing.assert_array_equal(b["image"], b2["image"])


def test_loader_over_prepared_cache(tmp_path):
  src = data.make_source("avatars", size=8, num_examples=24)
  data.write_cache(src, str(tmp_path / "c"), progress=False)
  cached = data.make_source("avatars", size=8, cache_dir=str(tmp_path / "c"))
  it = _loader(cached, seed=4, flip=True)
  live = _loader(src, seed=4, flip=True)
  for _ in range(4):
    a, b = next(it), next(live)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["attributes"], b["attributes"])


def test_bad_batch_settings():
  with pytest.raises(UserError, match="fewer than one global batch"):
    _loader(IndexSource(5))
  with pytest.raises(UserError, match="not divisible"):
    _loader(IndexSource(50), global_batch_size=9, process_count=2)
  with pytest.raises(UserError, match="seed"):
    _loader(IndexSource(50), seed=-1)


def test_default_process_sharding_uses_jax():
  it = data.make_loader(IndexSource(16), global_batch_size=8, seed=0)
  assert it.process_count == jax.process_count() == 1
  assert len(_ids(next(it))) == 8


def test_to_float_and_back():
  x = np.array([[0, 128, 255]], np.uint8)
  y = np.asarray(data.to_float(x))
  np.testing.assert_allclose(y, [[-1.0, 128 / 127.5 - 1, 1.0]], atol=1e-6)
  np.testing.assert_array_equal(data.to_uint8(y), x)

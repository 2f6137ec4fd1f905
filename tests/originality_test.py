"""vid_jax.identity.originality: nearest training images, the typical real distance, near-copies."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vid_jax import data as data_lib
from vid_jax import testing
from vid_jax.errors import UserError
from vid_jax.identity import originality
from vid_jax.models import classifier as classifier_lib


def _brute_force(queries, references, exclude=None):
  d = np.sqrt(((queries[:, None, :].astype(np.float64) - references[None])**2).sum(-1))
  if exclude is not None:
    d[np.arange(len(queries)), exclude] = np.inf
  return d.min(1), d.argmin(1)


def test_nearest_distances_agree_with_brute_force():
  rng = np.random.default_rng(0)
  refs = rng.normal(size=(1000, 20)).astype(np.float32)
  queries = rng.normal(size=(37, 20)).astype(np.float32)
  want_d, want_i = _brute_force(queries, refs)
  for chunk in (128, 1000, 4096):  # a chunk that does not divide M, one chunk, one larger than M
    dist, index = originality.nearest_distances(queries, refs, chunk=chunk)
    assert dist.shape == (37,) and index.shape == (37,)
    np.testing.assert_array_equal(index, want_i)
    np.testing.assert_allclose(dist, want_d, rtol=1e-5)
  # Excluding each query's own row: real-to-real distances never find themselves.
  idx = np.arange(0, 1000, 27)
  dist, index = originality.nearest_distances(refs[idx], refs, chunk=128, exclude=idx)
  want_d, want_i = _brute_force(refs[idx], refs, exclude=idx)
  np.testing.assert_array_equal(index, want_i)
  np.testing.assert_allclose(dist, want_d, rtol=1e-5)
  assert (index != idx).all()
  # An exact copy reads 0 (the distance is recomputed directly, not from the expansion).
  dist, index = originality.nearest_distances(refs[[5]], refs)
  assert int(index[0]) == 5 and float(dist[0]) == 0.0
  with pytest.raises(UserError):
    originality.nearest_distances(queries[:, :3], refs)


def test_typical_real_distance_is_the_median_nearest_other():
  rng = np.random.default_rng(1)
  refs = rng.normal(size=(300, 8)).astype(np.float32)
  want = np.median(_brute_force(refs, refs, exclude=np.arange(300))[0])
  assert originality.typical_real_distance(refs, num=1000, chunk=64) == pytest.approx(want, rel=1e-5)
  sub = originality.typical_real_distance(refs, num=50)  # a spread subset of queries: near it
  assert 0.7 * want < sub < 1.3 * want
  mask = originality.near_copy_mask(jnp.array([0.1, 0.49, 0.51, 2.0]), 1.0, ratio=0.5)
  np.testing.assert_array_equal(mask, [True, True, False, False])


@pytest.fixture(scope="module")
def avatars():
  """300 training avatars (32x32) and 4 fresh ones from another dataset seed."""
  train = data_lib.make_source("avatars", size=32, seed=0, num_examples=300)
  fresh = data_lib.make_source("avatars", size=32, seed=1, num_examples=4)
  return train.get_batch(np.arange(300))["image"], fresh.get_batch(np.arange(4))["image"]


def test_a_planted_copy_is_flagged_and_fresh_avatars_are_not(avatars):
  train, fresh = avatars
  refs = originality.reference_set_from_images(train)
  assert refs.space == "pixels" and refs.features.shape == (300, 16 * 16 * 3) and refs.typical > 0
  # Generated images are floats in [-1, 1]: a copy of training image 17 with a little noise,
  # a copy shifted by one pixel, and fresh avatars.
  copy = train[17].astype(np.float32) / 127.5 - 1.0
  noisy = np.clip(copy + 0.03 * np.random.default_rng(0).normal(size=copy.shape), -1, 1)
  shifted = np.roll(copy, 1, axis=1)
  images = np.concatenate([noisy[None], shifted[None], fresh.astype(np.float32) / 127.5 - 1.0])
  report = originality.originality(refs, images.astype(np.float32))
  assert report["near_copy"].tolist() == [True, True, False, False, False, False], report["relative"]
  assert report["nearest"][:2].tolist() == [17, 17]
  assert (report["relative"][:2] < 0.5).all() and (report["relative"][2:] > 0.5).all()
  assert report["typical"] == refs.typical


def test_classifier_feature_space(avatars):
  train, fresh = avatars
  module = classifier_lib.AttributeClassifier(num_attributes=4, width=4, feature_dim=16)
  variables = jax.jit(lambda k: module.init(k, jnp.zeros((1, 32, 32, 3)), train=False))(jax.random.key(
      0, impl="rbg"))  # rbg: threefry makes this init compile ~5x slower on CPU
  clf = classifier_lib.Classifier(module=module, variables=variables, attribute_names=("a",) * 4,
                                  resolution=32)
  refs = originality.reference_set_from_images(train[:64], classifier=clf, batch_size=32)
  assert refs.space == "classifier" and refs.features.shape == (64, 16)
  report = originality.originality(refs, train[3:4])  # uint8 is accepted as is
  assert report["nearest"].tolist() == [3] and report["near_copy"].tolist() == [True]


def test_reference_set_of_a_config_renders_a_missing_avatar_cache(tmp_path):
  config = testing.tiny_config()  # 64 avatars at 32x32, no cache
  images = originality.training_images(config, num=10)
  assert images.shape == (10, 32, 32, 3) and images.dtype == np.uint8
  config.data.cache_dir = str(tmp_path / "missing")
  np.testing.assert_array_equal(originality.training_images(config, num=10), images)
  refs = originality.reference_set(config, num=10)
  assert refs.features.shape == (10, 768) and refs.feature_fn is originality.pixel_features
  dist, index = originality.nearest_distances(originality.pixel_features(images[4:5]), refs.features)
  assert index.tolist() == [4] and float(dist[0]) == 0.0
  with pytest.raises(UserError):
    originality.reference_set_from_images(images[:1])

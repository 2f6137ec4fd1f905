"""FID / KID against closed forms and reference formulas; evaluation helpers on toy data."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from vid_jax import metrics
from vid_jax.errors import UserError
from vid_jax.metrics import evaluate as eval_lib
from vid_jax.metrics import fid as fid_lib


def _random_spd(rng, d, *, cond=10.0):
  q, _ = np.linalg.qr(rng.normal(size=(d, d)))
  eigenvalues = np.geomspace(1.0, cond, d)
  return (q * eigenvalues) @ q.T


def _sqrtm_reference(mu1, s1, mu2, s2):
  # pytorch-fid's definition: Tr(sqrtm(S1 S2)) with scipy's general sqrtm.
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  diff = mu1 - mu2
  return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def test_frechet_equal_covariances_is_squared_mean_distance():
  rng = np.random.default_rng(0)
  s = _random_spd(rng, 16)
  mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
  got = metrics.frechet_distance(mu1, s, mu2, s)
  np.testing.assert_allclose(got, np.sum((mu1 - mu2) ** 2), rtol=1e-9, atol=1e-9)


def test_frechet_diagonal_covariances_closed_form():
  rng = np.random.default_rng(1)
  v1, v2 = rng.uniform(0.1, 4.0, 8), rng.uniform(0.1, 4.0, 8)
  mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
  want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
  got = metrics.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
  np.testing.assert_allclose(got, want, rtol=1e-10)


def test_frechet_scaled_covariance_closed_form():
  # S2 = c S1 commutes with S1: Tr(S1 + S2 - 2 sqrt(S1 S2)) = Tr(S1) (1 - sqrt(c))^2.
  rng = np.random.default_rng(2)
  s = _random_spd(rng, 12)
  mu = rng.normal(size=12)
  got = metrics.frechet_distance(mu, s, mu, 2.25 * s)
  np.testing.assert_allclose(got, np.trace(s) * (1 - 1.5) ** 2, rtol=1e-9)


def test_frechet_matches_sqrtm_definition_on_general_covariances():
  rng = np.random.default_rng(3)
  s1, s2 = _random_spd(rng, 32, cond=50), _random_spd(rng, 32, cond=50)
  mu1, mu2 = rng.normal(size=32), rng.normal(size=32)
  got = metrics.frechet_distance(mu1, s1, mu2, s2)
  np.testing.assert_allclose(got, _sqrtm_reference(mu1, s1, mu2, s2), rtol=1e-8)
  assert got == pytest.approx(metrics.frechet_distance(mu2, s2, mu1, s1), rel=1e-10)


def test_frechet_rank_deficient_covariances_are_finite_and_symmetric():
  # Fewer samples than dimensions: singular covariances, where sqrtm struggles.
  rng = np.random.default_rng(4)
  a, b = rng.normal(size=(20, 64)), rng.normal(size=(20, 64)) + 0.5
  d_ab = metrics.fid_from_features(a, b)
  d_ba = metrics.fid_from_features(b, a)
  assert np.isfinite(d_ab) and d_ab > 0
  assert d_ab == pytest.approx(d_ba, rel=1e-8)
  assert metrics.fid_from_features(a, a) == pytest.approx(0.0, abs=1e-8)


def test_feature_stats_float64_and_unbiased():
  x = np.random.default_rng(5).normal(size=(50, 3)).astype(np.float32)
  mu, sigma = metrics.feature_stats(x)
  assert mu.dtype == np.float64 and sigma.dtype == np.float64 and sigma.shape == (3, 3)
  np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-12)
  with pytest.raises(ValueError, match="N >= 2"):
    metrics.feature_stats(x[:1])


def test_frechet_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match="covariances"):
    metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


def test_kid_same_distribution_is_zero_within_std():
  rng = np.random.default_rng(6)
  x, y = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
  mean, std = metrics.kid(x, y, num_subsets=50, subset_size=200)
  assert std > 0
  assert abs(mean) < std


def test_kid_shifted_distribution_is_positive_beyond_std():
  rng = np.random.default_rng(7)
  x, y = rng.normal(size=(600, 16)), rng.normal(size=(600, 16)) + 0.3
  mean, std = metrics.kid(x, y, num_subsets=50, subset_size=200)
  assert mean > 3 * std > 0


def test_kid_matches_direct_unbiased_mmd_formula():
  # One subset covering both sets exactly: the estimator is the textbook formula.
  rng = np.random.default_rng(8)
  x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5)) + 0.2
  k = lambda a, b: (a @ b.T / 5 + 1) ** 3
  m = 30
  want = ((k(x, x).sum() - np.trace(k(x, x))) / (m * (m - 1))
          + (k(y, y).sum() - np.trace(k(y, y))) / (m * (m - 1)) - 2 * k(x, y).mean())
  mean, std = metrics.kid(x, y, num_subsets=3, subset_size=1000)
  assert mean == pytest.approx(want, rel=1e-10)
  assert std == pytest.approx(0.0, abs=1e-12)  # every subset is the whole set


def test_kid_per_subset_kernels_equal_gathered_kernels(monkeypatch):
  rng = np.random.default_rng(9)
  x, y = rng.normal(size=(40, 5)), rng.normal(size=(50, 5))
  gathered = metrics.kid(x, y, num_subsets=4, subset_size=10, seed=3)
  monkeypatch.setattr(fid_lib, "_MAX_FULL_KERNEL_ENTRIES", 0)  # the large-input path
  per_subset = metrics.kid(x, y, num_subsets=4, subset_size=10, seed=3)
  np.testing.assert_allclose(per_subset, gathered, rtol=1e-12)


def test_attribute_agreement():
  requested = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], bool)
  predicted = np.array([[1, 0], [0, 1], [0, 0], [0, 0]], bool)
  out = metrics.attribute_agreement(predicted, requested, ("Smiling", "Eyeglasses"))
  assert out["attr_acc/Smiling"] == 0.75 and out["attr_acc/Eyeglasses"] == 0.75
  assert out["attr_present/Smiling"] == 0.5 and out["attr_present/Eyeglasses"] == 0.5
  assert out["attr_acc/mean"] == 0.75 and out["attr_present/mean"] == 0.5
  none_asked = metrics.attribute_agreement(predicted[:, :1], np.zeros((4, 1), bool), ("Bald",))
  assert "attr_present/Bald" not in none_asked and none_asked["attr_acc/Bald"] == 0.75


def test_to_uint8_rounds_like_png():
  x = jnp.array([-1.0, -0.999, 0.0, 0.5, 1.0, 1.5])
  np.testing.assert_array_equal(np.asarray(metrics.to_uint8(x)), [0, 0, 128, 191, 255, 255])


def _mean_colour_features(images_uint8):  # [B, H, W, 3] -> [B, 3]
  return jnp.mean(images_uint8.astype(jnp.float32) / 255.0, axis=(1, 2))


def test_compute_features_pads_the_last_batch():
  images = np.random.default_rng(9).integers(0, 256, (7, 4, 4, 3), dtype=np.uint8)
  calls = []
  def fn(x):
    calls.append(x.shape)
    return _mean_colour_features(x)
  got = metrics.compute_features(fn, images, batch_size=3)
  assert got.shape == (7, 3) and got.dtype == np.float64
  assert calls == [(3, 4, 4, 3)] * 3  # one shape, so one compilation
  np.testing.assert_allclose(got, np.asarray(_mean_colour_features(images)), rtol=1e-6)


def test_evaluate_generator_separates_good_and_bad_generators():
  rng = np.random.default_rng(10)
  real = (rng.random((256, 4, 4, 3)) * 255).astype(np.uint8)  # uniform noise images
  def good(key, n):  # the same distribution as `real`
    return jax.random.uniform(key, (n, 4, 4, 3), minval=-1.0, maxval=1.0)
  def bad(key, n):  # darker
    return good(key, n) * 0.5 - 0.5
  kw = dict(num_samples=250, batch_size=50, key=jax.random.PRNGKey(0))
  good_m = metrics.evaluate_generator(good, real, _mean_colour_features, **kw)
  bad_m = metrics.evaluate_generator(bad, real, _mean_colour_features, **kw)
  assert set(good_m) == {"fid", "kid_mean", "kid_std"}
  assert bad_m["fid"] > 10 * good_m["fid"]
  assert bad_m["kid_mean"] > 3 * bad_m["kid_std"]
  assert abs(good_m["kid_mean"]) < 3 * good_m["kid_std"]


def test_evaluator_reports_every_space_and_the_real_baseline():
  rng = np.random.default_rng(11)
  real = (rng.random((64, 4, 4, 3)) * 255).astype(np.uint8)
  base = (rng.random((64, 4, 4, 3)) * 255).astype(np.uint8)
  ev = eval_lib.Evaluator(real_images_uint8=real, baseline_images_uint8=base,
                          feature_fns={"a": _mean_colour_features,
                                       "b": lambda x: _mean_colour_features(x)[:, :2]},
                          num_samples=40, batch_size=16, kid_num_subsets=10)
  sample = lambda key, n: (jax.random.uniform(key, (n, 4, 4, 3), minval=-1, maxval=1), None)
  out = ev(sample, jax.random.PRNGKey(1))
  for space in ("a", "b"):
    for k in ("fid", "kid_mean", "kid_std", "fid_real_vs_real", "kid_mean_real_vs_real"):
      assert np.isfinite(out[f"{space}/{k}"]), (space, k)
  assert not any(k.startswith("attr_") for k in out)


def test_evaluator_needs_a_feature_space():
  with pytest.raises(UserError, match="feature space"):
    eval_lib.Evaluator(real_images_uint8=np.zeros((4, 4, 4, 3), np.uint8), feature_fns={},
                       num_samples=4, batch_size=2)


def test_pairwise_rms_reads_uint8_on_the_minus_one_one_scale():
  a = np.zeros((2, 4, 4, 3), np.float32)
  a[1] += 0.5  # every pixel 0.5 apart
  assert metrics.pairwise_rms(a) == pytest.approx(0.5)
  three = np.stack([np.full((4, 4, 3), v, np.float32) for v in (0.0, 0.3, -0.3)])
  assert metrics.pairwise_rms(three) == pytest.approx((0.3 + 0.3 + 0.6) / 3)
  u = np.stack([np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)])
  assert metrics.pairwise_rms(u) == pytest.approx(2.0)
  assert metrics.pairwise_rms(np.repeat(u[:1], 5, axis=0)) == 0.0
  with pytest.raises(ValueError, match="at least 2"):
    metrics.pairwise_rms(u[:1])


def test_same_attribute_diversity_is_zero_when_the_generator_ignores_z():
  attrs = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 0]], np.float32)

  def ignores_z(key, a):  # the image is a function of the attributes only
    return jnp.tile((a.sum(-1) / 3 - 0.5)[:, None, None, None], (1, 4, 4, 3))

  def uses_z(key, a):
    return ignores_z(key, a) + 0.3 * jax.random.normal(key, (a.shape[0], 4, 4, 3))

  key = jax.random.PRNGKey(0)
  assert metrics.same_attribute_diversity(ignores_z, attrs, key, per_condition=4, batch_size=5) == 0.0
  d = metrics.same_attribute_diversity(uses_z, attrs, key, per_condition=4, batch_size=5)
  # Two independent N(0, 0.3^2) pixels differ by RMS 0.3 * sqrt(2); uint8 rounding adds ~0.005.
  assert d == pytest.approx(0.3 * np.sqrt(2), rel=0.1)


def test_real_same_attribute_diversity_groups_images_by_their_attributes():
  attrs = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [1, 1]], bool)
  images = np.zeros((6, 2, 2, 3), np.uint8)
  images[1] = 255          # group [1, 0]: black and white, RMS 2.0 apart
  images[2:5] = 127        # group [0, 1]: three equal images, 0 apart
  images[5] = 50           # [1, 1] appears once: no pair, left out
  assert metrics.real_same_attribute_diversity(images, attrs) == pytest.approx(1.0)
  # The largest group first: with max_conditions=1 only the three equal images count.
  assert metrics.real_same_attribute_diversity(images, attrs, max_conditions=1) == 0.0
  assert metrics.real_same_attribute_diversity(images[[0, 2, 5]], attrs[[0, 2, 5]]) is None


def test_evaluator_reports_diversity_of_conditional_samples_next_to_the_real_value():
  rng = np.random.default_rng(3)
  real = (rng.random((32, 4, 4, 3)) * 255).astype(np.uint8)
  real_attrs = np.zeros((32, 40), bool)
  real_attrs[::2, 31] = True  # Smiling (CelebA index 31) on every other image
  ev = eval_lib.Evaluator(real_images_uint8=real, real_attributes=real_attrs,
                          feature_fns={"a": _mean_colour_features}, num_samples=16, batch_size=8,
                          kid_num_subsets=5)
  p = jnp.array([0.5])

  def generate(key, a):  # ignores z: every sample with the same attributes is the same image
    return jnp.tile((a[:, :1] - 0.5)[:, :, None, None], (1, 4, 4, 3))

  def sample(key, n):
    a = jax.random.bernoulli(key, p, (n, 1)).astype(jnp.float32)
    return generate(key, a), a

  out = ev(sample, jax.random.PRNGKey(0), attribute_names=["Smiling"], generate_fn=generate)
  assert out["diversity/same_attributes"] == 0.0
  assert out["diversity/same_attributes_real"] == pytest.approx(
      np.mean([metrics.pairwise_rms(real[0::2][:8]), metrics.pairwise_rms(real[1::2][:8])]))
  assert out["diversity/same_attributes_real"] > 0.3  # uniform noise images
  assert "diversity/same_attributes" not in ev(sample, jax.random.PRNGKey(0))  # unconditional call

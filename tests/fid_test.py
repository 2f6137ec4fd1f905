"""vid_jax.metrics.fid: FID / KID against closed forms and reference formulas."""
import numpy as np
import pytest
import scipy.linalg

from vid_jax import metrics
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
  np.testing.assert_allclose(got, np.sum((mu1 - mu2)**2), rtol=1e-9, atol=1e-9)


def test_frechet_diagonal_covariances_closed_form():
  rng = np.random.default_rng(1)
  v1, v2 = rng.uniform(0.1, 4.0, 8), rng.uniform(0.1, 4.0, 8)
  mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
  want = np.sum((mu1 - mu2)**2) + np.sum((np.sqrt(v1) - np.sqrt(v2))**2)
  got = metrics.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
  np.testing.assert_allclose(got, want, rtol=1e-10)


def test_frechet_scaled_covariance_closed_form():
  # S2 = c S1 commutes with S1: Tr(S1 + S2 - 2 sqrt(S1 S2)) = Tr(S1) (1 - sqrt(c))^2.
  rng = np.random.default_rng(2)
  s = _random_spd(rng, 12)
  mu = rng.normal(size=12)
  got = metrics.frechet_distance(mu, s, mu, 2.25 * s)
  np.testing.assert_allclose(got, np.trace(s) * (1 - 1.5)**2, rtol=1e-9)


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
  k = lambda a, b: (a @ b.T / 5 + 1)**3
  m = 30
  want = ((k(x, x).sum() - np.trace(k(x, x))) / (m * (m - 1)) + (k(y, y).sum() - np.trace(k(y, y))) /
          (m * (m - 1)) - 2 * k(x, y).mean())
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


def test_fid_kid_and_the_default_kid_subset_size():
  rng = np.random.default_rng(12)
  x, y = rng.normal(size=(40, 4)), rng.normal(size=(50, 4)) + 1.0
  out = metrics.fid_kid(x, y, kid_subset_size=10, kid_num_subsets=5, seed=2)
  assert out["fid"] == metrics.fid_from_features(x, y)
  assert (out["kid_mean"], out["kid_std"]) == metrics.kid(x, y, num_subsets=5, subset_size=10, seed=2)
  # Half the smaller set, capped at 1000 and at least 2: subsets of a whole set would all agree.
  assert [metrics.default_kid_subset_size(n) for n in (2, 5, 64, 5000)] == [2, 2, 32, 1000]

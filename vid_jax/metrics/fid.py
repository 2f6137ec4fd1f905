"""Fréchet distance (FID) and kernel inception distance (KID) on feature arrays.

Everything here is host-side numpy in float64: the statistics of a few thousand
feature vectors are cheap, and float32 loses digits in the trace of a matrix
square root (FID is a small difference of large traces).

Definitions (see docs/metrics.md for the comparison with pytorch-fid and clean-fid):

* FID (Heusel et al. 2017): ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}),
  with S the covariance (`np.cov`, ddof=1) of the features.
* KID (Bińkowski et al. 2018): the unbiased estimator of MMD^2 with the cubic
  polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets
  of both feature sets; reported as mean and std over the subsets.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

# Above this many kernel entries per Gram matrix (float64), KID computes the
# kernel per subset instead of once for all features (~200 MB at 2.5e7).
_MAX_FULL_KERNEL_ENTRIES = 25_000_000


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
  """Mean and covariance of features, as FID uses them.

  Args:
    features: [N, D] array (any float dtype), N >= 2.

  Returns:
    (mu [D], sigma [D, D]), float64; sigma is the unbiased (ddof=1)
    covariance, as `np.cov(features, rowvar=False)` in pytorch-fid.
  """
  x = np.asarray(features, dtype=np.float64)
  if x.ndim != 2 or x.shape[0] < 2:
    raise ValueError(f"feature_stats needs features of shape [N >= 2, D], got {x.shape}")
  if not np.isfinite(x).all():
    raise ValueError("feature_stats: features contain NaN or inf")
  mu = x.mean(axis=0)
  sigma = np.cov(x, rowvar=False)
  return mu, np.atleast_2d(sigma)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
  """Symmetric square root of a symmetric positive semi-definite matrix."""
  w, v = scipy.linalg.eigh(matrix)
  w = np.clip(w, 0.0, None)  # round-off can make zero eigenvalues slightly negative
  return (v * np.sqrt(w)) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

  Tr((S1 S2)^{1/2}) is computed as sum(sqrt(eigvalsh(S1^{1/2} S2 S1^{1/2}))):
  S1 S2 is similar to the symmetric PSD matrix S1^{1/2} S2 S1^{1/2}, so both
  have the same non-negative real eigenvalues, and symmetric eigensolvers
  (scipy.linalg.eigh) are stable where `scipy.linalg.sqrtm(S1 @ S2)` (pytorch-fid,
  clean-fid) can return complex or inaccurate results for singular covariances
  (fewer samples than feature dimensions). On well-conditioned inputs the two
  agree to ~1e-8 relative (tests/metrics_test.py).

  Args:
    mu1: [D] mean of the first set.
    sigma1: [D, D] covariance of the first set (symmetric PSD).
    mu2: [D] mean of the second set.
    sigma2: [D, D] covariance of the second set.

  Returns:
    The squared Fréchet distance as a Python float, clamped at 0 (it is a
    squared distance; identical inputs can round to -1e-12).
  """
  mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
  mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
  d = mu1.shape[0]
  if mu1.shape != (d,) or mu2.shape != (d,):
    raise ValueError(f"frechet_distance: means must both be [D], got "
                     f"{mu1.shape} and {mu2.shape}")
  if sigma1.shape != (d, d) or sigma2.shape != (d, d):
    raise ValueError(f"frechet_distance: covariances must be [{d}, {d}], got "
                     f"{sigma1.shape} and {sigma2.shape}")
  for name, a in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
    if not np.isfinite(a).all():
      raise ValueError(f"frechet_distance: {name} contains NaN or inf")
  # Symmetrise: covariances accumulated in pieces can be asymmetric in the last bit.
  sigma1 = (sigma1 + sigma1.T) / 2
  sigma2 = (sigma2 + sigma2.T) / 2
  root1 = _sqrt_psd(sigma1)
  middle = root1 @ sigma2 @ root1  # [D, D], symmetric PSD up to round-off
  middle = (middle + middle.T) / 2
  eigenvalues = scipy.linalg.eigvalsh(middle)
  tr_covmean = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
  diff = mu1 - mu2
  value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean
  return float(max(value, 0.0))


def fid_from_features(features1, features2) -> float:
  """FID between two feature sets ([N1, D] and [N2, D])."""
  return frechet_distance(*feature_stats(features1), *feature_stats(features2))


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  d = x.shape[1]
  return (x @ y.T / d + 1.0)**3


def _mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
  """Unbiased MMD^2 from the three [m, m] Gram matrices of one subset."""
  m = k_xx.shape[0]
  sum_xx = k_xx.sum() - np.trace(k_xx)
  sum_yy = k_yy.sum() - np.trace(k_yy)
  return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.mean())


def kid(features1, features2, *, num_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
  """Kernel inception distance: unbiased MMD^2, cubic polynomial kernel.

  As in Bińkowski et al. (2018) and clean-fid: `num_subsets` times, draw
  m = min(subset_size, N1, N2) rows of each feature set without replacement and
  compute the unbiased MMD^2 estimate with k(x, y) = (x.y / D + 1)^3; report the
  mean and standard deviation over subsets. The estimator is unbiased, so
  samples of one distribution give values scattered around 0 (negative ones
  included).

  Args:
    features1: [N1, D] features of the first set.
    features2: [N2, D] features of the second set.
    num_subsets: number of random subsets.
    subset_size: rows per subset (capped at min(N1, N2)).
    seed: numpy seed for the subset draws.

  Returns:
    (mean, std) over subsets, Python floats.
  """
  x = np.asarray(features1, dtype=np.float64)
  y = np.asarray(features2, dtype=np.float64)
  if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
    raise ValueError(f"kid: features must be [N1, D] and [N2, D], got "
                     f"{x.shape} and {y.shape}")
  m = min(subset_size, x.shape[0], y.shape[0])
  if m < 2:
    raise ValueError(f"kid: need at least 2 rows per set, got {x.shape[0]} "
                     f"and {y.shape[0]}")
  if num_subsets < 1:
    raise ValueError(f"kid: num_subsets must be >= 1, got {num_subsets}")
  rng = np.random.default_rng(seed)
  n1, n2 = x.shape[0], y.shape[0]
  full = max(n1, n2)**2 <= _MAX_FULL_KERNEL_ENTRIES
  if full:  # one big matmul, then gather subsets: far cheaper than per-subset kernels
    k_xx_all = _polynomial_kernel(x, x)
    k_yy_all = _polynomial_kernel(y, y)
    k_xy_all = _polynomial_kernel(x, y)
  values = np.empty(num_subsets, dtype=np.float64)
  for i in range(num_subsets):
    ix = rng.choice(n1, m, replace=False)
    iy = rng.choice(n2, m, replace=False)
    if full:
      values[i] = _mmd2_unbiased(k_xx_all[np.ix_(ix, ix)], k_yy_all[np.ix_(iy, iy)], k_xy_all[np.ix_(ix, iy)])
    else:
      xs, ys = x[ix], y[iy]
      values[i] = _mmd2_unbiased(_polynomial_kernel(xs, xs), _polynomial_kernel(ys, ys),
                                 _polynomial_kernel(xs, ys))
  return float(values.mean()), float(values.std())


def default_kid_subset_size(n: int) -> int:
  """KID's subset size for sets of (at least) n rows: half of n, at most 1000, at least 2.

  Subsets of the whole set would all be the same and report std 0. KID is unbiased, so the
  size changes only its variance.
  """
  return max(2, min(1000, n // 2))


def fid_kid(features_a, features_b, *, kid_subset_size: int = 1000, kid_num_subsets: int = 100,
            seed: int = 0) -> dict[str, float]:
  """{"fid", "kid_mean", "kid_std"} between two feature sets ([Na, D] and [Nb, D], float64)."""
  mean, std = kid(features_a, features_b, num_subsets=kid_num_subsets, subset_size=kid_subset_size, seed=seed)
  return {"fid": fid_from_features(features_a, features_b), "kid_mean": mean, "kid_std": std}

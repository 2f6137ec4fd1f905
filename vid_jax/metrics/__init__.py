"""Quality metrics as pure maths: FID / KID (float64), feature extraction, diversity, attribute
agreement, the attribute breakdown, and pytorch-fid's InceptionV3 in Flax.

  from vid_jax import metrics
  mu, sigma = metrics.feature_stats(features)               # [N, D] -> float64 stats
  fid = metrics.frechet_distance(mu1, sigma1, mu2, sigma2)
  kid_mean, kid_std = metrics.kid(features1, features2)
  inception = metrics.load_inception("pt_inception.npz")    # tools/convert_inception.py
  feats = metrics.compute_features(inception.features, images_uint8, batch_size=100)

What a run is scored on (samples of its EMA generator against real images, built from its
config) is in vid_jax.evaluators. See docs/metrics.md for definitions and comparability.
"""
from vid_jax.metrics.attributes import attribute_agreement
from vid_jax.metrics.diversity import pairwise_rms, real_same_attribute_diversity
from vid_jax.metrics.features import compute_features, to_uint8
from vid_jax.metrics.fid import (default_kid_subset_size, feature_stats, fid_from_features, fid_kid,
                                 frechet_distance, kid)
from vid_jax.metrics.inception import (FEATURE_NAME as INCEPTION_FEATURE_NAME, Inception, InceptionV3,
                                       load_inception)

__all__ = (
    "attribute_agreement",
    "pairwise_rms",
    "real_same_attribute_diversity",
    "compute_features",
    "to_uint8",
    "default_kid_subset_size",
    "feature_stats",
    "fid_from_features",
    "fid_kid",
    "frechet_distance",
    "kid",
    "INCEPTION_FEATURE_NAME",
    "Inception",
    "InceptionV3",
    "load_inception",
)

"""Quality metrics: FID / KID (float64), pytorch-fid's InceptionV3 in Flax, generator evaluation.

  from vid_jax import metrics
  mu, sigma = metrics.feature_stats(features)               # [N, D] -> float64 stats
  fid = metrics.frechet_distance(mu1, sigma1, mu2, sigma2)
  kid_mean, kid_std = metrics.kid(features1, features2)
  inception = metrics.load_inception("pt_inception.npz")    # tools/convert_inception.py
  scores = metrics.evaluate_generator(generate_fn, real_uint8, metrics.inception_feature_fn(inception),
                                      num_samples=10_000, batch_size=100, key=key)

See docs/metrics.md for definitions and comparability.
"""
from vid_jax.metrics.fid import feature_stats, fid_from_features, frechet_distance, kid
from vid_jax.metrics.inception import (
    FEATURE_NAME as INCEPTION_FEATURE_NAME, Inception, InceptionV3, load_inception)
from vid_jax.metrics.evaluate import (
    DOMAIN, INCEPTION, Evaluator, attribute_accuracy, attribute_agreement, compute_features,
    domain_feature_fn, evaluate_generator, evaluate_in_training, evaluate_workdir, fid_kid,
    inception_feature_fn, make_evaluator, make_generate_fn, make_sample_fn, pairwise_rms,
    real_same_attribute_diversity, same_attribute_diversity, to_uint8)

__all__ = (
    "feature_stats", "fid_from_features", "frechet_distance", "kid",
    "INCEPTION_FEATURE_NAME", "Inception", "InceptionV3", "load_inception",
    "DOMAIN", "INCEPTION", "Evaluator", "attribute_accuracy", "attribute_agreement",
    "compute_features", "domain_feature_fn", "evaluate_generator", "evaluate_in_training",
    "evaluate_workdir", "fid_kid", "inception_feature_fn", "make_evaluator", "make_generate_fn",
    "make_sample_fn", "pairwise_rms", "real_same_attribute_diversity", "same_attribute_diversity",
    "to_uint8",
)

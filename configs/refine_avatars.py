"""RL latent refiner (vid_jax.refiners.rl): reward weights and each method's hyper-parameters (docs/rl.md).

  python tools/refine.py --workdir=runs/cdcgan --attrs=Smiling --refine_config.budget=256

tools/refine.py reads this file (`--refine_config`); the identity designer uses the same values,
`vid_jax.refiners.rl.default_config()` (tests/rl_config_test.py checks they agree).
Variants (`:arg`): `smoke` (a small budget and policy, for tests).
"""
import ml_collections

from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  cd = ml_collections.ConfigDict
  c = cd()
  c.weights = cd(dict(  # reward terms (vid_jax/refiners/rl/rewards.py); weight 0 = not computed
      realism=1.0,      # log D(x) <= 0
      attributes=1.0,   # log p(requested facts) under the classifier <= 0 (off without a classifier)
      uniqueness=1.0,   # cosine distance to the nearest banked identity, [0, 2]
      preference=0.0,   # Bradley-Terry score of a model fitted to pairwise choices (--preferences)
      prior=0.0))       # -(mean(z^2) - 1) / 2, keeps z typical
  c.realism_kind = "log_sigmoid"  # log_sigmoid (saturates for very real images) | logit
  c.attr_threshold = 0.0  # classifier logit above which an attribute counts as there (hit rates)
  c.bank_size = 64  # prior samples standing in for identities already handed out (uniqueness)
  c.budget = 512  # generator evaluations per request
  c.population = 32  # latents evaluated per update of reinforce / es / best_of_n / amortized use
  c.reinforce = cd(dict(learning_rate=0.1,  # Adam on the Gaussian's (mean, log_std)
                        init_log_std=0.0, min_log_std=-3.0, max_log_std=0.5,  # start at prior scale; clip
                        baseline="loo",  # loo (leave-one-out batch mean) | ema | none
                        baseline_decay=0.9,  # decay of the ema baseline
                        normalize=True,  # divide advantages by the batch reward std
                        kl_weight=0.01, entropy_weight=0.0))  # KL(policy || N(0, I)); bonus on sum(log_std)
  c.es = cd(dict(learning_rate=0.1, sigma=0.5,  # Adam on the mean; perturbation scale
                 rank_shaping=True, kl_weight=0.01))  # centred ranks, not raw rewards; pulls the mean to 0
  c.gradient = cd(dict(chains=8, learning_rate=0.05,  # parallel Adam ascents (evaluations per step)
                       kl_weight=0.01))  # weight of |z|^2 / 2 per coordinate
  c.amortized = cd(dict(hidden=256, num_layers=2,  # the policy MLP (noise, request) -> z
                        learning_rate=1e-3, init_log_std=-1.0,  # Adam; exploration noise of its head
                        kl_weight=0.01, entropy_weight=0.0,  # |mu(noise, request) - noise|^2 / 2; as above
                        train_steps=200, requests_per_step=16,  # REINFORCE steps; random requests each
                        samples_per_request=8,  # latents per request per step
                        mean_wanted=1.5, mean_avoided=0.5))  # training requests: mean #wanted, #unwanted
  if args.smoke:
    c.update(dict(budget=32, population=8, bank_size=8, gradient=dict(chains=4)))
    c.amortized.update(dict(hidden=16, train_steps=3, requests_per_step=4, samples_per_request=4))
  return c

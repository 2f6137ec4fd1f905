"""RL latent refiner: learn where in z-space to sample so avatars score high.

  base.py        the `Refiner` NamedTuple (optax mould: `init`, `step`), the best-so-far record.
  methods.py     reinforce, evolution_strategies (`es`), best_of_n, gradient_ascent (`gradient`).
  amortized.py   one policy network for all requests, trained by REINFORCE across requests.
  runner.py      refine (one request, `lax.scan`), make_refine_fn / refine_requests (`vmap`, mesh).
  rewards.py     reward terms (realism, attributes, uniqueness, prior) and `combine`.
  preference.py  a Bradley-Terry reward model fitted to a user's pairwise choices.
  task.py        rewards and requests from a loaded GAN run (`model_task`, `attribute_vector`).
  config.py      the hyper-parameters (configs/refine_avatars.py): validation and factories.

Comparing methods on one budget is an experiment, not the method: tools/compare_refiners.py.
See docs/rl.md.
"""
from vid_jax.refiners.rl import rewards
from vid_jax.refiners.rl.amortized import (AmortizedNet, AmortizedPolicy, AmortizedState, amortized,
                                           amortized_refiner, request_features, train_amortized)
from vid_jax.refiners.rl.base import Best, Objective, Refiner
from vid_jax.refiners.rl.config import (METHODS, amortized_from_config, default_config, make_refiner,
                                        merged_config, validate_config)
from vid_jax.refiners.rl.methods import (BestOfNState, ESState, GaussianParams, GradientState, ReinforceState,
                                         best_of_n, evolution_strategies, gaussian_kl_to_prior,
                                         gradient_ascent, reinforce, score_function_gradient)
from vid_jax.refiners.rl.preference import (PreferenceModel, fit_preference_model, preference,
                                            preference_score)
from vid_jax.refiners.rl.rewards import (Request, RewardFn, attribute_hits, attribute_log_prob, attributes,
                                         combine, cond_batch, make_request, nearest_distance, prior, realism,
                                         uniqueness)
from vid_jax.refiners.rl.runner import (RefineResult, latent_objective, make_refine_fn, num_steps, refine,
                                        refine_requests, shard_requests)
from vid_jax.refiners.rl.task import Task, attribute_vector, cond_from_attributes, model_task

"""DCGAN on the procedural avatars with an adversarially trained discriminator.

Same run as configs/dcgan_avatars.py, except that every D update sees PGD-perturbed inputs
(docs/adversarial.md).

  python launch.py --config=configs/dcgan_avatars_robust.py --workdir=runs/robust
  python launch.py --config=configs/dcgan_avatars_robust.py:smoke --workdir=/tmp/smoke_robust
  python tools/robustness.py --workdir=runs/robust   # compare with a plain runs/demo

Variants (`:arg`): those of configs/dcgan_avatars.py (e.g. `smoke`), passed through.
"""
from vid_jax import config as vc


def get_config(arg=None):
  c = vc.sibling_config(__file__, "dcgan_avatars", arg)
  adv = c.refiners.adversarial
  adv.enabled = True       # PGD on D's real and fake inputs inside the train step
  adv.norm = "linf"
  adv.eps = 2 / 255 * 2    # 2/255 of the [0, 1] pixel range, in the [-1, 1] image scale
  adv.step_size = 2 / 255  # eps / 2: three steps can cross the ball from a random start
  adv.num_steps = 3        # each step costs one D forward+backward on 2 * fraction * batch images
  adv.fraction = 0.5       # share of the real and of the fake batch that is perturbed
  return c

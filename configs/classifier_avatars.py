"""Attribute classifier on the built-in avatars, 64x64 (domain FID/KID and attribute accuracy).

  python tools/train_classifier.py --config=configs/classifier_avatars.py --workdir=runs/classifier
  python tools/train_classifier.py --config=configs/classifier_avatars.py:smoke --workdir=/tmp/clf

Then point GAN evaluation at it: `--config.eval.classifier_workdir=runs/classifier`
(launch.py) or `tools/evaluate.py --classifier_workdir=runs/classifier`.

Variants (`:arg`, comma-separated): `smoke` (32x32, width 8, a few steps, for
tests), `res=N` (image side, must match the GAN's for the cleanest features;
other sizes are resized), `steps=N` (Adam steps; `make demo` trains a shorter one).
"""
import ml_collections

from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False, res=64, steps=1200)
  c = ml_collections.ConfigDict()
  c.data = vc.base_config().data   # same fields as GAN runs (source, num_examples, cache_dir, ...)
  c.data.source = "avatars"
  c.data.num_examples = 20_000     # avatars for training + held-out (rendered live, ~2 ms each)
  c.data.cache_dir = ""            # a prepared cache of the same source/size/seed, or "" (render live)

  c.model = ml_collections.ConfigDict()
  c.model.resolution = args.res    # image side the classifier is trained at

  c.classifier = ml_collections.ConfigDict()
  c.classifier.width = 16          # stem channels; stages double up to 8x
  c.classifier.feature_dim = 256   # feature vector size (domain FID/KID space)
  c.classifier.steps = args.steps  # Adam steps (cosine-decayed learning rate)
  c.classifier.batch_size = 64     # global batch, split over all devices
  c.classifier.lr = 2e-3           # peak Adam learning rate
  c.classifier.holdout = 2000      # held-out examples (the last ones); a value < 1 is a fraction
  c.classifier.eval_batch_size = 250
  c.classifier.log_every = 100
  # Augmentation with the softness GAN samples have: without it the classifier reads attributes
  # from crisp edges only (a 0.7 px blur of real avatars: Smiling found in 11% instead of 100%,
  # black hair in 52%), so it judged blurred samples instead of the attributes (docs/metrics.md).
  c.classifier.blur_max = 1.5 * args.res / 64  # per-image Gaussian blur sigma ~ U(0, blur_max) px (1.5 at 64x64)
  c.classifier.noise_max = 0.1     # per-image Gaussian noise std ~ U(0, noise_max) (images in [-1, 1])

  c.train = ml_collections.ConfigDict()
  c.train.seed = 0                 # data order, init, and the avatar dataset seed

  if args.smoke:
    c.model.resolution = 32
    c.data.num_examples = 512
    c.classifier.width = 8
    c.classifier.feature_dim = 32
    c.classifier.steps = 4
    c.classifier.batch_size = 16
    c.classifier.holdout = 64
    c.classifier.eval_batch_size = 64
    c.classifier.log_every = 2
    c.classifier.blur_max = 0.75   # the same blur relative to the 32x32 image
    c.classifier.noise_max = 0.05
  return c

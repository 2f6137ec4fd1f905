"""Attribute classifier on the built-in avatars, 64x64 (domain FID/KID and attribute accuracy).

  python tools/train_classifier.py --config=configs/classifier_avatars.py --workdir=runs/classifier

GAN evaluation reads it through `--config.eval.classifier_workdir` or `tools/evaluate.py
--classifier_workdir`. Variants (`:arg`): `smoke` (32x32, tiny, for tests), `res=N` (image side;
other sizes are resized), `steps=N`. Measured runs: docs/experiments/classifier.md.
"""
import ml_collections

from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False, res=64, steps=1200)
  c = ml_collections.ConfigDict()
  c.data = vc.base_config().data   # the GAN's data fields (source, num_examples, cache_dir, ...)
  c.data.source = "avatars"
  c.data.num_examples = 20_000     # training + held-out examples (rendered live when no cache_dir)
  c.data.cache_dir = ""            # a prepared cache of the same source/size/seed, or "" (render live)
  c.model = ml_collections.ConfigDict(dict(resolution=args.res))  # image side trained at
  c.classifier = ml_collections.ConfigDict()
  c.classifier.width = 16          # stem channels; stages double up to 8x
  c.classifier.feature_dim = 256   # feature vector size (domain FID/KID space)
  c.classifier.steps = args.steps  # Adam steps (cosine-decayed learning rate)
  c.classifier.batch_size = 64     # global batch, split over all devices
  c.classifier.lr = 2e-3           # peak Adam learning rate
  c.classifier.holdout = 2000      # held-out examples (the last ones); a value < 1 is a fraction
  c.classifier.eval_batch_size = 250  # images per held-out accuracy call
  c.classifier.log_every = 100     # steps between logged scalars
  # Train on the softness GAN samples have, so that blurred samples are judged by their attributes.
  c.classifier.blur_max = 1.5 * args.res / 64  # per-image Gaussian blur sigma ~ U(0, blur_max) px
  c.classifier.noise_max = 0.1     # per-image Gaussian noise std ~ U(0, noise_max) (images in [-1, 1])
  c.train = ml_collections.ConfigDict(dict(seed=0))  # data order, init, avatar dataset seed
  if args.smoke:
    c.model.resolution = 32
    c.data.num_examples = 512
    c.classifier.update(dict(width=8, feature_dim=32, steps=4, batch_size=16, holdout=64,
                             eval_batch_size=64, log_every=2, blur_max=0.75, noise_max=0.05))
  return c

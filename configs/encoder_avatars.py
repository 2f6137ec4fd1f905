"""The variational encoder of the avatar GAN (GAN inversion, `autoencode`; docs/encoder.md).

  python tools/train_encoder.py --config=configs/encoder_avatars.py --workdir=runs/encoder \
      --gan_workdir=zoo:avatar_gan --classifier_workdir=zoo:classifier
  python tools/encode.py --encoder_workdir=runs/encoder --input=photo.png --edit=+Eyeglasses --out=out/

Stage 1 on the frozen generator's own samples (latent and pixel reconstruction), stage 2 on real
avatars (pixel + D-feature + classifier-feature reconstruction, a small adversarial term from D, the
KL to N(0, I)); the attribute vector of a real image is the classifier's reading. Then InterFaceGAN
directions for the attributes G is not conditioned on, and the held-out evaluation (metrics.json).
Variants: `smoke` (a few tiny steps, for tests).
"""
import ml_collections

from vid_jax import config as vc


def get_config(arg=None):
  args = vc.parse_arg(arg, smoke=False)
  c = ml_collections.ConfigDict()
  c.data = ml_collections.ConfigDict()
  c.data.source = "avatars"        # real images of stage 2 (the GAN's training data)
  c.data.num_examples = 20_000
  c.data.cache_dir = "runs/cache/avatars64"  # a prepared cache (make demo) or "" (render live)
  c.data.seed = 0                  # which avatars are drawn (the GAN's: its training set)
  c.encoder = ml_collections.ConfigDict()
  c.encoder.width = 32             # first conv's channels (D-sized: doubles per stage)
  c.encoder.batch_size = 64        # global batch, split over all devices
  c.encoder.lr = 3e-4              # Adam (b1 0.5), cosine-decayed over both stages
  c.encoder.stage1_steps = 700     # on G's samples: z known
  c.encoder.stage2_steps = 600     # on real images
  c.encoder.log_every = 50
  c.encoder.checkpoint_every = 250  # resumable; the final checkpoint adds directions and metrics
  # Loss weights, each term a mean over its elements (vid_jax/encoder/losses.py).
  c.encoder.stage1 = ml_collections.ConfigDict(dict(latent=1.0, pixel=1.0, d_feature=0.0,
                                                    classifier_feature=0.0, adversarial=0.0, kl=1e-3))
  c.encoder.stage2 = ml_collections.ConfigDict(dict(latent=0.0, pixel=1.0, d_feature=0.5,
                                                    classifier_feature=0.5, adversarial=0.01, kl=1e-3))
  # Inversion (refiners/gan_inversion.py): Adam on z from the encoder's mean. IDInvert's extra terms
  # (d_feature 0.5, encoder 0.1) measured 15.00 dB against 15.26 dB for pixel MSE alone (docs/encoder.md).
  c.inversion = ml_collections.ConfigDict()
  c.inversion.steps = 50
  c.inversion.lr = 0.05
  c.inversion.pixel = 1.0
  c.inversion.d_feature = 0.0      # D-feature distance to the target
  c.inversion.encoder = 0.0        # ||z - E(G(z))||^2: keeps z where the encoder (and G's domain) is
  # Editing: InterFaceGAN directions (vid_jax/encoder/directions.py) for the attributes G does not know.
  c.directions = ml_collections.ConfigDict()
  c.directions.samples = 4096      # G's samples labelled by the classifier
  c.directions.steps = 300         # logistic regression (full batch, Adam)
  c.directions.min_positive = 0.05  # an attribute rarer (or commoner than 1 - this) gets no direction
  # Held-out evaluation at the end (metrics.json): avatars of a dataset seed the training never saw.
  c.eval = ml_collections.ConfigDict()
  c.eval.seed = 7                  # avatar dataset seed of the held-out images
  c.eval.num_images = 256
  c.eval.batch_size = 64
  c.eval.limit_images = 32         # the generator's limit: inversions of this many ...
  c.eval.limit_steps = 500         # ... with this many steps (0 = skip)
  c.train = ml_collections.ConfigDict(dict(seed=0))
  if args.smoke:
    c.data.cache_dir = ""
    c.data.num_examples = 256
    c.encoder.update(dict(width=8, batch_size=8, stage1_steps=3, stage2_steps=3, log_every=2,
                          checkpoint_every=3))
    c.inversion.steps = 3
    c.directions.update(dict(samples=64, steps=20))
    c.eval.update(dict(num_images=8, batch_size=8, limit_images=8, limit_steps=2))
  return c

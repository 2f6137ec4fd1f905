"""Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020), as pure functions.

The train step (`optim.diffaugment`) applies one policy to every image D sees, reals and fakes,
in D's update and in G's, so D never sees an un-augmented image and G's gradients flow back
through the augmentation: D's overfitting to a small dataset and the artefacts it leads G to are
reduced without the augmentations leaking into G's samples.

Each op maps (key, images [B, H, W, C] in [-1, 1]) -> images [B, H, W, C], is differentiable with
respect to the images, draws its parameters per sample (no Python loop over the batch) and is
jittable and vmappable. Strengths are those of the reference code (mit-han-lab/data-efficient-gans,
whose images are in [-1, 1] too); each op is the identity at strength 0.
"""
import jax
import jax.numpy as jnp


def shift(images, offsets, *, fill: float = 0.0):
  """Moves each image's content by whole pixels, filling what comes in from outside.

  Args:
    images: [B, H, W, C].
    offsets: int [B, 2]: (down, right) pixels per image; negative moves up / left.
    fill: the value of the pixels that enter from outside (0: mid-grey in [-1, 1], DiffAugment's
      zero padding).

  Returns:
    [B, H, W, C] with out[b, i, j] = images[b, i - down, j - right], `fill` where that is outside.
  """
  h, w = images.shape[1:3]

  def one(x, offset):  # [H, W, C], [2]
    padded = jnp.pad(x, ((1, 1), (1, 1), (0, 0)), constant_values=jnp.asarray(fill, x.dtype))
    # Source rows/columns in the padded image; anything outside lands on the fill border.
    rows = jnp.clip(jnp.arange(h) - offset[0] + 1, 0, h + 1)
    cols = jnp.clip(jnp.arange(w) - offset[1] + 1, 0, w + 1)
    return padded[rows[:, None], cols[None, :]]  # one gather; its transpose carries the gradient

  return jax.vmap(one)(images, offsets)


def translation(key, images, *, ratio: float = 0.125, fill: float = 0.0):
  """Random integer translation by up to `ratio` of the height/width, per sample.

  Args:
    key: PRNG key.
    images: [B, H, W, C].
    ratio: the largest shift as a share of the size (DiffAugment: 1/8); 0 = identity.
    fill: the value of the pixels that enter from outside.

  Returns:
    [B, H, W, C], each image shifted by (dy, dx) drawn uniformly from
    [-round(ratio H), round(ratio H)] x [-round(ratio W), round(ratio W)].
  """
  b, h, w = images.shape[:3]
  limit = jnp.array([int(h * ratio + 0.5), int(w * ratio + 0.5)])  # [2]
  offsets = jax.random.randint(key, (b, 2), -limit, limit + 1)  # [B, 2]
  return shift(images, offsets, fill=fill)


def color(key, images, *, brightness: float = 0.5, saturation: float = 1.0, contrast: float = 0.5):
  """Random brightness, then saturation, then contrast, per sample (no clipping: the gradient stays).

  Args:
    key: PRNG key.
    images: [B, H, W, C].
    brightness: an offset drawn from [-brightness, brightness] is added (DiffAugment: 0.5, in its
      [-1, 1] scale, i.e. a quarter of the range).
    saturation: each pixel's deviation from its channel mean is scaled by a factor drawn from
      [1 - saturation, 1 + saturation] (DiffAugment: [0, 2]).
    contrast: each image's deviation from its mean is scaled by a factor drawn from
      [1 - contrast, 1 + contrast] (DiffAugment: [0.5, 1.5]).

  Returns:
    [B, H, W, C]; values may leave [-1, 1].
  """
  k_b, k_s, k_c = jax.random.split(key, 3)
  shape = (images.shape[0], 1, 1, 1)
  draw = lambda k, half: jax.random.uniform(k, shape, jnp.float32, -half, half).astype(images.dtype)
  x = images + draw(k_b, brightness)  # [B, H, W, C]
  mean = jnp.mean(x, axis=-1, keepdims=True)  # [B, H, W, 1]
  x = (x - mean) * (1 + draw(k_s, saturation)) + mean
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)  # [B, 1, 1, 1]
  return (x - mean) * (1 + draw(k_c, contrast)) + mean


def cut(images, centers, size: tuple[int, int], *, fill: float = 0.0):
  """Sets a rectangle of each image to `fill` (clipped where it leaves the image).

  Args:
    images: [B, H, W, C].
    centers: int [B, 2]: each rectangle's (row, column); it covers rows
      [row - size[0] // 2, row - size[0] // 2 + size[0]) and the same for columns.
    size: (height, width) of the rectangle.
    fill: its value.

  Returns:
    [B, H, W, C].
  """
  h, w = images.shape[1:3]

  def inside(first, n, length):  # [B] -> [B, length]
    i = jnp.arange(length)[None, :]
    return (i >= first[:, None]) & (i < first[:, None] + n)

  mask = (inside(centers[:, 0] - size[0] // 2, size[0], h)[:, :, None] &
          inside(centers[:, 1] - size[1] // 2, size[1], w)[:, None, :])  # [B, H, W]
  return jnp.where(mask[..., None], jnp.asarray(fill, images.dtype), images)


def cutout(key, images, *, ratio: float = 0.5, fill: float = 0.0):
  """Cutout (DeVries & Taylor 2017): a rectangle of `ratio` of the size at a random centre, per sample.

  Args:
    key: PRNG key.
    images: [B, H, W, C].
    ratio: the rectangle's side as a share of the image's (DiffAugment: 1/2); 0 = identity.
    fill: the value it is set to (0: mid-grey in [-1, 1], DiffAugment's).

  Returns:
    [B, H, W, C]. As in DiffAugment, the centre is uniform over the image, so near an edge the
    rectangle is partly outside.
  """
  b, h, w = images.shape[:3]
  size = (int(h * ratio + 0.5), int(w * ratio + 0.5))
  # DiffAugment's range: an even side may also centre one past the last pixel.
  high = jnp.array([h + 1 - size[0] % 2, w + 1 - size[1] % 2])  # [2]
  centers = jax.random.randint(key, (b, 2), 0, high)  # [B, 2]
  return cut(images, centers, size, fill=fill)


AUGMENTATIONS = {"translation": translation, "color": color, "cutout": cutout}  # policy names


def parse_policy(spec: str) -> tuple[str, ...]:
  """"translation, color" -> ("translation", "color"); "" -> () (off). Names are not checked."""
  return tuple(name.strip() for name in spec.split(",") if name.strip())


def diff_augment(key, images, policy: tuple[str, ...]):
  """Applies the AUGMENTATIONS named in `policy`, in order, each with its own key.

  Args:
    key: PRNG key (unused when the policy is empty).
    images: [B, H, W, C] in [-1, 1].
    policy: names from AUGMENTATIONS; () returns `images` itself.

  Returns:
    [B, H, W, C].

  Raises:
    ValueError: a name not in AUGMENTATIONS.
  """
  unknown = [name for name in policy if name not in AUGMENTATIONS]
  if unknown:
    raise ValueError(f"unknown augmentation(s) {unknown}; use names from {tuple(AUGMENTATIONS)}")
  if not policy:
    return images
  for name, k in zip(policy, jax.random.split(key, len(policy))):
    images = AUGMENTATIONS[name](k, images)
  return images

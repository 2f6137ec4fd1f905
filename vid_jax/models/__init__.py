"""Flax models: DCGAN generator and discriminator, conv layers, classifier."""
import jax.numpy as jnp

from vid_jax.config import FAKE_AWARE_AUX_MODES
from vid_jax.data.attributes import attribute_names
from vid_jax.models.classifier import AttributeClassifier, Classifier, load_classifier
from vid_jax.models.discriminator import Discriminator
from vid_jax.models.generator import Generator, RESOLUTIONS
from vid_jax.models.layers import CONV_IMPLS, resolve_conv_impl


def build_gan(config):
  """Generator and Discriminator modules from a run config (the typed boundary)."""
  m = config.model
  impl = resolve_conv_impl(m.conv_impl)
  dtype = jnp.dtype(m.dtype)
  num_attributes = len(attribute_names(config))
  g = Generator(resolution=m.resolution, z_dim=m.z_dim, width=m.g_width,
                num_attributes=num_attributes, cond_hidden=m.g_cond_hidden,
                cond_spatial=m.g_cond_spatial, conv_impl=impl, dtype=dtype)
  d = Discriminator(resolution=m.resolution, width=m.d_width,
                    num_attributes=num_attributes, conv_impl=impl, dtype=dtype,
                    aux_head=bool(num_attributes and config.optim.aux_weight),
                    projection=m.projection, cond_hidden=m.d_cond_hidden,
                    aux_net_width=m.aux_net_width, stage_projection=m.d_stage_projection,
                    cond_shift=m.d_cond_shift,
                    aux_fake_aware=config.optim.aux_mode in FAKE_AWARE_AUX_MODES)
  return g, d

"""Flax models: DCGAN generator and discriminator, conv layers, classifier."""
import functools

import jax.numpy as jnp

from vid_jax.data.attributes import attribute_names
from vid_jax.experimental import attribute_net, spatial_conditioning
from vid_jax.models import discriminator as discriminator_lib
from vid_jax.models.classifier import AttributeClassifier, Classifier, load_classifier
from vid_jax.models.discriminator import Discriminator
from vid_jax.models.generator import Generator, RESOLUTIONS
from vid_jax.models.layers import CONV_IMPLS, Conv4, max_pool_2x2, resolve_conv_impl


def build_gan(config):
  """Generator and Discriminator modules from a run config (the typed boundary).

  The experimental options (vid_jax.experimental) come in through the modules' hooks: G's
  `norm_shifts` (model.g_cond_spatial) and D's `aux_net` (model.aux_net_width).
  """
  m = config.model
  impl = resolve_conv_impl(m.conv_impl)
  dtype = jnp.dtype(m.dtype)
  num_attributes = len(attribute_names(config))
  norm_shifts = spatial_conditioning.spatial_shifts(maps=m.g_cond_spatial) if m.g_cond_spatial else None
  aux_net = None
  if m.aux_net_width:
    aux_net = attribute_net.AttributeNet(
        width=m.aux_net_width, conv4=functools.partial(Conv4, impl=impl, dtype=dtype),
        batch_norm=functools.partial(discriminator_lib.batch_norm,
                                     dtype=dtype), pool=max_pool_2x2, dtype=dtype)
  g = Generator(resolution=m.resolution, z_dim=m.z_dim, width=m.g_width, num_attributes=num_attributes,
                cond_hidden=m.g_cond_hidden, norm_shifts=norm_shifts, conv_impl=impl, dtype=dtype,
                upsample=m.g_upsample)
  d = Discriminator(resolution=m.resolution, width=m.d_width, num_attributes=num_attributes, conv_impl=impl,
                    dtype=dtype, aux_head=bool(num_attributes and config.optim.aux_weight),
                    projection=m.projection, aux_fake_aware=config.optim.aux_mode == "adc", aux_net=aux_net,
                    spectral_norm=m.d_spectral_norm)
  return g, d

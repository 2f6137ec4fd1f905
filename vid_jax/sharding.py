"""Device mesh and shardings: batches split over a `data` axis, state replicated."""
import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """A 1-D mesh over `devices` (default: every device of every process)."""
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh, *, leading_axes: int = 0) -> NamedSharding:
  """Splits the batch axis (after `leading_axes` unsplit axes, e.g. the k-steps axis)."""
  return NamedSharding(mesh, P(*([None] * leading_axes), DATA_AXIS))


def global_batch(local_batch, sharding: NamedSharding):
  """Builds global jax.Arrays from this process's slice of the batch (a dict of numpy arrays)."""
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch)

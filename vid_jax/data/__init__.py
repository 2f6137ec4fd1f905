"""Data sources and loaders."""
from vid_jax.data.attributes import ATTRIBUTE_NAMES, ATTRIBUTE_INDEX, NUM_ATTRIBUTES

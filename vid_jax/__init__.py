"""vid_jax: the Virtual Identity Designer in JAX."""

__version__ = "0.1.0"

"""vid_jax.models."""

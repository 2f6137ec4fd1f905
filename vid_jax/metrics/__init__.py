"""vid_jax.metrics."""

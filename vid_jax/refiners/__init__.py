"""vid_jax.refiners."""

"""Options that measured promising but that no shipped config uses, apart from the core method.

Each is switched on by a config field of its own and reaches the core through one seam:

  spatial_conditioning  model.g_cond_spatial: attribute maps in G's BatchNorm shifts (the
                        Generator's `norm_shifts`)
  attribute_net         model.aux_net_width: a CNN of its own for D's attribute head (the
                        Discriminator's `aux_net`)
  joint_batch           optim.d_batch="joint": reals and fakes through D as one batch (the train
                        step's D application)

What they measured: docs/experiments/configs.md. Tests: tests/experimental_test.py.
"""

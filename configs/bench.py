"""Benchmark jobs for tools/bench/run.py: each a tool of tools/bench/ and its flags.

  python tools/bench/run.py --config=configs/bench.py                  # every job (`make bench`)
  python tools/bench/run.py --config=configs/bench.py:quick --out=/tmp/b  # tiny sizes, seconds each
  python tools/bench/run.py --config=configs/bench.py --only=gan_step --config.jobs.gan_step.flags.batch=32

A job: `tool` (tools/bench/<tool>.py), `flags` (name -> value; True/False give --name/--noname),
`requires` (paths that must exist, else the job is recorded as skipped). Figures: docs/performance.md.
"""
import ml_collections

from vid_jax import config as vc

DEMO = "runs/demo"  # `make demo`'s models and avatar cache
ZOO_REQUIRES = ("zoo/avatar_gan/card.json", "zoo/classifier/card.json")  # the GAN and classifier shipped
DESIGN_REQUIRES = (f"{DEMO}/gan/config.json", f"{DEMO}/classifier/classifier.json", f"{DEMO}/nickname")


def job(tool, requires=(), **flags):
  return ml_collections.ConfigDict(dict(tool=tool, flags=flags, requires=tuple(requires)))


def get_config(arg=None):
  args = vc.parse_arg(arg, quick=False)
  c = ml_collections.ConfigDict()
  if not args.quick:
    c.jobs = ml_collections.ConfigDict(dict(
        # Our train step against the PyTorch peer (.venv-torch; skipped with a message without torch).
        gan_step=job("gan_step", config="configs/dcgan_celeba64.py", batch=64, steps=10, rounds=3, peer=True),
        gan_step_demo=job("gan_step", config="configs/dcgan_avatars.py", batch=64, steps=10, rounds=3),
        layers=job("layers", resolution=64, batch=64),  # each DCGAN layer's passes, native vs fast
        data_loader_cache=job("data_loader", requires=["runs/cache/avatars64/manifest.json"],
                              cache="runs/cache/avatars64", batch=256, seconds=10),
        data_loader_live=job("data_loader", source="avatars", batch=64, seconds=10),
        adversarial=job("adversarial", batch=256, steps=10, reps=3),  # PGD-10 through D
        style=job("style"),  # classic filters and 200 neural steps
        rl=job("rl", num_requests=256),  # vmapped REINFORCE vs a Python loop
        design=job("design", requires=DESIGN_REQUIRES, num=64, reps=2),  # identities/s, `make demo`'s models
        encoder=job("encoder", requires=ZOO_REQUIRES, batch=64, steps=50, reps=5),  # encoder, inversion
    ))
  else:  # every tool on tiny sizes: a check that the jobs run, not a measurement
    c.jobs = ml_collections.ConfigDict(dict(
        gan_step=job("gan_step", config="configs/dcgan_avatars.py:smoke", batch=8, steps=2, warmup=1),
        layers=job("layers", resolution=32, width=8, z_dim=8, batch=4, layers="G1,D1", impls="native",
                   rounds=1, matmul="256,256,256"),
        data_loader=job("data_loader", source="avatars", size=32, batch=16, seconds=0.5, limit=256),
        adversarial=job("adversarial", batch=4, resolution=32, width=8, steps=2, reps=1),
        style=job("style", batch=4, size=32, reps=1, neural_size=32, neural_steps=2),
        rl=job("rl", num_requests=8, loop_subset=2, budget=8, population=4, repeats=1),
        design=job("design", requires=DESIGN_REQUIRES, num=2, reps=1, refine_budget=0),
        encoder=job("encoder", requires=ZOO_REQUIRES, batch=2, steps=2, reps=1, width=8),
    ))
  return c

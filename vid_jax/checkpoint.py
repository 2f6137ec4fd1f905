"""Orbax checkpoints of the train state plus the data iterator's position."""
import json

import jax
import orbax.checkpoint as ocp

from vid_jax import paths
from vid_jax.config import check_retired
from vid_jax.errors import UserError


class Checkpointer:
  """WORKDIR/checkpoints: async saves, last `keep` kept, restore against an abstract target.

  `workdir` may be a URL (gs://bucket/run): orbax writes there through tensorstore and epath.
  """

  def __init__(self, workdir: str, *, keep: int = 3, read_only: bool = False):
    self.workdir = workdir
    self.directory = paths.checkpoint_directory(workdir)
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only, read_only=read_only,
                                           enable_async_checkpointing=not read_only)
    self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "data"))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, data_state: dict | None) -> None:
    """Starts an async save of `state` (a pytree of jax.Arrays) and the iterator state."""
    args = {"state": ocp.args.StandardSave(state)}
    args["data"] = ocp.args.JsonSave(data_state or {})
    self.manager.save(int(step), args=ocp.args.Composite(**args), force=True)

  def restore(self, abstract_state, step: int | None = None):
    """Restores (state, data_state); arrays come back with the shardings of `abstract_state`.

    Args:
      abstract_state: pytree of jax.ShapeDtypeStruct (with `.sharding`) shaped like the state.
      step: the step to restore; the latest when None.
    """
    step = self.latest_step() if step is None else step
    read_run_config(self.workdir)  # a run of a retired option: one clear line, not a shape mismatch
    try:
      restored = self.manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state),
                                        data=ocp.args.JsonRestore()))
    except ValueError as e:
      if "do not match" not in str(e) and "shape" not in str(e):
        raise
      raise UserError(
          f"the checkpoint of step {step} in {self.directory} does not fit this config's train state "
          "(a model or optimizer setting, e.g. a width or optim.lr_decay_start, differs from the run's); "
          "resume with the config the run was started with (its config.json) or train in a new "
          "--workdir") from None
    return restored["state"], restored["data"]

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def read_run_config(workdir) -> dict | None:
  """The workdir's config.json as a dict (None when there is none), retired options checked.

  A run of a retired option fails here in one line; older runs lose the retired fields' "off" values.
  """
  path = paths.workdir_file(workdir, "config.json")
  if not path.exists():
    return None
  return check_retired(json.loads(path.read_text(encoding="utf-8")), where=str(path))


def abstract_with_sharding(tree, sharding):
  """ShapeDtypeStructs of `tree` (e.g. from jax.eval_shape) all carrying `sharding`."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def quiet_orbax_info(record) -> bool:
  """A logging filter: keeps orbax's per-save INFO chatter out of a progress log (warnings pass).

  Entry points that train: `logging.get_absl_handler().addFilter(checkpoint.quiet_orbax_info)`.
  """
  return record.levelno >= 30 or "/orbax/" not in record.pathname

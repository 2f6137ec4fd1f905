"""Workdir paths (vid_jax.paths): local paths as before, URLs (gs://) never made local.

The fake bucket is fsspec's in-memory file system registered for gs://, which etils.epath reaches
through its fsspec backend (TensorFlow is not installed). Orbax's own gs:// writes (tensorstore)
cannot run offline: the smoke run below keeps its checkpoints in a local folder.
"""
import io
import json
import os
import sys

import fsspec
import jax
import numpy as np
import pytest
from etils.epath import backend as epath_backend
from fsspec.implementations.memory import MemoryFileSystem
from PIL import Image

from vid_jax import checkpoint as ckpt_lib
from vid_jax import inference
from vid_jax import paths
from vid_jax import testing
from vid_jax import train
from vid_jax import writer as writer_lib


class _FakeBucket(MemoryFileSystem):
  """gs:// in memory: 'gs://b/x' is kept as '/b/x' in a store of its own."""
  protocol = ("gs", "gcs")
  store = {}
  pseudo_dirs = [""]

  @classmethod
  def _strip_protocol(cls, path):
    path = os.fspath(path)
    for prefix in ("gs://", "gcs://"):
      if path.startswith(prefix):
        path = path[len(prefix):]
    return super()._strip_protocol(path)


@pytest.fixture
def fake_gcs(monkeypatch):
  """gs:// URLs open in an empty in-memory bucket for the test's duration; yields the file system."""
  registry = sys.modules["fsspec.registry"]._registry  # pylint: disable=protected-access
  for protocol in ("gs", "gcs"):
    monkeypatch.setitem(registry, protocol, _FakeBucket)
  get_filesystem = epath_backend._FileSystemSpecBackend._get_filesystem  # pylint: disable=protected-access
  get_filesystem.cache_clear()
  _FakeBucket.store.clear()
  _FakeBucket.pseudo_dirs[:] = [""]
  yield fsspec.filesystem("gs")
  get_filesystem.cache_clear()
  _FakeBucket.store.clear()


def test_has_scheme():
  assert paths.has_scheme("gs://b/run")
  assert paths.has_scheme("s3://b/run")
  assert not paths.has_scheme("runs/x")
  assert not paths.has_scheme("/tmp/runs/x")


def test_checkpoint_directory_is_absolute_locally_and_a_url_stays_a_url(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert paths.checkpoint_directory("runs/x") == str(tmp_path / "runs" / "x" / "checkpoints")
  assert paths.checkpoint_directory("gs://bucket/run") == "gs://bucket/run/checkpoints"
  assert paths.checkpoint_directory("gs://bucket/run/") == "gs://bucket/run/checkpoints"


def test_absolute_keeps_urls(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert paths.absolute("runs/x") == str(tmp_path / "runs" / "x")
  assert paths.absolute("gs://bucket/run") == "gs://bucket/run"


def test_checkpointer_hands_orbax_the_url_itself(monkeypatch):
  seen = []

  class FakeManager:

    def __init__(self, directory, **kwargs):
      del kwargs
      seen.append(directory)

  monkeypatch.setattr(ckpt_lib.ocp, "CheckpointManager", FakeManager)
  checkpointer = ckpt_lib.Checkpointer("gs://bucket/run", read_only=True)
  assert checkpointer.directory == "gs://bucket/run/checkpoints"
  assert seen == ["gs://bucket/run/checkpoints"]


def test_relative_local_workdir_checkpoints_and_restores(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  config = testing.tiny_config()
  parts = train.create_parts(config)
  state = train.create_train_state(parts)
  checkpointer = ckpt_lib.Checkpointer("runs/rel", keep=1)
  checkpointer.save(3, state, {"epoch": 1})
  checkpointer.close()
  assert (tmp_path / "runs" / "rel" / "checkpoints" / "3").is_dir()
  checkpointer = ckpt_lib.Checkpointer("runs/rel", read_only=True)
  abstract = ckpt_lib.abstract_with_sharding(parts.abstract_state, parts.replicated)
  restored, data_state = checkpointer.restore(abstract)
  checkpointer.close()
  assert data_state == {"epoch": 1}
  jax.tree.map(np.testing.assert_array_equal, restored, state)


def test_save_png_writes_the_bytes_pil_writes_to_a_local_file(tmp_path):
  image = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
  Image.fromarray(image).save(tmp_path / "pil.png")
  writer_lib.save_png(str(tmp_path / "sub" / "ours.png"), image)
  assert (tmp_path / "sub" / "ours.png").read_bytes() == (tmp_path / "pil.png").read_bytes()


def test_local_metrics_jsonl_is_appended_across_writers(tmp_path):
  for step in (1, 2):
    w = writer_lib.MetricWriter(str(tmp_path))
    w.scalars(step, {"loss": 0.5})
    w.close()
  lines = (tmp_path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
  assert [json.loads(l) for l in lines] == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.5}]
  assert list(tmp_path.glob("events.out.tfevents.*"))


def test_url_metrics_jsonl_keeps_earlier_lines_and_truncates_on_resume(fake_gcs):
  for step in (1, 2, 3):
    w = writer_lib.MetricWriter("gs://bucket/run")
    w.scalars(step, {"loss": float(step)})
    w.close()
  path = paths.workdir_file("gs://bucket/run", "metrics.jsonl")
  assert [json.loads(l)["step"] for l in path.read_text().splitlines()] == [1, 2, 3]
  train._truncate_metrics(path, 2)  # pylint: disable=protected-access
  assert [json.loads(l)["step"] for l in path.read_text().splitlines()] == [1, 2]
  assert fake_gcs.exists("gs://bucket/run/metrics.jsonl")


def test_event_writer_skips_urls_tensorboardx_cannot_write(fake_gcs):
  del fake_gcs
  assert writer_lib.event_writer("az://container/run") is None


def test_smoke_run_writes_its_run_files_to_the_bucket(tmp_path, monkeypatch, fake_gcs):
  # Orbax writes gs:// through tensorstore, which has no offline fake: checkpoints stay local here.
  monkeypatch.setattr(paths, "checkpoint_directory", lambda workdir: str(tmp_path / "checkpoints"))
  config = testing.tiny_config(steps=2)
  result = train.train_and_evaluate(config, "gs://bucket/run")
  assert result["step"] == 2
  assert (tmp_path / "checkpoints" / "2").is_dir()
  for name in ("config.json", "data_stats.json", "metrics.jsonl", "samples/step_000002.png"):
    assert fake_gcs.exists(f"gs://bucket/run/{name}"), name
  assert not os.path.exists("gs:")  # nothing written under a local folder named after the URL
  png = fake_gcs.cat_file("gs://bucket/run/samples/step_000002.png")
  assert Image.open(io.BytesIO(png)).format == "PNG"
  metrics = [json.loads(l) for l in fake_gcs.cat_file("gs://bucket/run/metrics.jsonl").decode().splitlines()]
  assert [m["step"] for m in metrics] == [2]
  loaded = inference.load_config("gs://bucket/run")
  assert loaded.model.to_dict() == config.model.to_dict()


def test_event_writer_skips_gs_without_google_cloud_storage(monkeypatch):
  monkeypatch.setattr(writer_lib, "_importable", lambda module: False)
  assert writer_lib.event_writer("gs://bucket/run") is None

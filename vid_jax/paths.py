"""Workdir paths: a local directory or any URL that etils.epath and orbax open (gs://bucket/run).

Run files (config.json, data_stats.json, metrics.jsonl, sample grids, ...) are read and written
through `epath.Path`, which hands local paths to Python's own file functions (the same files and
bytes as `open`) and URLs to fsspec (gcsfs for gs://, s3fs for s3://) or tf.io.gfile where
TensorFlow is installed. Orbax writes checkpoints itself (tensorstore for arrays).
"""
import os

from etils import epath


def has_scheme(path) -> bool:
  """True for a URL such as gs://bucket/run (never made absolute, never opened with `open`)."""
  return "://" in os.fspath(path)


def workdir_file(workdir, *parts: str) -> epath.Path:
  """WORKDIR/parts... as an epath.Path (a relative local workdir stays relative)."""
  return epath.Path(workdir).joinpath(*parts)


def absolute(path) -> str:
  """A local path made absolute; a URL as it is (os.path.abspath would make gs://b/run ./gs:/b/run)."""
  return str(path) if has_scheme(path) else os.path.abspath(path)


def checkpoint_directory(workdir, name: str = "checkpoints") -> str:
  """WORKDIR/name for orbax: absolute for a local workdir (orbax wants absolute paths), a URL as it is."""
  return absolute(os.path.join(os.fspath(workdir), name))

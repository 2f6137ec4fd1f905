"""Tests of the tfds:celeb_a source (vid_jax/data/celeba.py), TFDS mocked."""
import numpy as np
import pytest

from vid_jax import data
from vid_jax.data import celeba
from vid_jax.data.attributes import ATTRIBUTE_NAMES
from vid_jax.errors import UserError


def test_celeba_crop_box_is_exact():
  img = np.zeros(celeba.CELEBA_IMAGE_SHAPE, np.uint8)
  l, t, r, b = celeba.CELEBA_CROP_BOX
  assert (r - l, b - t) == (128, 128) and ((l + r) / 2, (t + b) / 2) == (89, 121)
  img[t:b, l:r] = 200
  out = celeba.celeba_crop_resize(img, 32)
  assert out.shape == (32, 32, 3) and (out == 200).all()
  shifted = np.roll(img, 1, axis=1)  # one column of zeros now inside the box
  assert (celeba.celeba_crop_resize(shifted, 32) != 200).any()


def test_celeba_via_mock_data_source():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=5, policy=tfds.testing.MockPolicy.USE_CODE):
    src = data.make_source("tfds:celeb_a", size=32)
    raw = tfds.data_source("celeb_a", split="train")
    assert len(src) == 5 and src.spec == "tfds:celeb_a"
    assert src.attribute_names == ATTRIBUTE_NAMES and src.has_attributes
    batch = src.get_batch([0, 3])
    assert batch["image"].shape == (2, 32, 32, 3) and batch["image"].dtype == np.uint8
    assert batch["attributes"].shape == (2, 40) and batch["attributes"].dtype == np.bool_
    for j, i in enumerate([0, 3]):
      ex = raw[i]
      want = [bool(ex["attributes"][n]) for n in ATTRIBUTE_NAMES]
      np.testing.assert_array_equal(batch["attributes"][j], want)
      np.testing.assert_array_equal(batch["image"][j], celeba.celeba_crop_resize(ex["image"], 32))
      np.testing.assert_array_equal(src[i]["image"], batch["image"][j])
    assert src.identities([1])[0] == int(raw[1]["identity"]["Identity_No"])
    np.testing.assert_allclose(
        src.attribute_marginals(),
        np.mean([[bool(raw[i]["attributes"][n]) for n in ATTRIBUTE_NAMES] for i in range(5)], 0))
    assert len(data.make_source("tfds:celeb_a", size=32, num_examples=2)) == 2


def test_celeba_not_prepared_is_one_clear_error(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  with pytest.raises(UserError, match="tfds build celeb_a") as e:
    data.make_source("tfds:celeb_a", size=64, data_dir=str(tmp_path))
  assert "manual" in str(e.value) and "\n" not in str(e.value)

"""Factorial image datasets from local h5/npz files, on small generated fixtures."""

import h5py
import numpy as np
import pytest

from qdjax.data import _factor_dataset as fd

SIZES = (2, 3, 2)


def _fixture(path, fmt="h5", shuffle=False):
    n = int(np.prod(SIZES))
    classes = np.stack(np.unravel_index(np.arange(n), SIZES), axis=1)
    labels = classes * np.array([0.1, 0.25, 1.5])  # real-valued labels like Shapes3D
    images = np.zeros((n, 8, 8, 3), np.uint8)
    images[:, 0, 0, :] = (classes * 40 + 10).astype(np.uint8)  # factors encoded in a pixel
    if shuffle:
        labels = labels[::-1]
    if fmt == "h5":
        with h5py.File(path, "w") as f:
            f["images"] = images
            f["labels"] = labels
    else:
        np.savez(path, images=images, labels=labels)
    return classes


@pytest.mark.parametrize(
    "fmt,in_memory",
    [("h5", False), ("h5", True), ("npz", False)],
    ids=["h5-stream", "h5-memory", "npz"],
)
def test_factors_index_images_and_batches_are_pure(tmp_path, fmt, in_memory):
    path = str(tmp_path / f"toy.{fmt}")
    classes = _fixture(path, fmt)
    ds = fd.FactorImageDataset(path, factor_sizes=SIZES, batch_size=5, seed=1, in_memory=in_memory)
    np.testing.assert_array_equal(ds.factors, classes)
    b = ds.batch(3)
    assert b.x.shape == (5, 8, 8, 3) and b.x.dtype == np.float32 and b.s.dtype == np.int32
    np.testing.assert_allclose(b.x[:, 0, 0, :], (b.s * 40 + 10) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.batch(3).x, b.x)
    f = ds.sample_factors(7, np.random.default_rng(0))
    x = ds.sample_observations(f, np.random.default_rng(0))
    np.testing.assert_allclose(x[:, 0, 0, :], (f * 40 + 10) / 255.0, rtol=1e-6)
    ds.close()


def test_missing_file_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="QDJAX_DATA_DIR"):
        fd.shapes3d(str(tmp_path / "nope.h5"))


def test_wrong_factor_sizes_or_order_are_rejected(tmp_path):
    path = str(tmp_path / "toy.h5")
    _fixture(path)
    with pytest.raises(ValueError, match="expected 4 images"):
        fd.FactorImageDataset(path, factor_sizes=(2, 2))
    bad = str(tmp_path / "bad.h5")
    _fixture(bad, shuffle=True)
    with pytest.raises(ValueError, match="row-major"):
        fd.FactorImageDataset(bad, factor_sizes=SIZES, batch_size=4)

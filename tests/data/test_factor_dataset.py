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


def test_float_pixel_scale_is_read_over_the_whole_file_and_held_per_batch(tmp_path):
    # 10 x 100 factor grid; rows 0-255 in [0, 1], the rest in 0..255: the scale used to be
    # read from the first 256 rows only (1.0), and later rows were served at up to 255.
    sizes = (10, 100)
    n = int(np.prod(sizes))
    labels = np.stack(np.unravel_index(np.arange(n), sizes), axis=1).astype(np.float64)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (n, 4, 4, 1)).astype(np.float32)
    images[:256] /= 255
    path = str(tmp_path / "mixed.npz")
    np.savez(path, images=images, labels=labels)
    ds = fd.FactorImageDataset(path, factor_sizes=sizes, batch_size=4)
    assert ds.pixel_scale == pytest.approx(1 / 255)
    assert ds.images(np.arange(n)).max() <= 1.0
    # one row the spread sample does not read, far out of range: refused when served
    probed = set(np.linspace(0, n - 1, 256).astype(int).tolist())
    row = next(r for r in range(1, n) if r not in probed)
    images = rng.uniform(0, 1, (n, 4, 4, 1)).astype(np.float32)
    images[row] = 7.0
    np.savez(path, images=images, labels=labels)
    ds = fd.FactorImageDataset(path, factor_sizes=sizes, batch_size=4)
    assert ds.pixel_scale == 1.0
    with pytest.raises(ValueError, match=rf"rows \[{row}\] are NaN or outside \[0, 1\]"):
        ds.images(np.array([0, row]))

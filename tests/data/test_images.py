"""Readers of the image benchmarks on tiny generated files in each release layout."""

import os

import h5py
import numpy as np
import pytest
from PIL import Image

from qdjax.data import _device_source as dsrc
from qdjax.data import _factor_dataset as fd
from qdjax.data import _images as im
from qdjax.data import _tfds

SIZES = (2, 3, 2)


@pytest.fixture
def small_specs(monkeypatch):
    """Shrinks every benchmark's grid so fixtures stay tiny (the readers read SPECS)."""
    for name, spec in list(im.SPECS.items()):
        sizes = tuple(min(k, 2) for k in spec.factor_sizes)
        monkeypatch.setitem(im.SPECS, name, spec._replace(factor_sizes=sizes))
    return im.SPECS


def _grid(sizes):
    n = int(np.prod(sizes))
    return np.stack(np.unravel_index(np.arange(n), sizes), axis=1)


def _coded_images(classes, size=8):
    """uint8 images whose pixel (0, 0) encodes the row's factor classes."""
    x = np.zeros((len(classes), size, size, 3), np.uint8)
    flat = np.ravel_multi_index(tuple(classes.T), classes.max(0) + 1)
    x[:, :, :, 0] = (flat * 3 % 256)[:, None, None]
    return x


def test_dsprites_drops_colour_and_keeps_binary_pixels(tmp_path, small_specs):
    sizes = small_specs["dsprites"].factor_sizes
    classes = _grid((1, *sizes))
    imgs = (np.arange(len(classes))[:, None, None] % 2 * np.ones((1, 4, 4))).astype(np.uint8)
    path = tmp_path / im.SPECS["dsprites"].file
    np.savez(path, imgs=imgs, latents_classes=classes)
    ds = im.dsprites(str(path), batch_size=4)
    np.testing.assert_array_equal(ds.factors, classes[:, 1:])
    x = ds.images(np.arange(len(ds)))
    assert x.shape == (len(classes), 4, 4, 1) and set(np.unique(x)) == {0.0, 1.0}


@pytest.mark.parametrize("variant", ["toy", "complex"])
def test_mpi3d_rows_are_the_grid(tmp_path, monkeypatch, small_specs, variant):
    monkeypatch.setenv("QDJAX_DATA_DIR", str(tmp_path))
    sizes = small_specs[f"mpi3d_{variant}"].factor_sizes
    classes = _grid(sizes)
    np.savez(tmp_path / im.SPECS[f"mpi3d_{variant}"].file, images=_coded_images(classes))
    ds = im.mpi3d(variant, batch_size=4)
    np.testing.assert_array_equal(ds.factors, classes)
    f = ds.sample_factors(5, np.random.default_rng(0))
    x = ds.sample_observations(f, np.random.default_rng(0))
    flat = np.ravel_multi_index(tuple(f.T), sizes)
    np.testing.assert_allclose(x[:, 0, 0, 0], (flat * 3 % 256) / 255.0, rtol=1e-6)


@pytest.mark.parametrize("name", ["falcor3d", "isaac3d"])
def test_release_dir_is_converted_once_resized_and_sorted(tmp_path, small_specs, name):
    spec = small_specs[name]
    classes = _grid(spec.factor_sizes)
    perm = np.random.default_rng(0).permutation(len(classes))  # release rows in any order
    release = tmp_path / spec.file
    os.makedirs(release / "images")
    for i, row in enumerate(classes[perm]):
        img = np.zeros((128, 128, 3), np.uint8)
        img[..., 0] = np.ravel_multi_index(tuple(row), spec.factor_sizes) * 3 % 256
        Image.fromarray(img).save(release / "images" / f"{i:06d}.png")
    labels = classes[perm] * 0.5 + 0.1  # real-valued labels
    with open(release / im._RELEASE_LABELS[name], "wb") as f:
        np.save(f, labels)
    ds = im.load_image_dataset(name, str(release), batch_size=2)
    assert os.path.exists(tmp_path / f"{name}_64.npz")
    np.testing.assert_array_equal(ds.factors, classes)
    x = ds.images(np.arange(len(ds)))
    assert x.shape == (len(classes), 64, 64, 3)
    flat = np.arange(len(classes))
    np.testing.assert_allclose(x[:, 10, 10, 0], (flat * 3 % 256) / 255.0, atol=1 / 255)


def test_labels_not_a_grid_are_rejected():
    classes = _grid(SIZES)
    classes[3] = classes[2]  # one combination repeated, one missing
    with pytest.raises(ValueError, match="1 combinations missing, 1 repeated"):
        im.grid_order(classes, SIZES, where="toy")


def test_missing_file_names_file_directory_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("QDJAX_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError) as e:
        im.mpi3d("real")
    msg = str(e.value)
    assert "mpi3d_real.npz" in msg and str(tmp_path) in msg and "github.com" in msg
    assert "\n" not in msg


def test_empty_truncated_and_wrong_format_files_name_the_file(tmp_path):
    empty = tmp_path / "3dshapes.h5"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=f"{empty} is empty"):
        fd.shapes3d(str(empty))
    text = tmp_path / "not.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match=f"{text} is not an HDF5 file"):
        fd.shapes3d(str(text))
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["imgs"], f["labels"] = np.zeros((2, 4, 4, 3), np.uint8), np.zeros((2, 6))
    with pytest.raises(ValueError, match=r"must contain datasets 'images' and 'labels'.*imgs"):
        fd.FactorImageDataset(str(other), factor_sizes=SIZES)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ValueError, match=f"{bad} is not a readable .npz"):
        fd.FactorImageDataset(str(bad), factor_sizes=SIZES)
    short = tmp_path / "short.npz"
    np.savez(short, images=np.zeros((5, 4, 4, 3), np.uint8), labels=_grid(SIZES)[:5])
    with pytest.raises(ValueError, match="truncated"):
        fd.FactorImageDataset(str(short), factor_sizes=SIZES)


def test_float_images_0_255_are_rescaled_and_out_of_range_rejected(tmp_path):
    classes = _grid(SIZES)
    x = np.full((len(classes), 4, 4, 3), 200.0, np.float32)
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["images"], f["labels"] = x, classes
    ds = fd.FactorImageDataset(str(path), factor_sizes=SIZES, in_memory=True, batch_size=4)
    np.testing.assert_allclose(ds.images(np.arange(3)), 200.0 / 255.0, rtol=1e-6)
    assert ds.uint8_images().dtype == np.uint8 and int(ds.uint8_images().max()) == 200
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f["images"], f["labels"] = x * 2, classes
    with pytest.raises(ValueError, match=r"\[0, 1\] or \[0, 255\]"):
        fd.FactorImageDataset(str(tmp_path / "g.h5"), factor_sizes=SIZES, batch_size=4)


def test_device_source_batches_are_pure_and_match_host_rows():
    classes = _grid(SIZES).astype(np.int32)
    x = _coded_images(classes, size=4)
    src = dsrc.DeviceSource(x, classes, batch_size=8, seed=3)
    a, b = src.batch(5), src.batch(5)
    np.testing.assert_array_equal(np.asarray(a.x), np.asarray(b.x))
    assert not np.array_equal(np.asarray(src.batch(6).s), np.asarray(a.s))
    flat = np.ravel_multi_index(tuple(np.asarray(a.s).T), SIZES)
    np.testing.assert_allclose(np.asarray(a.x)[:, 0, 0, 0], (flat * 3 % 256) / 255.0, rtol=1e-6)
    assert a.x.sharding.spec == dsrc.PartitionSpec("data")  # split over the 4 test devices
    with pytest.raises(ValueError, match="multiple of the device count"):
        dsrc.DeviceSource(x, classes, batch_size=6)
    with pytest.raises(TypeError, match="uint8"):
        dsrc.DeviceSource(x.astype(np.float32), classes, batch_size=4)


def _prepare_tfds(data_dir, sizes):
    """A prepared array_record tfds dir (built in a throwaway package: tfds needs one)."""
    import sys
    import textwrap

    pkg = os.path.join(data_dir, "_pkg", "toy_tfds")
    os.makedirs(pkg)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write(
            textwrap.dedent(f"""
            import numpy as np
            import tensorflow_datasets as tfds

            class Shapes3dToy(tfds.core.GeneratorBasedBuilder):
                VERSION = tfds.core.Version("2.0.0")

                def _info(self):
                    feats = {{"image": tfds.features.Tensor(shape=(4, 4, 3), dtype=np.uint8)}}
                    for k, n in zip("ab", {sizes!r}):
                        feats["label_" + k] = tfds.features.ClassLabel(num_classes=n)
                    return self.dataset_info_from_configs(
                        features=tfds.features.FeaturesDict(feats))

                def _split_generators(self, dl_manager):
                    return {{"train": self._generate_examples()}}

                def _generate_examples(self):
                    n = int(np.prod({sizes!r}))
                    for i in range(n)[::-1]:  # stored out of grid order
                        a, b = np.unravel_index(i, {sizes!r})
                        img = np.full((4, 4, 3), 10 * i, np.uint8)
                        yield i, {{"image": img, "label_a": int(a), "label_b": int(b)}}
            """)
        )
    sys.path.insert(0, os.path.dirname(pkg))
    try:
        import toy_tfds

        toy_tfds.Shapes3dToy(data_dir=data_dir, file_format="array_record").download_and_prepare()
    finally:
        sys.path.remove(os.path.dirname(pkg))
        sys.modules.pop("toy_tfds", None)


def test_tfds_data_dir_read_without_network_or_tensorflow(tmp_path):
    pytest.importorskip("array_record")
    sizes = (2, 3)
    _prepare_tfds(str(tmp_path), sizes)
    ds = _tfds.tfds_dataset(
        "shapes3d_toy", data_dir=str(tmp_path), label_keys=("label_a", "label_b"), batch_size=2
    )
    np.testing.assert_array_equal(ds.factors, _grid(sizes))
    np.testing.assert_allclose(ds.images(np.arange(6))[:, 0, 0, 0], 10 * np.arange(6) / 255.0)
    (cache,) = tmp_path.glob("shapes3d_toy/*/qdjax_train_64.npz")  # cached once
    cache.write_bytes(b"PK\x03\x04garbage")  # e.g. a disk that filled up mid-copy
    with pytest.raises(ValueError, match=f"cache {cache} cannot be read.*delete it"):
        _tfds.tfds_dataset("shapes3d_toy", data_dir=str(tmp_path), label_keys=("label_a",))
    with pytest.raises(FileNotFoundError, match="not prepared"):
        _tfds.tfds_dataset("dsprites", data_dir=str(tmp_path))

"""Readers for the image disentanglement benchmarks, from the files their authors publish.

Every reader returns a :class:`FactorImageDataset` (rows in row-major factor order, images
served as float32 NHWC in `[0, 1]`, factors as int32 classes) and never downloads anything:
files are looked up under `$QDJAX_DATA_DIR` (default `~/qdjax_data`) unless a path is given,
and a missing file is one `FileNotFoundError` line naming the expected file, the directory
searched and where the file is published.

========== ============================================== ==================================
dataset    file (under `$QDJAX_DATA_DIR`)                 factors (sizes)
========== ============================================== ==================================
shapes3d   `3dshapes.h5`                                  floor/wall/object hue 10, scale 8,
                                                          shape 4, orientation 15
dsprites   `dsprites_ndarray_co1sh3sc6or40x32y32_64x64`   shape 3, scale 6, orientation 40,
           `.npz` (`imgs`, `latents_classes`)             x 32, y 32 (colour, 1 value, dropped)
mpi3d      `mpi3d_<toy|realistic|real>.npz` (`images`);   colour 6, shape 6, size 2, camera
           complex: `real3d_complicated_shapes_ordered`   height 3, background 3, horizontal
           `.npz` (colour 4, shape 4)                     axis 40, vertical axis 40
falcor3d   `Falcor3D_down128/images/%06d.png` +           lighting intensity 5, lighting
           `train-rec.labels` (128 px, resized to 64)     x/y/z 6, camera x/y/z 6
isaac3d    `Isaac3D_down128/images/%06d.png` +            object shape 3, robot x 8, robot y
           `labels.npy` (128 px, resized to 64)           5, camera height 4, object scale 4,
                                                          lighting intensity 4, lighting y 6,
                                                          object colour 4, wall colour 4
========== ============================================== ==================================

Falcor3D and Isaac3D are converted once (PNG decode, bicubic anti-aliased resize to 64x64 as
the QLAE code does, rows sorted into row-major factor order) into a cached
`<name>_64.npz` beside the release directory, with a progress bar.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from qdjax.data._factor_dataset import (
    SHAPES3D_FACTORS,
    SHAPES3D_SIZES,
    FactorImageDataset,
    data_dir,
)


class ImageDatasetSpec(NamedTuple):
    """Where a benchmark's file lives and what its factors are."""

    file: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    url: str


MPI3D_FACTORS = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
SPECS: dict[str, ImageDatasetSpec] = {
    "shapes3d": ImageDatasetSpec(
        "3dshapes.h5",
        SHAPES3D_FACTORS,
        SHAPES3D_SIZES,
        "https://storage.googleapis.com/3d-shapes/3dshapes.h5",
    ),
    "dsprites": ImageDatasetSpec(
        "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
        ("shape", "scale", "orientation", "pos_x", "pos_y"),
        (3, 6, 40, 32, 32),
        "https://github.com/google-deepmind/dsprites-dataset",
    ),
    **{
        f"mpi3d_{v}": ImageDatasetSpec(
            f"mpi3d_{v}.npz",
            MPI3D_FACTORS,
            (6, 6, 2, 3, 3, 40, 40),
            "https://github.com/rr-learning/disentanglement_dataset",
        )
        for v in ("toy", "realistic", "real")
    },
    "mpi3d_complex": ImageDatasetSpec(
        "real3d_complicated_shapes_ordered.npz",
        MPI3D_FACTORS,
        (4, 4, 2, 3, 3, 40, 40),
        "https://github.com/rr-learning/disentanglement_dataset",
    ),
    "falcor3d": ImageDatasetSpec(
        "Falcor3D_down128",
        (
            "lighting_intensity",
            "lighting_x",
            "lighting_y",
            "lighting_z",
            "camera_x",
            "camera_y",
            "camera_z",
        ),
        (5, 6, 6, 6, 6, 6, 6),
        "https://github.com/NVlabs/High-res-disentanglement-datasets",
    ),
    "isaac3d": ImageDatasetSpec(
        "Isaac3D_down128",
        (
            "object_shape",
            "robot_x",
            "robot_y",
            "camera_height",
            "object_scale",
            "lighting_intensity",
            "lighting_y",
            "object_color",
            "wall_color",
        ),
        (3, 8, 5, 4, 4, 4, 6, 4, 4),
        "https://github.com/NVlabs/High-res-disentanglement-datasets",
    ),
}
_RELEASE_LABELS = {"falcor3d": "train-rec.labels", "isaac3d": "labels.npy"}


def locate(name: str, path: str | None = None) -> str:
    """The path of dataset `name`'s file (`path`, or `$QDJAX_DATA_DIR/<file>`); one-line error."""
    if name not in SPECS:
        raise ValueError(f"unknown image dataset {name!r}; known: {', '.join(SPECS)}")
    spec = SPECS[name]
    path = path or os.path.join(data_dir(), spec.file)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{name}: {spec.file} not found at {path} (searched $QDJAX_DATA_DIR={data_dir()}); "
            f"download it from {spec.url} into that directory or pass its path"
        )
    return path


def _dataset(name: str, images, labels, path: str, **kwargs) -> FactorImageDataset:
    spec = SPECS[name]
    return FactorImageDataset.from_arrays(
        images,
        labels,
        factor_sizes=spec.factor_sizes,
        factor_names=spec.factor_names,
        name=path,
        **kwargs,
    )


def shapes3d_file(path: str | None = None, **kwargs) -> FactorImageDataset:
    """Shapes3D from `3dshapes.h5` (or a `.npz` with `images`, `labels`)."""
    spec = SPECS["shapes3d"]
    return FactorImageDataset(
        locate("shapes3d", path),
        factor_sizes=spec.factor_sizes,
        factor_names=spec.factor_names,
        **kwargs,
    )


def _load_npz(path: str, keys: Sequence[str]) -> list[np.ndarray]:
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path} is empty (0 bytes); download it again")
    try:
        with np.load(path) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise ValueError(f"{path} must contain arrays {missing}; found {sorted(f.files)}")
            return [f[k] for k in keys]
    except (OSError, EOFError, ValueError) as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path} is not a readable .npz file ({e}); download it again") from None


def dsprites(path: str | None = None, **kwargs) -> FactorImageDataset:
    """dSprites: binary 64x64 sprites (pixels 0/1), 5 factors (the 1-valued colour dropped)."""
    path = locate("dsprites", path)
    imgs, classes = _load_npz(path, ("imgs", "latents_classes"))
    if classes.ndim != 2 or classes.shape[1] != 6:
        raise ValueError(f"{path}: latents_classes must be [n, 6]; got shape {classes.shape}")
    return _dataset("dsprites", imgs, classes[:, 1:], path, pixel_scale=1.0, **kwargs)


def mpi3d(variant: str = "toy", path: str | None = None, **kwargs) -> FactorImageDataset:
    """MPI3D `toy`, `realistic`, `real` or `complex` from its `.npz` (rows in factor order)."""
    name = f"mpi3d_{variant}"
    if name not in SPECS:
        raise ValueError(
            f"MPI3D variant must be one of toy, realistic, real, complex; got {variant!r}"
        )
    path = locate(name, path)
    (images,) = _load_npz(path, ("images",))
    if images.ndim == 2:  # some releases store flattened 64*64*3 rows
        images = images.reshape(-1, 64, 64, 3)
    return _dataset(name, images, None, path, **kwargs)


def grid_order(classes: np.ndarray, factor_sizes: Sequence[int], *, where: str) -> np.ndarray:
    """The permutation putting rows with factor classes `[n, F]` into row-major grid order.

    Raises a one-line ValueError if the rows are not the full factorial grid, each
    combination exactly once.
    """
    sizes = tuple(int(k) for k in factor_sizes)
    n = int(np.prod(sizes))
    if classes.shape != (n, len(sizes)) or np.any(classes.max(axis=0) >= np.asarray(sizes)):
        raise ValueError(
            f"{where}: labels {classes.shape} do not form the {len(sizes)}-factor grid of sizes "
            f"{sizes} ({n} rows)"
        )
    flat = np.ravel_multi_index(tuple(classes.T), sizes)
    counts = np.bincount(flat, minlength=n)
    if np.any(counts != 1):
        raise ValueError(
            f"{where}: labels do not form the factorial grid of sizes {sizes}: "
            f"{int(np.sum(counts == 0))} combinations missing, {int(np.sum(counts > 1))} repeated"
        )
    return np.argsort(flat)


def _classes(labels: np.ndarray) -> np.ndarray:
    return np.stack(
        [np.unique(labels[:, i], return_inverse=True)[1] for i in range(labels.shape[1])], axis=1
    ).astype(np.int32)


def convert_release(name: str, release_dir: str, cache: str, *, size: int = 64) -> str:
    """Converts a Falcor3D / Isaac3D release directory into `cache` (`images`, `labels`)."""
    from PIL import Image
    from tqdm.auto import tqdm

    spec = SPECS[name]
    labels_path = os.path.join(release_dir, _RELEASE_LABELS[name])
    if not os.path.exists(labels_path):
        raise FileNotFoundError(
            f"{name}: {labels_path} not found; the release directory must hold "
            f"{_RELEASE_LABELS[name]} and images/%06d.png ({spec.url})"
        )
    with open(labels_path, "rb") as f:
        labels = np.load(f, allow_pickle=False)
    if labels.ndim != 2 or labels.shape[1] != len(spec.factor_sizes):
        raise ValueError(
            f"{labels_path}: labels must be [n, {len(spec.factor_sizes)}]; got {labels.shape}"
        )
    classes = _classes(labels)
    order = grid_order(classes, spec.factor_sizes, where=labels_path)
    images = np.empty((len(order), size, size, 3), np.uint8)
    for row, i in enumerate(tqdm(order, desc=f"converting {name}", unit="img", mininterval=2)):
        png = os.path.join(release_dir, "images", f"{i:06d}.png")
        if not os.path.exists(png):
            raise FileNotFoundError(f"{name}: image {png} is missing; the release is incomplete")
        with Image.open(png) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            images[row] = np.asarray(im)
    tmp = cache + ".tmp.npz"
    np.savez(tmp, images=images, labels=classes[order])
    os.replace(tmp, cache)
    return cache


def _release(name: str, path: str | None, **kwargs) -> FactorImageDataset:
    release_dir = locate(name, path)
    if not os.path.isdir(release_dir):
        raise ValueError(f"{name}: {release_dir} must be the release directory {SPECS[name].file}")
    cache = os.path.join(os.path.dirname(os.path.abspath(release_dir)), f"{name}_64.npz")
    if not os.path.exists(cache):
        convert_release(name, release_dir, cache)
    images, labels = _load_npz(cache, ("images", "labels"))
    return _dataset(name, images, labels, cache, **kwargs)


def falcor3d(path: str | None = None, **kwargs) -> FactorImageDataset:
    """Falcor3D from its release directory `Falcor3D_down128` (cached as `falcor3d_64.npz`)."""
    return _release("falcor3d", path, **kwargs)


def isaac3d(path: str | None = None, **kwargs) -> FactorImageDataset:
    """Isaac3D from its release directory `Isaac3D_down128` (cached as `isaac3d_64.npz`)."""
    return _release("isaac3d", path, **kwargs)


def load_image_dataset(name: str, path: str | None = None, **kwargs) -> FactorImageDataset:
    """Any benchmark of :data:`SPECS` by name (`mpi3d_toy`, `falcor3d`, ...)."""
    if name == "shapes3d":
        return shapes3d_file(path, **kwargs)
    if name == "dsprites":
        return dsprites(path, **kwargs)
    if name.startswith("mpi3d_"):
        return mpi3d(name.removeprefix("mpi3d_"), path, **kwargs)
    if name in ("falcor3d", "isaac3d"):
        return _release(name, path, **kwargs)
    raise ValueError(f"unknown image dataset {name!r}; known: {', '.join(SPECS)}")

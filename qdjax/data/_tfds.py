"""Prepared tensorflow-datasets directories, read without TensorFlow and without a network.

`tfds_dataset("shapes3d", data_dir=...)` opens `<data_dir>/shapes3d/<version>/` with
`tfds.builder_from_directory(...).as_data_source(split)` (array_record files, random access,
no TensorFlow), reads every row once with a progress bar, sorts the rows into row-major
factor order and caches the result as `qdjax_<split>_<size>.npz` in that version directory.
Nothing is ever downloaded: a data dir without the prepared dataset fails at once with one
line (tfds itself would retry the network for minutes when offline). Prepare the data where
a network is available, with `tfds build shapes3d` / `tfds build dsprites` or the MPI3D,
Falcor3D and Isaac3D builders of the QLAE code, and with `file_format="array_record"`.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence

import numpy as np

from qdjax.data._factor_dataset import FactorImageDataset
from qdjax.data._images import SPECS, _classes, grid_order

# Label features of the tfds builders (tfds' shapes3d, dsprites; the QLAE code's mpi3d,
# falcor3d, isaac3d), in the factor order of qdjax.data._images.SPECS.
LABEL_KEYS: dict[str, tuple[str, ...]] = {
    "shapes3d": tuple(
        f"label_{n}"
        for n in ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    ),
    "dsprites": tuple(
        f"label_{n}" for n in ("shape", "scale", "orientation", "x_position", "y_position")
    ),
    "mpi3d": (
        "object_color",
        "object_shape",
        "object_size",
        "camera_height",
        "background_color",
        "horizontal_axis",
        "vertical_axis",
    ),
    "falcor3d": ("label",),
    "isaac3d": ("label",),
}
_SPEC_OF = {"mpi3d": "mpi3d_toy"}


def _version_dir(name: str, data_dir: str) -> str:
    root = os.path.join(data_dir, name)
    found = []
    for dirpath, _, files in os.walk(root) if os.path.isdir(root) else ():
        if "dataset_info.json" in files:
            found.append(dirpath)
    if not found:
        raise FileNotFoundError(
            f"tfds dataset {name!r} is not prepared in {data_dir} (no {root}/<version>/"
            f"dataset_info.json); prepare it with `tfds build {name}` (array_record) where a "
            "network is available, or use another --config.data.source"
        )

    def version(path):
        return tuple(int(p) if p.isdigit() else 0 for p in os.path.basename(path).split("."))

    return max(found, key=version)


def tfds_dataset(
    name: str,
    *,
    data_dir: str,
    split: str = "train",
    label_keys: Sequence[str] | None = None,
    factor_sizes: Sequence[int] | None = None,
    factor_names: Sequence[str] | None = None,
    image_size: int = 64,
    **kwargs,
) -> FactorImageDataset:
    """A prepared tfds dataset as a :class:`FactorImageDataset` (see the module docstring).

    Args:
      name: the builder name (`shapes3d`, `dsprites`, `mpi3d`, `falcor3d`, `isaac3d`, ...).
      data_dir: the tfds data directory holding `<name>/<version>/`.
      split: split to read.
      label_keys: label features in factor order (default: :data:`LABEL_KEYS`); a vector
        feature contributes one factor per entry.
      factor_sizes, factor_names: default: the benchmark's (``qdjax.data._images.SPECS``),
        else the number of distinct values of each label.
      image_size: images are resized (bicubic) to this size if they differ.
      **kwargs: `batch_size`, `seed` of :class:`FactorImageDataset`.
    """
    vdir = _version_dir(name, data_dir)
    cache = os.path.join(vdir, f"qdjax_{split}_{image_size}.npz")
    if not os.path.exists(cache):
        _convert(name, vdir, split, label_keys, image_size, cache)
    try:
        with np.load(cache) as f:
            images, classes = f["images"], f["labels"]
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise ValueError(
            f"the converted cache {cache} cannot be read ({type(e).__name__}: {e}); delete it "
            "and run again to convert the tfds data afresh"
        ) from None
    if images.dtype == np.uint8 and int(images.max(initial=0)) <= 1:
        kwargs.setdefault("pixel_scale", 1.0)  # binary images (tfds dsprites) stored as 0/1
    spec = SPECS.get(_SPEC_OF.get(name, name))
    if factor_sizes is None:
        sizes = tuple(int(c) + 1 for c in classes.max(axis=0))
        factor_sizes = spec.factor_sizes if spec and spec.factor_sizes == sizes else sizes
    if factor_names is None and spec is not None and len(spec.factor_names) == len(factor_sizes):
        factor_names = spec.factor_names
    return FactorImageDataset.from_arrays(
        images,
        classes,
        factor_sizes=factor_sizes,
        factor_names=factor_names,
        name=f"tfds:{vdir}",
        **kwargs,
    )


def _convert(name, vdir, split, label_keys, image_size, cache) -> None:
    import tensorflow_datasets as tfds
    from tqdm.auto import tqdm

    with open(os.path.join(vdir, "dataset_info.json")) as f:
        splits = [s.get("name") for s in json.load(f).get("splits", [])]
    if split not in splits:
        raise ValueError(f"tfds dataset {name!r} in {vdir} has splits {splits}; got {split!r}")
    source = tfds.builder_from_directory(vdir).as_data_source(split)
    keys = tuple(label_keys or LABEL_KEYS.get(name, ("label",)))
    n = len(source)
    images = None
    labels = []
    for i in tqdm(range(n), desc=f"reading tfds {name}", unit="img", mininterval=2):
        row = source[i]
        missing = [k for k in ("image", *keys) if k not in row]
        if missing:
            raise ValueError(
                f"tfds dataset {name!r} rows lack features {missing}; have {sorted(row)} "
                "(pass label_keys=)"
            )
        img = _resize(np.asarray(row["image"]), image_size)
        if images is None:
            images = np.empty((n, *img.shape), np.uint8)
        images[i] = img
        labels.append(np.concatenate([np.ravel(row[k]) for k in keys]).astype(np.float64))
    classes = _classes(np.stack(labels))
    sizes = tuple(int(c) + 1 for c in classes.max(axis=0))
    order = grid_order(classes, sizes, where=f"tfds {name} ({vdir})")
    tmp = cache + ".tmp.npz"
    np.savez(tmp, images=images[order], labels=classes[order])
    os.replace(tmp, cache)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.dtype != np.uint8:
        raise ValueError(f"tfds images must be uint8; got {img.dtype}")
    if img.shape[0] == size and img.shape[1] == size:
        return img
    from PIL import Image

    im = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
    out = np.asarray(im.resize((size, size), Image.Resampling.BICUBIC))
    return out[..., None] if img.shape[-1] == 1 else out

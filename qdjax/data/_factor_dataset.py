"""Image datasets with a full factorial grid of discrete factors, read from local files.

Shapes3D (Burgess & Kim, 2018) is the reference case: `3dshapes.h5` holds
`images: [480000, 64, 64, 3] uint8` and `labels: [480000, 6] float64`, ordered so
that the image of factor classes `(c_1, ..., c_F)` is at row
`ravel_multi_index(c, factor_sizes)`. Nothing is downloaded: put the file under
`$QDJAX_DATA_DIR` (default `~/qdjax_data`) or pass `path=`. `.npz` files with the same
two arrays work too.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence

import numpy as np

from qdjax._src.typing import Batch

SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
SHAPES3D_SIZES = (10, 10, 10, 8, 4, 15)


def data_dir() -> str:
    """`$QDJAX_DATA_DIR`, default `~/qdjax_data`."""
    return os.path.expanduser(os.environ.get("QDJAX_DATA_DIR", "~/qdjax_data"))


class FactorImageDataset:
    """A factorial image dataset in an `.h5` or `.npz` file, streamed in seeded batches.

    Images are returned NHWC float32 in `[0, 1]`; factors as int32 class indices
    (each label column's sorted unique values are the classes).

    Args:
      path: `.h5` or `.npz` file with `images_key` and `labels_key` arrays.
      factor_sizes: number of classes of each factor, in the file's row-major order.
      batch_size: rows per training batch.
      seed: sampling seed; `batch(step)` is a pure function of `(seed, step)`.
      in_memory: load all images into RAM (fast random access) instead of reading
        each batch from the h5 file.
      factor_names: optional names (documentation and plots).
      pixel_scale: multiplies stored pixel values into `[0, 1]`; None: 1/255 for uint8 and
        for float images stored as 0..255, 1 for float images in `[0, 1]`.
    """

    def __init__(
        self,
        path: str,
        *,
        factor_sizes: Sequence[int],
        batch_size: int = 64,
        seed: int = 0,
        in_memory: bool = False,
        images_key: str = "images",
        labels_key: str = "labels",
        factor_names: Sequence[str] | None = None,
        pixel_scale: float | None = None,
    ):
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"dataset file not found: {path}; place it there (see BUILD.md, Datasets) "
                "or pass path= / set QDJAX_DATA_DIR"
            )
        if os.path.getsize(path) == 0:
            raise ValueError(f"{path} is empty (0 bytes); download or convert it again")
        self.path = path
        self._h5 = None
        if path.endswith(".npz"):
            try:
                with np.load(path) as f:
                    missing = [k for k in (images_key, labels_key) if k and k not in f.files]
                    if missing:
                        raise ValueError(
                            f"{path} must contain arrays {missing}; found {sorted(f.files)}"
                        )
                    images = f[images_key]
                    labels = f[labels_key] if labels_key else None
            except (zipfile.BadZipFile, EOFError, OSError) as e:
                raise ValueError(
                    f"{path} is not a readable .npz file ({e}); download or convert it again"
                ) from None
        else:
            import h5py

            if not h5py.is_hdf5(path):
                raise ValueError(
                    f"{path} is not an HDF5 file (truncated or wrong format); download it again"
                )
            try:
                self._h5 = h5py.File(path, "r")
            except OSError as e:
                raise ValueError(
                    f"{path} cannot be opened as HDF5 ({e}); download or convert it again"
                ) from None
            if images_key not in self._h5 or labels_key not in self._h5:
                found = sorted(self._h5.keys())
                self._h5.close()
                self._h5 = None
                raise ValueError(
                    f"{path} must contain datasets {images_key!r} and {labels_key!r}; "
                    f"found {found}: pass images_key= / labels_key= naming them"
                )
            labels = self._h5[labels_key][()]
            images = self._h5[images_key][()] if in_memory else self._h5[images_key]
        self._setup(images, labels, factor_sizes, factor_names, batch_size, seed, pixel_scale)

    @classmethod
    def from_arrays(
        cls,
        images,
        labels=None,
        *,
        factor_sizes: Sequence[int],
        name: str = "arrays",
        batch_size: int = 64,
        seed: int = 0,
        factor_names: Sequence[str] | None = None,
        pixel_scale: float | None = None,
    ) -> FactorImageDataset:
        """A dataset over in-memory `images [n, H, W(, C)]` in row-major factor order.

        `labels [n, F]` (values or classes) are checked against the grid; None means the rows
        are the grid in row-major order (MPI3D's `.npz` has no labels).
        """
        self = cls.__new__(cls)
        self.path = name
        self._h5 = None
        self._setup(images, labels, factor_sizes, factor_names, batch_size, seed, pixel_scale)
        return self

    def _setup(self, images, labels, factor_sizes, factor_names, batch_size, seed, pixel_scale):
        path = self.path
        self.factor_sizes = tuple(int(k) for k in factor_sizes)
        self.factor_names = (
            tuple(factor_names)
            if factor_names
            else tuple(f"factor_{i}" for i in range(len(self.factor_sizes)))
        )
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self._images = images
        n = int(np.prod(self.factor_sizes))
        if labels is None:
            labels = np.stack(np.unravel_index(np.arange(images.shape[0]), self.factor_sizes), 1)
        labels = np.asarray(labels)
        if images.shape[0] != n or labels.shape != (n, len(self.factor_sizes)):
            raise ValueError(
                f"{path}: expected {n} images and labels of shape ({n}, {len(self.factor_sizes)}) "
                f"for factor sizes {self.factor_sizes}; got images {images.shape} and "
                f"labels {labels.shape} (truncated file or wrong dataset?)"
            )
        if images.ndim not in (3, 4):
            raise ValueError(
                f"{path}: images must be [n, H, W] or [n, H, W, C]; got {images.shape}"
            )
        if not 1 <= self.batch_size <= n:
            raise ValueError(f"batch_size must be between 1 and {n}; got {batch_size}")
        self.pixel_scale = _pixel_scale(path, images, pixel_scale)
        classes = np.stack(
            [np.unique(labels[:, i], return_inverse=True)[1] for i in range(labels.shape[1])],
            axis=1,
        )
        self.factors = classes.astype(np.int32)
        expected = np.stack(np.unravel_index(np.arange(n), self.factor_sizes), axis=1)
        if not np.array_equal(self.factors, expected):
            raise ValueError(
                f"{path}: rows are not in row-major factor order for sizes "
                f"{self.factor_sizes}; cannot index images by factors"
            )

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes))

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def images(self, index: np.ndarray) -> np.ndarray:
        """Images at row `index` as float32 NHWC in `[0, 1]`."""
        index = np.asarray(index)
        if isinstance(self._images, np.ndarray):
            raw = self._images[index]
        else:  # h5py needs increasing indices without duplicates
            uniq, inverse = np.unique(index, return_inverse=True)
            raw = self._images[uniq][inverse]
        out = raw.astype(np.float32)
        if self.pixel_scale != 1.0:
            out *= np.float32(self.pixel_scale)
        if raw.dtype.kind == "f":  # the scale was inferred from a sample of rows: hold it here
            ok = np.isfinite(out).all(axis=tuple(range(1, out.ndim)))
            ok &= (out >= 0).all(axis=tuple(range(1, out.ndim)))
            ok &= (out <= 1 + 1e-6).all(axis=tuple(range(1, out.ndim)))
            if not ok.all():
                bad = np.asarray(index).reshape(-1)[~ok]
                raise ValueError(
                    f"images at rows {bad[:5].tolist()} are NaN or outside [0, 1] after the pixel "
                    f"scale {self.pixel_scale:g} (other rows fit it); fix the file or pass "
                    "pixel_scale="
                )
        return out if out.ndim == 4 else out[..., None]

    def uint8_images(self) -> np.ndarray:
        """All images as uint8 `[n, H, W, C]` in 0..255 (for a device-resident copy)."""
        raw = self._images[()] if not isinstance(self._images, np.ndarray) else self._images
        if raw.dtype == np.uint8 and self.pixel_scale == 1.0 / 255.0:
            out = raw
        else:
            out = np.round(np.clip(raw * (255.0 * self.pixel_scale), 0, 255)).astype(np.uint8)
        return out if out.ndim == 4 else out[..., None]

    def batch(self, step: int) -> Batch:
        """Uniformly sampled rows for `step` (with replacement across steps)."""
        idx = np.random.default_rng([self.seed, int(step)]).integers(0, len(self), self.batch_size)
        return Batch(x=self.images(idx), s=self.factors[idx])

    # FactorVAE-score sampler protocol (qdjax.train.evaluate)
    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, k, n) for k in self.factor_sizes], axis=1).astype(np.int32)

    def sample_observations(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        del rng  # one image per factor combination
        return self.images(np.ravel_multi_index(tuple(np.asarray(factors).T), self.factor_sizes))

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None


def _pixel_scale(path: str, images, pixel_scale: float | None) -> float:
    """The factor mapping stored pixels into [0, 1]; rejects float images outside 0..255."""
    if pixel_scale is not None:
        if not (pixel_scale > 0 and np.isfinite(pixel_scale)):
            raise ValueError(f"pixel_scale must be finite and > 0; got {pixel_scale}")
        return float(pixel_scale)
    if images.dtype == np.uint8:
        return 1.0 / 255.0
    if images.dtype == np.bool_:
        return 1.0
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{path}: images must be uint8 or float; got {images.dtype}")
    # rows spread over the whole file (increasing, as h5py needs), not only its first rows
    rows = np.unique(np.linspace(0, images.shape[0] - 1, min(256, images.shape[0])).astype(int))
    probe = np.asarray(images[rows], np.float64)
    lo, hi = float(probe.min()), float(probe.max())
    if lo < 0 or hi > 255 or not np.isfinite(probe).all():
        raise ValueError(
            f"{path}: float images must lie in [0, 1] or [0, 255]; found values in [{lo}, {hi}]"
        )
    return 1.0 / 255.0 if hi > 1.0 else 1.0


def shapes3d(path: str | None = None, **kwargs) -> FactorImageDataset:
    """Shapes3D from `path` (default `$QDJAX_DATA_DIR/3dshapes.h5`)."""
    path = path or os.path.join(data_dir(), "3dshapes.h5")
    return FactorImageDataset(
        path, factor_sizes=SHAPES3D_SIZES, factor_names=SHAPES3D_FACTORS, **kwargs
    )

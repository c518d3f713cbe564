"""Batch sources that live on the device: no host-to-device image copy per step.

:class:`DeviceSource` holds a whole dataset on the accelerator as `uint8` (Shapes3D's
480 000 images are 5.9 GB) and gathers each batch there; :class:`ProceduralSource` draws
factor combinations and renders them on the device (:class:`Shapes3DRenderer`). In both,
the rows of step `t` come from `jax.random.fold_in(jax.random.key(seed), t)`, a pure
function of `(seed, step)`, so a resumed run sees exactly the batches of an uninterrupted
one. The only per-step host-to-device traffic is the step number.

`batch(step)` returns `jax.Array`s already laid out along the data-parallel mesh axis
(`NamedSharding(mesh, P("data"))`), which the training loop passes to the step as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from qdjax._src.typing import Batch

DATA_AXIS = "data"


def _mesh(mesh: Mesh | None) -> Mesh:
    if mesh is not None:
        return mesh
    devices = np.asarray(jax.devices())
    return Mesh(devices, (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


def _check_batch_size(batch_size: int, mesh: Mesh, n: int | None = None) -> int:
    size = mesh.devices.size
    if batch_size < 1 or batch_size % size:
        raise ValueError(
            f"batch_size must be a positive multiple of the device count ({size}); got {batch_size}"
        )
    if n is not None and batch_size > n:
        raise ValueError(f"batch_size must be at most the dataset size {n}; got {batch_size}")
    return int(batch_size)


def step_key(seed: int, step) -> jax.Array:
    """The key of training step `step`: `fold_in(key(seed), step)` (on the device)."""
    return jax.random.fold_in(jax.random.key(seed), step)


def sample_factor_classes(key: jax.Array, n: int, factor_sizes: Sequence[int]) -> jax.Array:
    """`[n, F]` int32 classes, column `i` uniform on `range(factor_sizes[i])`."""
    sizes = jnp.asarray(factor_sizes, jnp.int32)[None, :]
    u = jax.random.uniform(key, (n, len(factor_sizes)))
    return jnp.minimum((u * sizes).astype(jnp.int32), sizes - 1)


class DeviceSource:
    """A dataset held on the device as uint8; batches are gathered there.

    Args:
      images: `[n, H, W, C]` uint8 (or `[n, H, W]`, given a channel axis).
      factors: `[n, F]` int32 factor classes of each row.
      batch_size: rows per batch (a multiple of the mesh size).
      seed: the batch of step `t` holds rows `randint(fold_in(key(seed), t), ...)`.
      mesh: the data-parallel mesh (default: all devices, axis "data"); the images are
        replicated over it and each batch is sharded along its leading axis.
    """

    def __init__(self, images, factors, *, batch_size: int, seed: int = 0, mesh=None):
        images = np.asarray(images) if not isinstance(images, jax.Array) else images
        if images.dtype != np.uint8:
            raise TypeError(f"DeviceSource holds uint8 images; got {images.dtype} (convert once)")
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4:
            raise ValueError(f"images must be [n, H, W, C]; got shape {images.shape}")
        factors = np.asarray(factors, np.int32)
        if factors.ndim != 2 or factors.shape[0] != images.shape[0]:
            raise ValueError(
                f"factors must be [n, F] with n = {images.shape[0]}; got shape {factors.shape}"
            )
        self.mesh = _mesh(mesh)
        self.num_examples = int(images.shape[0])
        self.batch_size = _check_batch_size(batch_size, self.mesh, self.num_examples)
        self.seed = int(seed)
        rep = NamedSharding(self.mesh, PartitionSpec())
        self.images = jax.device_put(images, rep)
        self.factors = jax.device_put(factors, rep)
        out = NamedSharding(self.mesh, PartitionSpec(DATA_AXIS))
        n, b = self.num_examples, self.batch_size

        def gather(images, factors, step):
            idx = jax.random.randint(step_key(self.seed, step), (b,), 0, n)
            x = images[idx].astype(jnp.float32) / 255.0
            return Batch(x=x, s=factors[idx])

        self._gather = jax.jit(gather, out_shardings=Batch(out, out))

    def __len__(self) -> int:
        return self.num_examples

    def batch(self, step: int) -> Batch:
        """The batch of `step` as device arrays, `x` float32 in `[0, 1]`, `s` int32."""
        if step < 0:
            raise ValueError(f"step must be >= 0; got {step}")
        return self._gather(self.images, self.factors, np.int32(step))


class ProceduralSource:
    """Factor combinations drawn uniformly and rendered on the device every step.

    Args:
      renderer: has `factor_sizes`, `factor_names`, device arrays `tables` and a jit-able
        `render_from(tables, factors)` returning `[n, H, W, C]` float32 images in `[0, 1]`
        (e.g. :class:`Shapes3DRenderer`); the tables enter the jitted draw as arguments.
      batch_size: rows per batch (a multiple of the mesh size).
      seed: the factors of step `t` come from `fold_in(key(seed), t)`.
      mesh: the data-parallel mesh (default: all devices, axis "data").
    """

    def __init__(self, renderer, *, batch_size: int, seed: int = 0, mesh=None):
        self.renderer = renderer
        self.factor_sizes = tuple(renderer.factor_sizes)
        self.factor_names = tuple(renderer.factor_names)
        self.mesh = _mesh(mesh)
        self.batch_size = _check_batch_size(batch_size, self.mesh)
        self.seed = int(seed)
        out = NamedSharding(self.mesh, PartitionSpec(DATA_AXIS))
        b = self.batch_size

        self._tables = jax.device_put(renderer.tables, NamedSharding(self.mesh, PartitionSpec()))

        def draw(tables, step):
            s = sample_factor_classes(step_key(self.seed, step), b, self.factor_sizes)
            return Batch(x=renderer.render_from(tables, s), s=s)

        self._draw = jax.jit(draw, out_shardings=Batch(out, out))
        self._render = jax.jit(renderer.render_from)

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes))

    def batch(self, step: int) -> Batch:
        """The batch of `step` as device arrays, `x` float32 in `[0, 1]`, `s` int32."""
        if step < 0:
            raise ValueError(f"step must be >= 0; got {step}")
        return self._draw(self._tables, np.int32(step))

    def images(self, factors, *, chunk: int = 512) -> np.ndarray:
        """Host images of factor classes `[n, F]`, rendered in chunks of `chunk`."""
        f = np.asarray(factors, np.int32)
        out = []
        for start in range(0, f.shape[0], chunk):
            part = f[start : start + chunk]
            pad = chunk - part.shape[0]
            padded = np.concatenate([part, np.repeat(part[-1:], pad, 0)]) if pad else part
            out.append(np.asarray(self._render(self._tables, padded))[: part.shape[0]])
        return np.concatenate(out)

    # FactorVAE-score sampler protocol (qdjax.train.evaluate)
    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, k, n) for k in self.factor_sizes], axis=1).astype(np.int32)

    def sample_observations(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        del rng  # rendering is deterministic
        return self.images(factors)

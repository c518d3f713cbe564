"""Shared type aliases and the structures that cross `jax.jit` boundaries."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
PyTree = Any


class Batch(NamedTuple):
    """One batch of observations with their ground-truth factors.

    Attributes:
      x: observations, `[batch, ...]` float32 (vectors `[batch, dim]` or NHWC
        images `[batch, height, width, channels]` in `[0, 1]`).
      s: ground-truth factors, `[batch, num_factors]`: float32 for continuous
        factors (synthetic latents), int32 class indices for discrete ones.
    """

    x: Any
    s: Any


def check_batch(batch: Batch, *, name: str = "batch") -> None:
    """Raises a one-line `ValueError` if a host batch is malformed.

    Checks that `x` is floating point and finite and that `x` and `s` agree on
    the batch dimension. Runs on host NumPy arrays before they go to devices.
    """
    x = np.asarray(batch.x)
    s = np.asarray(batch.s)
    if x.ndim < 2:
        raise ValueError(f"{name}.x must be [batch, ...] with ndim >= 2; got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            f"{name}.x must be floating point (cast with .astype(np.float32)); got {x.dtype}"
        )
    if s.ndim != 2 or s.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name}.s must be [batch, num_factors] with batch {x.shape[0]}; got shape {s.shape}"
        )
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise ValueError(f"{name}.x contains {bad} non-finite values (NaN/Inf); clean the dataset")

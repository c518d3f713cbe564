"""Batch sources whose order is a pure function of `(seed, step)`.

The training loop asks a source for `batch(step)`; because the answer depends on
nothing but the seed and the step, a run that is killed and resumed from a
checkpoint at step `k` sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from qdjax._src.typing import Batch


class BatchSource(Protocol):
    """What the training loop needs from a dataset."""

    batch_size: int

    def batch(self, step: int) -> Batch:
        """The batch for training step `step` (a pure function of the source's seed and `step`)."""
        ...


class ArraySource:
    """Epoch-shuffled minibatches over in-memory arrays.

    Each epoch visits every example at most once in an order drawn from
    `np.random.default_rng([seed, epoch])`; the last incomplete batch of an epoch
    is dropped so every batch has `batch_size` rows.

    Args:
      x: observations `[n, ...]` (cast to float32).
      s: factors `[n, num_factors]`.
      batch_size: rows per batch; must be in `[1, n]`.
      seed: shuffling seed.
    """

    def __init__(self, x: np.ndarray, s: np.ndarray, *, batch_size: int, seed: int = 0):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(
                f"x must be floating point; got {x.dtype} (uint8 images: x / 255; other "
                "integers: x.astype(np.float32))"
            )
        x = x.astype(np.float32, copy=False)
        s = np.asarray(s)
        if s.ndim == 1:
            s = s[:, None]
        if x.shape[0] != s.shape[0]:
            raise ValueError(f"x has {x.shape[0]} rows but s has {s.shape[0]}; they must match")
        if not 1 <= batch_size <= x.shape[0]:
            raise ValueError(
                f"batch_size must be between 1 and the dataset size {x.shape[0]}; got {batch_size}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN/Inf values; clean the dataset before training")
        self.x, self.s = x, s
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.steps_per_epoch = x.shape[0] // self.batch_size
        self._perm_cache: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._perm_cache is None or self._perm_cache[0] != epoch:
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.x.shape[0])
            self._perm_cache = (epoch, perm)
        return self._perm_cache[1]

    def indices(self, step: int) -> np.ndarray:
        """Row indices of the batch for `step`."""
        if step < 0:
            raise ValueError(f"step must be >= 0; got {step}")
        epoch, pos = divmod(int(step), self.steps_per_epoch)
        start = pos * self.batch_size
        return self._permutation(epoch)[start : start + self.batch_size]

    def batch(self, step: int) -> Batch:
        idx = self.indices(step)
        return Batch(x=self.x[idx], s=self.s[idx])

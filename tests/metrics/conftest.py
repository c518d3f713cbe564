"""Shared toy data for the metric tests: small n so the whole directory runs in seconds."""

import numpy as np
import pytest

FACTOR_SIZES = (3, 4, 5)


def make_factors(n: int = 1500, sizes=FACTOR_SIZES, seed: int = 0) -> np.ndarray:
    """Uniform integer factors `[n, len(sizes)]` with `sizes[k]` classes each."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in sizes], axis=1)


@pytest.fixture
def factors() -> np.ndarray:
    return make_factors()

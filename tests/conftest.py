"""Test configuration: 4 virtual CPU devices (sharding tests), strict rank promotion."""

import os

os.environ.setdefault("XLA_FLAGS", "")
import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_platforms", "cpu")


@pytest.fixture
def getkey():
    """Returns a function producing fresh typed PRNG keys (deterministic per test)."""
    counter = iter(range(10**9))
    base = jax.random.key(0)
    return lambda: jax.random.fold_in(base, next(counter))

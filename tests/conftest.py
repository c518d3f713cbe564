"""Test configuration: 4 virtual CPU devices (sharding tests), strict rank promotion, and
one XLA compilation cache for the whole test session.

The cache: many tests compile the same step functions (the registry's methods, the test
configs the CLI and robustness tests run in subprocesses), so the first process of a
session (the xdist controller, or pytest alone) makes a temporary persistent-cache
directory, every worker and every subprocess inherits it through the environment, and the
first process removes it at the end. Measured on this project's 2-core CPU: 648 s -> 576 s
for `make test`. A cache directory the user set (`JAX_COMPILATION_CACHE_DIR`) is used and
kept as it is.
"""

import os
import shutil
import tempfile

_OWN_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _OWN_CACHE = tempfile.mkdtemp(prefix="qdjax-test-xla-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_CACHE
# cache compilations above 0.2 s (jax's default, 1 s, leaves out most of the test steps)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
os.environ.setdefault("XLA_FLAGS", "")
import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_platforms", "cpu")


def pytest_unconfigure(config):
    """The process that made the session's cache directory removes it."""
    if _OWN_CACHE is not None:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


@pytest.fixture
def getkey():
    """Returns a function producing fresh typed PRNG keys (deterministic per test)."""
    counter = iter(range(10**9))
    base = jax.random.key(0)
    return lambda: jax.random.fold_in(base, next(counter))

"""Verdict examples of the Jacobian-support checks for the shared contract test.

``additive_verdict()`` is cached so the contract test and ``test_jacobian.py`` share one
computation of the full entry point (its Type S step compiles once).
"""

import functools

import jax.numpy as jnp
import numpy as np

from qdjax import identifiability as qi

GROUPS = ((0, 1), (2, 3))


def additive_decoder(seed: int = 0, d_out: int = 6):
    """``x = [tanh(z_{0,1} A), tanh(z_{2,3} B)]``: disjoint supports, additive over groups."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, 2, d_out)).astype(np.float32)
    return lambda z: jnp.concatenate([jnp.tanh(z[:2] @ a), jnp.tanh(z[2:] @ b)])


def points(n: int = 12, d: int = 4, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


@functools.cache
def additive_verdict() -> qi.JacobianVerdict:
    return qi.jacobian_groups(additive_decoder(), points(), num_rotations=4, type_h_points=4)


def _planted_jacobian() -> np.ndarray:
    j = np.zeros((3, 8, 4), np.float32)
    j[:, :4, :2] = 1.0 + np.arange(8, dtype=np.float32).reshape(4, 2)
    j[:, 4:, 2:] = 2.0
    j[:, 3, 2] = 0.5  # output 3 shared by both groups: Type D fails, Type M holds
    return j


EXAMPLES = {
    "jacobian_groups": additive_verdict,
    "type_d": lambda: qi.type_d(_planted_jacobian(), GROUPS),
    "type_m": lambda: qi.type_m(_planted_jacobian(), GROUPS),
    "full_rank": lambda: qi.full_rank(_planted_jacobian()),
    "support_stability": lambda: qi.support_stability(_planted_jacobian()),
}

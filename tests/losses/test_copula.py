"""Soft ranks (qdjax.losses.soft_rank) and criteria evaluated on them (`rank:` criteria)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from experiments.synthetic import consistency
from qdjax import losses


def _exact(z):
    """Centred, unit-variance exact ranks: sqrt(12) ((rank + 1/2) / B - 1/2)."""
    b = z.shape[0]
    r = np.argsort(np.argsort(z, axis=0), axis=0)
    return np.sqrt(12.0) * ((r + 0.5) / b - 0.5)


def test_small_bandwidth_gives_exact_ranks():
    z = np.random.default_rng(0).standard_normal((300, 3))
    with jax.enable_x64(True):
        u = np.asarray(losses.soft_rank(jnp.asarray(z), bandwidth=1e-6))
    np.testing.assert_allclose(u, _exact(z), atol=1e-6)


def test_affine_invariant_and_monotone_warp_close_to_invariant():
    z = np.random.default_rng(1).standard_normal((400, 2))
    u = np.asarray(losses.soft_rank(jnp.asarray(z, jnp.float32)))
    # bandwidth relative to the batch std: a per-axis shift and positive scale change nothing
    affine = np.asarray(losses.soft_rank(jnp.asarray(3.0 * z - 2.0, jnp.float32)))
    np.testing.assert_allclose(affine, u, atol=1e-5)
    # a strong monotone warp moves soft ranks by less than the bandwidth's smoothing
    warped = np.asarray(losses.soft_rank(jnp.asarray(np.sinh(2 * z), jnp.float32), bandwidth=0.01))
    assert np.max(np.abs(warped - _exact(z))) < 0.1
    # and the column is ~ uniform on (-sqrt3, sqrt3): mean 0, variance ~1
    np.testing.assert_allclose(u.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(u.var(0), 1.0, atol=0.05)


def test_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        z = jax.random.normal(jax.random.key(0), (40, 2), dtype=jnp.float64)
        w = jax.random.normal(jax.random.key(1), (40, 2), dtype=jnp.float64)
        check_grads(
            lambda z: jnp.sum(w * losses.soft_rank(z, bandwidth=0.3)), (z,), order=1, atol=1e-5
        )


@pytest.mark.parametrize(
    "z, kwargs, match",
    [(np.zeros(5), {}, r"\[batch, dim\]"), (np.zeros((5, 2)), {"bandwidth": 0.0}, "bandwidth")],
)
def test_bad_input_one_line(z, kwargs, match):
    with pytest.raises(ValueError, match=match):
        losses.soft_rank(z, **kwargs)


def test_rank_criterion_blind_to_warps_and_sees_rotations():
    # A product of step densities (cliffs at 1 on both axes, 70/30 mass): on soft ranks the
    # marginals are flat whatever the warp, the joint keeps its axis-aligned rectangles, so the
    # Cliff loss is the same for the sample and its warp and higher for a rotation.
    rng = np.random.default_rng(0)
    z = np.where(
        rng.random((512, 2)) < 0.7, rng.uniform(0, 1, (512, 2)), rng.uniform(1, 2, (512, 2))
    )
    th = np.deg2rad(30.0)
    rot = z @ np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]).T
    crit = jax.jit(consistency.criterion("rank0.01:v1"))
    f = lambda a: float(crit(jnp.asarray(a, jnp.float32))["total"])  # noqa: E731
    truth, warp, rotated = f(z), f(np.exp(2 * z)), f(rot)
    assert rotated > truth + 0.05
    assert abs(warp - truth) < 0.3 * (rotated - truth)


def test_rank_prefix_parsing():
    assert callable(consistency.criterion("rank:cond"))
    assert consistency.criterion("rank:axis_alignment").needs_observations
    with pytest.raises(ValueError, match="rank"):
        consistency.criterion("ranks0.1x:v1")
    with pytest.raises(ValueError, match="prefix"):
        consistency.criterion("log:v1")

"""Seed-000 axis-alignment kernel: closed forms, chunk invariance, gradients, invariances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from qdjax.losses._axis_alignment import axis_alignment_loss, kde_score, observation_weights


def _numpy_score(z, sigma):
    # reference: direct NumPy evaluation of sum_j K_ij (z_j - z_i) / (sigma^2 sum_j K_ij)
    zt = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-6)
    diff = zt[None] - zt[:, None]
    k = np.exp(-np.sum(diff**2, -1) / (2 * sigma**2))
    return np.einsum("ij,ijd->id", k, diff) / (sigma**2 * k.sum(1, keepdims=True))


@pytest.mark.parametrize("chunk", [1, 7, 64], ids=["c1", "c7", "c64"])
def test_score_matches_numpy_and_chunking(chunk):
    z = np.random.default_rng(0).standard_normal((50, 3))
    got = jax.jit(lambda z: kde_score(z, sigma=0.5, chunk_size=chunk))(jnp.asarray(z))
    np.testing.assert_allclose(got, _numpy_score(z, 0.5), rtol=1e-4, atol=1e-5)


def test_axis_aligned_minimum_and_rotation_penalty():
    rng = np.random.default_rng(1)
    grid = rng.uniform(-1, 1, (400, 2))
    a = np.deg2rad(45)
    rot = grid @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    aligned = float(axis_alignment_loss(grid, sigma=0.3).sum())
    rotated = float(axis_alignment_loss(rot, sigma=0.3).sum())
    assert -1.0 <= aligned < rotated  # the square's edges are axis-aligned, the diamond's not


def test_bounds_permutation_and_alpha():
    z = jnp.asarray(np.random.default_rng(2).standard_normal((64, 3)))
    per = axis_alignment_loss(z, sigma=0.4)
    # ||v||_inf in [1/sqrt(d), 1] for unit v
    assert np.all(-per * 64 <= 1 + 1e-6) and np.all(-per * 64 >= 1 / np.sqrt(3) - 1e-6)
    perm = axis_alignment_loss(z[:, ::-1], sigma=0.4)
    np.testing.assert_allclose(per, perm, rtol=1e-5)
    alpha = observation_weights(z, sigma=0.4)
    np.testing.assert_allclose(float(alpha.sum()), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        axis_alignment_loss(z, jnp.ones(3), sigma=0.4)
    with pytest.raises(ValueError, match="sigma"):
        kde_score(z, sigma=0.0)


def test_finite_difference_gradients():
    with jax.enable_x64(True):
        z = jnp.asarray(np.random.default_rng(3).standard_normal((12, 2)) + np.arange(2))
        # smooth part: the score itself (||.||_inf is piecewise smooth)
        check_grads(lambda z: kde_score(z, sigma=0.7, chunk_size=5), (z,), order=1, eps=1e-5)
        g = jax.grad(lambda z: axis_alignment_loss(z, sigma=0.7).sum())(z)
        assert np.all(np.isfinite(g))


def test_rejects_integer_nonfinite_and_single_sample_latents_like_cliff():
    # Same checks (the same helper) as the Cliff losses. Before: integer codes gave
    # alpha = 1/B truncated to 0, i.e. a silent loss of 0; NaN gave a NaN loss; B = 1 gave -0.0.
    z = np.random.default_rng(4).integers(0, 5, (16, 2))
    with pytest.raises(TypeError, match="z must be floating point; got int"):
        axis_alignment_loss(z)
    zf = np.random.default_rng(4).normal(size=(16, 2)).astype(np.float32)
    zf[3, 1], zf[7, 0] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"NaN or Inf values in rows \[3, 7\]"):
        axis_alignment_loss(zf)
    with pytest.raises(ValueError, match="at least 2 samples"):
        axis_alignment_loss(np.ones((1, 2), np.float32))
    # as the Cliff losses: under jit the value cannot be checked and the loss is NaN
    assert np.all(np.isnan(np.asarray(jax.jit(axis_alignment_loss)(jnp.asarray(zf)))))
    # a float cast of the same integer codes is accepted (-1/B <= loss_i <= 0)
    per = axis_alignment_loss(z.astype(np.float32))
    assert np.all(np.asarray(per) < 0) and np.all(np.asarray(per) >= -1 / 16 - 1e-7)

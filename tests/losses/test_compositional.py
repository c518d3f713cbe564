"""Compositional contrast and the block-sparsity ratio: closed forms, invariances, grads."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from qdjax import losses

GROUPS = ((0, 2), (1,), (3, 4))


def _c_comp_reference(a: np.ndarray, groups) -> float:
    """Σ_n Σ_{k<l} ‖A[n, G_k]‖ ‖A[n, G_l]‖ by explicit loops (NumPy float64)."""
    total = 0.0
    for row in np.asarray(a, np.float64):
        norms = [np.linalg.norm(row[list(g)]) for g in groups]
        total += sum(x * y for x, y in itertools.combinations(norms, 2))
    return total


def test_linear_decoder_equals_closed_form():
    a = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)  # x = A z
    z = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    got = jax.jit(
        lambda z: losses.decoder_compositional_contrast(lambda v: jnp.asarray(a) @ v, z, GROUPS)
    )(z)
    np.testing.assert_allclose(got, np.full(3, _c_comp_reference(a, GROUPS)), rtol=1e-5)


def test_block_disjoint_jacobian_is_zero_for_both_surrogates():
    j = np.zeros((2, 6, 5), np.float32)
    j[:, :2, [0, 2]] = 1.5
    j[:, 2:4, 1] = -2.0
    j[:, 4:, 3:] = 0.3
    assert np.allclose(losses.compositional_contrast(j, GROUPS), 0.0, atol=1e-5)
    assert np.allclose(losses.block_sparsity_ratio(j, GROUPS), 0.0, atol=1e-5)


def test_image_form_matches_flat_form_over_pixels_with_weights():
    rng = np.random.default_rng(2)
    j = rng.standard_normal((2, 3, 4, 2, 5)).astype(np.float32)  # [batch, H, W, C, d_z]
    w = rng.uniform(0.0, 2.0, (3, 4)).astype(np.float32)
    got = losses.compositional_contrast(j, GROUPS, weights=w)
    # Reference: per pixel, the norm runs over channels and the group's latents.
    ref = []
    for jb in j:
        total = 0.0
        for h, x in itertools.product(range(3), range(4)):
            norms = [np.linalg.norm(jb[h, x][:, list(g)]) for g in GROUPS]
            total += w[h, x] * sum(p * q for p, q in itertools.combinations(norms, 2))
        ref.append(total)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_ratio_is_scale_invariant_and_c_comp_scales_quadratically():
    j = np.random.default_rng(3).standard_normal((4, 6, 5)).astype(np.float32)
    r1 = losses.block_sparsity_ratio(j, GROUPS)
    np.testing.assert_allclose(losses.block_sparsity_ratio(7.0 * j, GROUPS), r1, rtol=1e-5)
    c1 = losses.compositional_contrast(j, GROUPS)
    np.testing.assert_allclose(losses.compositional_contrast(7.0 * j, GROUPS), 49 * c1, rtol=1e-5)
    assert np.all((r1 >= 0) & (r1 <= np.sqrt(3) - 1 + 1e-6))


def test_gradients_match_finite_differences():
    j = jnp.asarray(np.random.default_rng(4).standard_normal((2, 4, 5)), jnp.float32)
    for kernel in (losses.compositional_contrast, losses.block_sparsity_ratio):
        check_grads(
            lambda x, k=kernel: jnp.sum(k(x, GROUPS)), (j,), order=1, modes=["rev"], atol=2e-2
        )
    z = jnp.zeros((1, 4, 5), jnp.float32)  # all-zero blocks: gradient stays finite
    g = jax.grad(lambda x: jnp.sum(losses.compositional_contrast(x, GROUPS)))(z)
    assert np.all(np.isfinite(g))


def test_bad_input_one_clear_error():
    j = np.ones((2, 4, 5), np.float32)
    with pytest.raises(ValueError, match="partition the latents"):
        losses.compositional_contrast(j, ((0, 1), (1, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[batch, d_x, d_z\]"):
        losses.compositional_contrast(np.ones((4, 5), np.float32), GROUPS)
    with pytest.raises(ValueError, match="one entry per output"):
        losses.compositional_contrast(j, GROUPS, weights=np.ones(3))
    with pytest.raises(TypeError, match="floating"):
        losses.compositional_contrast(np.ones((2, 4, 5), np.int32), GROUPS)

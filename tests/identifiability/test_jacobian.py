"""Jacobian-support checks: planted structure, invariances, criteria, bad input."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from qdjax import identifiability as qi
from tests.identifiability.examples_jacobian import (
    GROUPS,
    additive_decoder,
    additive_verdict,
    points,
)


def _block_jacobian(sizes, d_out=3, n=5, seed=0):
    """Random block-diagonal Jacobians: group k (sizes[k] latents) drives its own d_out outputs."""
    rng = np.random.default_rng(seed)
    d_z = sum(sizes)
    j = np.zeros((n, d_out * len(sizes), d_z), np.float32)
    col = 0
    for k, s in enumerate(sizes):
        j[:, k * d_out : (k + 1) * d_out, col : col + s] = rng.uniform(0.5, 2.0, (n, d_out, s))
        col += s
    return j


def test_planted_block_diagonal_gives_planted_components():
    j = _block_jacobian((2, 1, 3))
    mask = qi.support_mask(j)
    assert qi.components(qi.support_graph(mask)) == ((0, 1), (2,), (3, 4, 5))
    perm = np.random.default_rng(1).permutation(6)  # new latent c is old latent perm[c]
    got = qi.components(qi.support_graph(qi.support_mask(j[..., perm])))
    assert {tuple(sorted(int(perm[i]) for i in g)) for g in got} == {(0, 1), (2,), (3, 4, 5)}


def test_rotation_mixing_two_groups_merges_them():
    j = _block_jacobian((2, 2, 2))
    c, s = np.cos(0.4), np.sin(0.4)
    r = np.eye(6, dtype=np.float32)
    r[[1, 1, 2, 2], [1, 2, 1, 2]] = [c, -s, s, c]  # mixes latent 1 (group 0) with 2 (group 1)
    got = qi.components(qi.support_graph(qi.support_mask(j @ r)))
    assert got == ((0, 1, 2, 3), (4, 5))


def test_rotated_decoder_is_one_group_and_not_identifiable():
    dec = additive_decoder()
    r = np.linalg.qr(np.random.default_rng(3).standard_normal((4, 4)))[0].astype(np.float32)
    j = qi.decoder_jacobians(lambda z: dec(r @ z), points())
    assert qi.components(qi.support_graph(qi.support_mask(j))) == ((0, 1, 2, 3),)


def test_entry_point_recovers_additive_groups_with_all_criteria():
    v = additive_verdict()
    assert v.holds is True and v.groups == GROUPS and v.checked_groups == GROUPS
    assert v.criteria == ("D", "M", "S", "H")
    assert v.irreducible == (True, True) and min(v.weakest_link) > 0
    assert v.full_rank.holds and v.stability.holds
    assert v.type_s.l0_gap_worst > 0 and np.all(v.type_s.l0_gap_min > 0)
    assert v.type_s.misaligned_components < 2  # a misaligned basis lowers the count
    json.dumps(v.to_json(), allow_nan=False)


@pytest.mark.parametrize("which", ["output", "latent"])
def test_verdict_unchanged_under_rescaling(which):
    dec, z = additive_decoder(), points()
    if which == "output":
        scaled, z2 = (lambda z: 37.0 * dec(z)), z
    else:
        d = np.array([1.0, 25.0, 0.04, 1.0], np.float32)  # z'_i = z_i / d_i
        scaled, z2 = (lambda z: dec(d * z)), z / d
    ref = additive_verdict()
    v = qi.jacobian_groups(scaled, z2, num_rotations=4, type_h_points=4)
    assert (v.holds, v.groups, v.criteria) == (ref.holds, ref.groups, ref.criteria)
    np.testing.assert_array_equal(v.edge_counts, ref.edge_counts)
    np.testing.assert_allclose(v.type_s.l0_gap_mean, ref.type_s.l0_gap_mean, atol=1e-6)
    np.testing.assert_allclose(v.full_rank.ratio, ref.full_rank.ratio, rtol=1e-4)


def test_support_mask_exactly_invariant_to_output_and_latent_scale():
    j = np.random.default_rng(0).standard_normal((4, 10, 3)).astype(np.float32)
    j[:, :3, 0] = 1e-4  # small entries near the tolerance
    m = qi.support_mask(j, tol=0.05)
    np.testing.assert_array_equal(qi.support_mask(j * 1e3, tol=0.05), m)
    np.testing.assert_array_equal(qi.support_mask(j * np.float32([1e-3, 1.0, 50.0]), tol=0.05), m)


def test_additive_decoder_passes_h2_multiplicative_fails():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 2, 5)).astype(np.float32)
    add = lambda z: jnp.sin(z[:2] @ a) + jnp.cos(z[2:] @ b)  # noqa: E731  shared outputs
    mul = lambda z: jnp.sin(z[:2] @ a) * jnp.cos(z[2:] @ b)  # noqa: E731
    z = points(6)
    h_add = qi.type_h(add, z, GROUPS)
    h_mul = qi.type_h(mul, z, GROUPS)
    assert h_add.holds is True and h_add.cross[0, 1] < 1e-6
    assert h_mul.holds is False and h_mul.cross[0, 1] > 0.1
    assert h_add.groups_h == GROUPS and h_mul.groups_h == ((0, 1, 2, 3),)
    # The supports overlap everywhere, so Type D fails for both.
    assert qi.type_d(qi.decoder_jacobians(add, z), GROUPS).holds is False


def test_cross_derivatives_match_finite_differences():
    mul = lambda z: jnp.tanh(z[0] * z[2]) * jnp.ones(3)  # noqa: E731
    z = np.array([[0.3, 0.1, -0.7]], np.float32)
    h, _, _ = qi.cross_derivatives(mul, z, np.array([[0, 2]]))
    eps = 1e-4
    f = lambda a, c: np.tanh(a * c)  # noqa: E731
    fd = (f(0.3 + eps, -0.7 + eps) - f(0.3 + eps, -0.7 - eps) - f(0.3 - eps, -0.7 + eps)
          + f(0.3 - eps, -0.7 - eps)) / (4 * eps**2)  # fmt: skip
    np.testing.assert_allclose(h[0, 0], abs(fd) * np.sqrt(3), rtol=1e-3)


def test_type_m_and_d_on_partial_overlap():
    j = _block_jacobian((2, 2))
    j[:, 0, 2] = 1.0  # output 0 now also depends on group 1
    d, m = qi.type_d(j, GROUPS), qi.type_m(j, GROUPS)
    assert d.holds is False and d.overlap[0, 1] == pytest.approx(1 / 6)
    assert m.holds is True and m.sparsity_bound == 2  # min(|Ω_0 \ Ω_1|, |Ω_1 \ Ω_0|) = min(2, 3)
    j[:, :3, 2:] = 1.0  # group 0's support now inside group 1's
    assert qi.type_m(j, GROUPS).holds is False


def test_full_rank_fails_when_a_latent_is_ignored():
    j = _block_jacobian((2, 2))
    assert qi.full_rank(j).holds is True
    j[:, :, 3] = 2.0 * j[:, :, 2]
    assert qi.full_rank(j).holds is False


@pytest.mark.parametrize("mode", ["jacrev", "jvp"])
def test_chunked_modes_agree_with_jacfwd(mode):
    dec, z = additive_decoder(), points(7)
    ref = qi.decoder_jacobians(dec, z)
    got = qi.decoder_jacobians(dec, z, chunk_size=3, mode=mode)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert ref.shape == (7, 12, 4)


def test_image_output_is_flattened_and_budget_sets_chunks():
    dec = lambda z: jnp.tile(z[:, None, None], (1, 2, 3)).transpose(1, 2, 0)  # noqa: E731
    j, shape = qi.decoder_jacobians(dec, points(5, 2), memory_budget_bytes=1, return_shape=True)
    assert shape == (2, 3, 2) and j.shape == (5, 12, 2)


def test_bad_input_one_clear_error():
    dec, z = additive_decoder(), points(4)
    with pytest.raises(ValueError, match="flat .* or image"):
        qi.decoder_jacobians(lambda z: jnp.outer(z, z), z)
    with pytest.raises(ValueError, match="non-finite"):
        qi.decoder_jacobians(lambda z: jnp.sqrt(z - 10.0), z)
    with pytest.raises(ValueError, match="partition the latents"):
        qi.jacobian_groups(dec, z, groups=((0, 1), (1, 2)))
    with pytest.raises(ValueError, match="tol must be in"):
        qi.support_mask(np.ones((2, 3, 2)), tol=0.0)
    with pytest.raises(ValueError, match="tol must be in"):
        qi.jacobian_groups(dec, z, tol=-1.0)
    with pytest.raises(TypeError, match="Wrap a batched decoder"):
        qi.decoder_jacobians(lambda z: z @ np.ones((5, 3)), z)


def test_h2_cannot_tell_on_a_piecewise_linear_decoder():
    w1, w2 = np.random.default_rng(5).standard_normal((2, 4, 4)).astype(np.float32)
    relu_net = lambda z: jnp.maximum(z @ w1, 0.0) @ w2  # noqa: E731  zero Hessian a.e.
    assert qi.type_h(relu_net, points(4), GROUPS).holds is None


_BAD_GROUPS = [
    (((0,), (5,)), r"missing \[1, 2\], repeated \[\], out of range \[5\]"),
    (((0,), (2,)), r"missing \[1\], repeated \[\], out of range \[\]"),
    (((0, 1), (1, 2)), r"missing \[\], repeated \[1\]"),
    (((0, 1, 2), ()), r"into non-empty groups"),
]


@pytest.mark.parametrize("groups,match", _BAD_GROUPS, ids=["range", "partial", "overlap", "empty"])
@pytest.mark.parametrize("check", ["type_d", "type_m", "type_s"])
def test_jacobian_checks_reject_groups_that_do_not_partition_the_latents(check, groups, match):
    j = _block_jacobian((1, 1, 1))
    with pytest.raises(ValueError, match=r"groups must partition the latents 0..2 .*" + match):
        getattr(qi, check)(j, groups)


@pytest.mark.parametrize("groups,match", _BAD_GROUPS[:3], ids=["range", "partial", "overlap"])
def test_type_h_rejects_groups_that_do_not_partition_the_latents(groups, match):
    dec = lambda z: jnp.tanh(z) * jnp.ones(3)  # noqa: E731
    with pytest.raises(ValueError, match=match):
        qi.type_h(dec, points(2, 3), groups)


def test_group_order_is_kept_and_results_follow_it():
    j = _block_jacobian((2, 2))
    j[:, 0, 2] = 1.0
    ref, rev = qi.type_m(j, GROUPS), qi.type_m(j, [[3, 2], [1, 0]])
    assert rev.groups == ((3, 2), (1, 0))
    np.testing.assert_array_equal(rev.exclusive, ref.exclusive[::-1, ::-1])
    d = qi.type_d(j, ((2, 3), (0, 1)))
    np.testing.assert_array_equal(d.overlap, qi.type_d(j, GROUPS).overlap[::-1, ::-1])


def test_cross_derivatives_reject_pairs_outside_the_latents():
    mul = lambda z: jnp.tanh(z[0] * z[2]) * jnp.ones(3)  # noqa: E731
    z = np.array([[0.3, 0.1, -0.7]], np.float32)
    # JAX clamps index 9 to 2: before, [[0, 9]] silently returned the [0, 2] derivative.
    with pytest.raises(ValueError, match=r"latents \[9\] out of range for d_z = 3 .* 0..2"):
        qi.cross_derivatives(mul, z, [[0, 9]])
    with pytest.raises(ValueError, match=r"latents \[-1\] out of range"):
        qi.cross_derivatives(mul, z, np.array([[-1, 2]]))
    with pytest.raises(ValueError, match=r"pairs must be \[P, 2\]"):
        qi.cross_derivatives(mul, z, np.array([0, 2]))
    with pytest.raises(ValueError, match="integer latent indices"):
        qi.cross_derivatives(mul, z, np.array([[0.5, 2.0]]))
    h, _, _ = qi.cross_derivatives(mul, z, np.array([[0.0, 2.0], [2, 0]]))  # integral floats ok
    np.testing.assert_allclose(h[0, 0], h[0, 1], rtol=1e-6)

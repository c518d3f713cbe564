"""Tests for qdjax.metrics.dci: the importance->score function by hand, oracles on toy data."""

import numpy as np
import pytest
import scipy.stats

from qdjax.metrics import dci, dci_from_importance


def _reference_scores(r):
    """Independent re-implementation with scipy.stats.entropy (as in disentanglement_lib)."""
    k, l_ = r.shape[1], r.shape[0]
    d = 1.0 - scipy.stats.entropy(r.T, base=k)  # per code, normalizes each row of r
    c = 1.0 - scipy.stats.entropy(r, base=l_)  # per factor, normalizes each column
    rho = r.sum(axis=1) / r.sum()
    w = r.sum(axis=0) / r.sum()
    return np.sum(d * rho), np.sum(c * w)


def test_from_importance_hand_computed():
    # Code 0 -> only factor 0: D_0 = 1. Code 1 splits 1:1 over two factors: D_1 = 0.
    # rho = [0.5, 1.0] / 1.5 -> D = 1/3. Factor 0: codes share 1:1 -> C_0 = 1 - log2/log2 = 0;
    # factor 1: only code 1 -> C_1 = 1; factor weights [1.0, 0.5] / 1.5 -> C = 1/3.
    r = np.array([[0.5, 0.0], [0.5, 0.5]])
    scores = dci_from_importance(r)
    np.testing.assert_allclose(scores.disentanglement, 1.0 / 3.0, atol=1e-12)
    np.testing.assert_allclose(scores.completeness, 1.0 / 3.0, atol=1e-12)
    np.testing.assert_allclose(scores.disentanglement_per_code, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(scores.completeness_per_factor, [0.0, 1.0], atol=1e-12)


def test_from_importance_matches_scipy_entropy():
    r = np.array([[0.7, 0.1, 0.05], [0.2, 0.6, 0.05], [0.05, 0.2, 0.5], [0.05, 0.1, 0.4]])
    d, c = _reference_scores(r)
    scores = dci_from_importance(r)
    np.testing.assert_allclose(scores.disentanglement, d, atol=1e-12)
    np.testing.assert_allclose(scores.completeness, c, atol=1e-12)


def test_from_importance_extremes():
    np.testing.assert_allclose(dci_from_importance(np.eye(3)).disentanglement, 1.0, atol=1e-12)
    uniform = dci_from_importance(np.ones((3, 3)))
    np.testing.assert_allclose([uniform.disentanglement, uniform.completeness], 0.0, atol=1e-12)
    # An unused code has weight 0 and does not lower disentanglement.
    r = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(dci_from_importance(r).disentanglement, 1.0, atol=1e-12)


def _codes(factors, noise=0.02, seed=0):
    u = factors / factors.max(axis=0)
    return u + noise * np.random.default_rng(seed).normal(size=u.shape)


def test_forest_identity_high(factors):
    result = dci(_codes(factors), factors, backend="forest")
    assert result.disentanglement > 0.9 and result.completeness > 0.9
    assert result.informativeness_test > 0.95
    np.testing.assert_allclose(result.importance_matrix.sum(axis=0), 1.0, atol=1e-12)


def test_forest_permuted_sign_flipped(factors):
    z = _codes(factors)
    base = dci(z, factors, backend="forest")
    flipped = dci(-3.0 * z[:, [2, 0, 1]], factors, backend="forest")
    np.testing.assert_allclose(
        flipped.importance_matrix, base.importance_matrix[[2, 0, 1]], atol=0.05
    )
    np.testing.assert_allclose(flipped.disentanglement, base.disentanglement, atol=0.03)


def test_forest_noise_low(factors):
    z = np.random.default_rng(1).normal(size=(len(factors), 3))
    result = dci(z, factors, backend="forest")
    assert result.disentanglement < 0.2 and result.completeness < 0.2
    assert result.informativeness_test < 0.45


def test_forest_duplicate_lowers_completeness(factors):
    z = _codes(factors)
    dup = np.concatenate([z, z[:, [0]]], axis=1)
    assert (
        dci(dup, factors, backend="forest").completeness
        < dci(z, factors, backend="forest").completeness - 0.1
    )


def test_forest_rotation_in_between(factors):
    u = _codes(factors)
    c = np.cos(np.pi / 4)
    z = np.stack([c * u[:, 0] + c * u[:, 1], -c * u[:, 0] + c * u[:, 1], u[:, 2]], 1)
    result = dci(z, factors, backend="forest")
    assert 0.3 < result.disentanglement < 0.9


def test_forest_deterministic(factors):
    z = _codes(factors, noise=0.2)
    a = dci(z, factors, backend="forest", seed=3)
    b = dci(z, factors, backend="forest", seed=3)
    np.testing.assert_array_equal(a.importance_matrix, b.importance_matrix)
    assert a.informativeness_test == b.informativeness_test


def test_gbt_reference_small():
    # The reference backend is slow; a tiny problem keeps the test fast.
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, size=(300, 2))
    z = np.concatenate([s + 0.05 * rng.normal(size=s.shape), rng.normal(size=(300, 1))], 1)
    result = dci(z, s, train_size=200, test_size=100, backend="gbt")
    assert result.disentanglement > 0.9 and result.completeness > 0.8
    assert result.informativeness_test == 1.0


def test_regression_variant():
    rng = np.random.default_rng(0)
    s = rng.uniform(size=(1000, 2))
    z = np.concatenate([s[:, ::-1], rng.normal(size=(1000, 1))], axis=1)
    result = dci(z, s, backend="forest")
    assert result.informativeness_test > 0.95  # R^2
    assert result.disentanglement > 0.85
    assert np.argmax(result.importance_matrix[:, 0]) == 1


def test_explicit_test_set(factors):
    z = _codes(factors)
    result = dci(z[:1000], factors[:1000], z_test=z[1000:], s_test=factors[1000:], backend="forest")
    assert result.informativeness_test > 0.95
    with pytest.raises(ValueError, match="both"):
        dci(z, factors, z_test=z)


@pytest.mark.parametrize("scale", [1e-6, 1e6], ids=["1e-6", "1e6"])
def test_invariant_to_code_scale(factors, scale):
    # sklearn's trees cast codes to float32 and ignore differences below ~1e-7; before the
    # float64 standardization, codes of scale 1e-6 lost their fine splits (on these noisy
    # codes D 0.38 -> 0.05, train informativeness 0.74 -> 0.32).
    z = _codes(factors, noise=0.3, seed=5)
    z = np.concatenate([z, np.random.default_rng(6).normal(size=(len(z), 1))], axis=1)
    base = dci(z, factors, backend="forest")
    got = dci(scale * z + 3.0 * scale, factors, backend="forest")
    np.testing.assert_allclose(got.importance_matrix, base.importance_matrix, atol=1e-12)
    for a, b in zip(got[:4], base[:4]):
        np.testing.assert_allclose(a, b, atol=1e-12)
    small = dict(train_size=200, test_size=100, backend="gbt")
    base = dci(z[:300], factors[:300], **small)
    got = dci(scale * z[:300], factors[:300], **small)
    np.testing.assert_allclose(got.importance_matrix, base.importance_matrix, atol=1e-12)
    np.testing.assert_allclose(got.informativeness_test, base.informativeness_test, atol=1e-12)


def test_constant_code_stays_constant_no_nan(factors):
    z = _codes(factors)
    const = np.concatenate([z, np.full((len(z), 1), 1e-6)], axis=1)
    result = dci(const, factors, backend="forest")
    assert np.all(np.isfinite(result.importance_matrix))
    np.testing.assert_array_equal(result.importance_matrix[3], 0.0)  # never split on
    base = dci(z, factors, backend="forest")
    np.testing.assert_allclose(result.importance_matrix[:3], base.importance_matrix, atol=1e-12)
    np.testing.assert_allclose(result.disentanglement, base.disentanglement, atol=1e-12)

"""Oracle tests for qdjax.metrics.mig."""

import numpy as np
import pytest

from qdjax.metrics import mig, mutual_info_gap


def test_gap_hand_computed():
    mi = np.array([[0.5, 0.1], [0.2, 0.3], [0.1, 0.25]])
    np.testing.assert_allclose(mutual_info_gap(mi, np.array([1.0, 0.5])), [0.3, 0.1], rtol=1e-12)


def test_identity_is_one(factors):
    result = mig(factors.astype(float), factors)
    # Top-1 MI is exactly H(s_k); the plug-in MI of the independent other codes is a small
    # positive bias (~ (classes - 1)(bins - 1) / 2n nats), so the gap is just below 1.
    np.testing.assert_allclose(np.diag(result.mutual_info), result.factor_entropy, atol=1e-12)
    np.testing.assert_allclose(result.score, 1.0, atol=0.02)


def test_permuted_sign_flipped_rescaled_unchanged(factors):
    z = factors.astype(float) + 0.1 * np.random.default_rng(0).normal(size=factors.shape)
    base = mig(z, factors).score
    transformed = np.stack([-3.0 * z[:, 2] + 1.0, 0.5 * z[:, 0], -z[:, 1]], 1)
    np.testing.assert_allclose(mig(transformed, factors).score, base, atol=1e-9)


def test_monotone_warp_changes_binning_only_slightly(factors):
    # Equal-width bins are not warp invariant; MIG stays high on a clean code.
    z = factors.astype(float) + 0.05 * np.random.default_rng(0).normal(size=factors.shape)
    assert mig(np.exp(z), factors).score > 0.7


def test_constant_codes_zero(factors):
    assert mig(np.ones((len(factors), 4)), factors).score == 0.0


def test_noise_codes_near_zero(factors):
    z = np.random.default_rng(1).normal(size=(len(factors), 4))
    assert mig(z, factors).score < 0.05


def test_duplicated_code_penalized(factors):
    z = np.concatenate([factors, factors[:, [0]]], axis=1).astype(float)
    result = mig(z, factors)
    np.testing.assert_allclose(result.per_factor, [0.0, 1.0, 1.0], atol=0.02)
    assert result.per_factor[0] == 0.0


def test_rotation_in_between(factors):
    u = factors / factors.max(axis=0)
    c, s_ = np.cos(np.pi / 6), np.sin(np.pi / 6)
    z = np.stack([c * u[:, 0] + s_ * u[:, 1], -s_ * u[:, 0] + c * u[:, 1], u[:, 2]], 1)
    score = mig(z, factors).score
    assert 0.2 < score < 0.9


def test_continuous_factors_are_binned():
    s = np.random.default_rng(2).uniform(size=(2000, 2))
    result = mig(s, s, num_bins=10)
    np.testing.assert_allclose(result.score, 1.0, atol=0.02)
    np.testing.assert_allclose(result.factor_entropy, np.log(10), atol=0.01)


def test_constant_factor_raises(factors):
    s = factors.copy()
    s[:, 1] = 2
    with pytest.raises(ValueError, match="constant"):
        mig(factors.astype(float), s)

"""Oracle tests for qdjax.metrics.infomec."""

import numpy as np
import pytest

from qdjax.metrics import infom_infoc_from_nmi, infomec


def test_infom_infoc_hand_computed():
    # Latent 0: [0.6, 0.2] -> ratio 0.75 -> (0.75 - 0.5) / 0.5 = 0.5; latent 1: [0, 0.4] -> 1.
    # InfoM = 0.75. Factor 0: [0.6, 0] -> 1; factor 1: [0.2, 0.4] -> 2/3 -> (2/3 - 1/2)/(1/2)
    # = 1/3. InfoC = 2/3.
    nmi = np.array([[0.6, 0.0], [0.2, 0.4]])
    infom, infoc = infom_infoc_from_nmi(nmi)
    np.testing.assert_allclose([infom, infoc], [0.75, 2.0 / 3.0], atol=1e-12)
    # Inactive latent 1 is dropped: InfoM = 0.5, InfoC over one latent: both factors > 0 -> 1.
    np.testing.assert_allclose(infom_infoc_from_nmi(nmi, [True, False]), [0.5, 1.0], atol=1e-12)
    assert infom_infoc_from_nmi(nmi, [False, False]) == (0.0, 0.0)


def test_discrete_identity_is_one(factors):
    result = infomec(factors, factors, discrete_latents=True)
    np.testing.assert_allclose([result.infom, result.infoc], 1.0, atol=0.02)
    assert result.infoe > 0.99
    np.testing.assert_allclose(np.diag(result.nmi), 1.0, atol=1e-12)


def test_discrete_permuted_warped_exactly_invariant(factors):
    base = infomec(factors, factors, discrete_latents=True)
    z = np.stack([np.exp(factors[:, 2]), -factors[:, 0], 3 * factors[:, 1]], 1)
    warped = infomec(z, factors, discrete_latents=True)
    np.testing.assert_allclose(
        [warped.infom, warped.infoc, warped.infoe], [base.infom, base.infoc, base.infoe], atol=1e-6
    )


def test_continuous_ksg_identity_high(factors):
    z = factors + 0.05 * np.random.default_rng(0).normal(size=factors.shape)
    result = infomec(z, factors)
    assert result.infom > 0.9 and result.infoc > 0.9 and result.infoe > 0.9
    assert result.active_latents.all()


def test_continuous_binned_identity_high(factors):
    z = factors + 0.05 * np.random.default_rng(0).normal(size=factors.shape)
    result = infomec(z, factors, mi_estimator="binned")
    assert result.infom > 0.9 and result.infoc > 0.9


def test_constant_codes_inactive_zero(factors):
    result = infomec(np.ones((len(factors), 3)), factors)
    assert not result.active_latents.any()
    assert result.infom == 0.0 and result.infoc == 0.0
    assert result.infoe < 1e-6


def test_noise_codes_explicitness_near_zero(factors):
    # InfoM/InfoC of pure noise are ratios of estimation noise and are not ~0; InfoE is.
    z = np.random.default_rng(1).normal(size=(len(factors), 3))
    assert infomec(z, factors).infoe < 0.02
    assert infomec(z, factors, infoe="balanced_accuracy").infoe < 0.1


def test_duplicated_latent_lowers_infoc_not_infom(factors):
    z = factors.astype(float)
    dup = infomec(np.concatenate([z, z[:, [0]]], axis=1), factors, discrete_latents=True)
    assert dup.infom > 0.95
    assert dup.infoc < 0.9


def test_small_range_latent_inactive(factors):
    z = np.concatenate([factors, 0.01 * factors[:, [0]]], axis=1).astype(float)
    result = infomec(z, factors)
    np.testing.assert_array_equal(result.active_latents, [True, True, True, False])
    assert infomec(z, factors, active_rule="all").active_latents.all()


def test_rotation_in_between(factors):
    u = factors / factors.max(axis=0) + 0.02 * np.random.default_rng(0).normal(size=factors.shape)
    c = np.cos(np.pi / 4)
    z = np.stack([c * u[:, 0] + c * u[:, 1], -c * u[:, 0] + c * u[:, 1], u[:, 2]], 1)
    result = infomec(z, factors)
    assert 0.2 < result.infom < 0.9 and 0.2 < result.infoc < 0.9
    assert result.infoe > 0.8


def test_ksg_deterministic(factors):
    factors = factors[:500]
    z = factors + 0.5 * np.random.default_rng(0).normal(size=factors.shape)
    a, b = infomec(z, factors, seed=4), infomec(z, factors, seed=4)
    np.testing.assert_array_equal(a.nmi, b.nmi)
    assert (a.infom, a.infoc, a.infoe) == (b.infom, b.infoc, b.infoe)


def test_continuous_factors_rejected():
    s = np.random.default_rng(0).uniform(size=(100, 2))
    with pytest.raises(ValueError, match="discretize"):
        infomec(s, s)


def test_ksg_too_few_samples_clear_error():
    # before: sklearn's "Found array with 0 sample(s)" (KSG drops singleton classes)
    z = np.random.default_rng(0).normal(size=(2, 2))
    s = np.array([[0], [1]])
    with pytest.raises(ValueError, match=r"too few samples \(n=2\) for the KSG estimator"):
        infomec(z, s)
    with pytest.raises(ValueError, match=r"factors \[1\] have no class with at least 2"):
        infomec(np.arange(12.0)[:, None], np.stack([np.arange(12) % 2, np.arange(12)], 1))
    # the plug-in estimators still work on the same two rows (perfectly modular)
    assert infomec(z, s, mi_estimator="binned").infom == 1.0
    assert infomec(np.array([[0.0], [1.0]]), s, discrete_latents=True).infom == 1.0


def test_unknown_options_raise_even_if_unused(factors):
    z = factors.astype(float)
    # before: discrete_latents=True never looked at mi_estimator and returned a result
    with pytest.raises(ValueError, match="mi_estimator must be 'ksg' or 'binned'; got 'bogus'"):
        infomec(z, factors, discrete_latents=True, mi_estimator="bogus")
    with pytest.raises(ValueError, match="infoe must be"):
        infomec(z, factors, discrete_latents=True, infoe="acc")
    with pytest.raises(ValueError, match="n_neighbors must be >= 1"):
        infomec(z, factors, n_neighbors=0)

"""Tests for qdjax.metrics.mcc: closed-form values and oracle properties."""

import numpy as np
import pytest

from qdjax.metrics import mcc


def _factors(n=1000, f=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, f))


def test_identity_is_one():
    s = _factors()
    result = mcc(s, s)
    np.testing.assert_allclose(result.score, 1.0, rtol=1e-12)
    np.testing.assert_array_equal(result.assignment, [0, 1, 2])


@pytest.mark.parametrize("correlation", ["pearson", "spearman"])
def test_permuted_sign_flipped_rescaled_is_one(correlation):
    s = _factors()
    z = np.stack([-2.0 * s[:, 2] + 5.0, 0.1 * s[:, 0], -s[:, 1]], axis=1)
    result = mcc(z, s, correlation=correlation)
    np.testing.assert_allclose(result.score, 1.0, rtol=1e-12)
    # assignment[i] is the latent matched to factor i.
    np.testing.assert_array_equal(result.assignment, [1, 2, 0])


def test_monotone_warp_spearman_invariant_pearson_not():
    s = _factors()
    z = np.exp(3.0 * s)  # strictly increasing warp of each factor
    np.testing.assert_allclose(mcc(z, s, correlation="spearman").score, 1.0, rtol=1e-12)
    assert mcc(z, s, correlation="pearson").score < 0.8


def test_hand_made_known_correlation():
    # Latent 0 equals factor 1 exactly; latent 1 has corr 0.8 with factor 0:
    # s0 = [1, 2, 3, 4], z1 = [1, 3, 2, 4]: cov = 4.0, var = 5.0 each -> corr 0.8.
    s = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
    z = np.array([[0.0, 1.0], [1.0, 3.0], [0.0, 2.0], [1.0, 4.0]])
    result = mcc(z, s)
    np.testing.assert_allclose(result.per_factor, [0.8, 1.0], rtol=1e-12)
    np.testing.assert_allclose(result.score, 0.9, rtol=1e-12)
    np.testing.assert_array_equal(result.assignment, [1, 0])
    # s1 vs z1: cov 2, norms 1 and sqrt(5) -> 2/sqrt(5); s0 vs z0 -> 1/sqrt(5).
    r5 = 1.0 / np.sqrt(5.0)
    np.testing.assert_allclose(result.correlation_matrix, [[r5, 0.8], [1.0, 2.0 * r5]], rtol=1e-12)
    np.testing.assert_allclose(mcc(z, s, scale=100.0).score, 90.0, rtol=1e-12)


def test_matching_is_one_to_one():
    # Both factors correlate best with latent 0; the matching must still use two latents.
    s = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, 1.0]])
    z = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, 1.0]])[:, [0]]
    z = np.concatenate([z, s[:, [1]] * 0.5 + z], axis=1)
    result = mcc(z, s)
    assert sorted(result.assignment.tolist()) == [0, 1]


def test_more_latents_than_factors_ignores_extra():
    s = _factors(f=2)
    z = np.concatenate([s, np.random.default_rng(5).normal(size=(len(s), 4))], axis=1)
    np.testing.assert_allclose(mcc(z, s).score, 1.0, rtol=1e-12)


def test_fewer_latents_than_factors_counts_zero():
    s = _factors(f=3)
    result = mcc(s[:, :2], s)
    np.testing.assert_allclose(result.score, 2.0 / 3.0, rtol=1e-12)
    assert result.per_factor[2] == 0.0 and result.assignment[2] == -1


def test_constant_latent_gives_zero_not_nan():
    s = _factors(f=2)
    z = np.ones((len(s), 2))
    result = mcc(z, s)
    assert result.score == 0.0
    assert np.all(np.isfinite(result.correlation_matrix))


def test_noise_is_near_zero():
    s = _factors(n=2000)
    z = np.random.default_rng(1).normal(size=(2000, 3))
    assert mcc(z, s).score < 0.1


def test_rotation_in_between():
    s = _factors(n=2000, f=2)
    c = np.cos(np.pi / 4)
    z = s @ np.array([[c, -c], [c, c]])
    # Each latent has |corr| = cos(45 deg) with each factor.
    np.testing.assert_allclose(mcc(z, s).score, c, atol=0.05)


def test_batch_size_averages_chunks():
    s = _factors(n=1000, f=2)
    z = s + np.random.default_rng(2).normal(size=s.shape)
    chunks = [mcc(z[i : i + 250], s[i : i + 250]).score for i in range(0, 1000, 250)]
    np.testing.assert_allclose(mcc(z, s, batch_size=250).score, np.mean(chunks), rtol=1e-12)


def test_deterministic():
    s = _factors()
    z = s + np.random.default_rng(3).normal(size=s.shape)
    assert mcc(z, s).score == mcc(z, s).score


@pytest.mark.parametrize(
    "z, s, match",
    [
        (np.zeros(10), np.zeros((10, 1)), "2-D"),
        (np.zeros((10, 2)), np.zeros((9, 1)), "same number of rows"),
        (np.full((10, 2), np.nan), np.zeros((10, 1)), "non-finite"),
    ],
    ids=["ndim", "mismatched_n", "nan"],
)
def test_bad_input_raises(z, s, match):
    with pytest.raises(ValueError, match=match):
        mcc(z, s)

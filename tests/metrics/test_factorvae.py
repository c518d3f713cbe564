"""Tests for the FactorVAE score from votes / batches."""

import warnings

import numpy as np
import pytest

from qdjax.metrics import (
    factorvae_global_scale,
    factorvae_score_from_batches,
    factorvae_score_from_votes,
    factorvae_votes,
)


def test_score_from_votes_hand_computed():
    # Majority classifier: latent 0 -> factor 0 (8 > 2), latent 1 -> factor 1 (5 > 1).
    train = np.array([[8, 2], [1, 5]])
    evaluation = np.array([[3, 1], [2, 4]])
    result = factorvae_score_from_votes(train, evaluation)
    np.testing.assert_allclose(result.train_accuracy, 13 / 16, atol=1e-12)
    np.testing.assert_allclose(result.eval_accuracy, 7 / 10, atol=1e-12)
    assert result.num_active == 2


def test_votes_pick_argmin_normalized_variance():
    # Latent 1 has tiny spread in the batch but also tiny global variance; latent 0 wins
    # after normalization: 0.01 / 1 < 0.0004 / 0.0001.
    variance = np.array([1.0, 1e-4, 1.0])
    active = np.array([True, True, True])
    z = np.stack(
        [0.1 * np.array([1, -1, 1, -1]), 0.02 * np.array([1, -1, 1, -1]), [1, -1, 1, -1]], 1
    )
    votes = factorvae_votes([(1, z)], variance, active, num_factors=2)
    np.testing.assert_array_equal(votes, [[0, 1], [0, 0], [0, 0]])


def test_pruning():
    rng = np.random.default_rng(0)
    sample = np.concatenate([rng.normal(size=(500, 2)), 0.01 * rng.normal(size=(500, 1))], 1)
    variance, active = factorvae_global_scale(sample)
    np.testing.assert_array_equal(active, [True, True, False])
    np.testing.assert_allclose(variance, np.var(sample, axis=0, ddof=1), rtol=1e-12)


def _batches(num, code, rng, num_factors=3, batch=64):
    """Batches of a toy encoder: codes = code(factors) with one factor fixed."""
    out = []
    for _ in range(num):
        k = int(rng.integers(num_factors))
        s = rng.uniform(size=(batch, num_factors))
        s[:, k] = s[0, k]
        out.append((k, code(s)))
    return out


def test_perfect_code_scores_one_and_permutation_invariant():
    rng = np.random.default_rng(0)
    sample = rng.uniform(size=(1000, 3))
    perm = lambda s: -2.0 * s[:, [2, 0, 1]]  # noqa: E731
    result = factorvae_score_from_batches(
        _batches(200, perm, rng), _batches(100, perm, rng), perm(sample), num_factors=3
    )
    assert result.eval_accuracy == 1.0 and result.train_accuracy == 1.0


def test_mixed_code_in_between_and_noise_low():
    rng = np.random.default_rng(1)
    mix = lambda s: s @ np.array([[1.0, 1.0, 0], [1.0, -1.0, 0], [0, 0, 1.0]])  # noqa: E731
    sample = mix(rng.uniform(size=(1000, 3)))
    mixed = factorvae_score_from_batches(
        _batches(300, mix, rng), _batches(300, mix, rng), sample, num_factors=3
    )
    assert 0.45 < mixed.eval_accuracy < 0.9
    noise = lambda s: rng.normal(size=s.shape)  # noqa: E731
    noisy = factorvae_score_from_batches(
        _batches(300, noise, rng), _batches(300, noise, rng), noise(sample), num_factors=3
    )
    assert noisy.eval_accuracy < 0.5


def test_no_active_latent_scores_zero():
    rng = np.random.default_rng(0)
    const = lambda s: np.zeros_like(s)  # noqa: E731
    result = factorvae_score_from_batches(
        _batches(10, const, rng), _batches(10, const, rng), np.zeros((100, 3)), num_factors=3
    )
    assert result.eval_accuracy == 0.0 and result.num_active == 0


def test_bad_votes_raise():
    with pytest.raises(ValueError, match="equal shape"):
        factorvae_score_from_votes(np.ones((2, 3)), np.ones((3, 2)))


def test_votes_reject_mismatched_lengths_and_zero_variance():
    z = np.random.default_rng(0).normal(size=(8, 3))
    # before: a raw IndexError from boolean indexing
    with pytest.raises(ValueError, match=r"global_variance has shape \(2,\) but active has"):
        factorvae_votes([(0, z)], np.ones(2), np.ones(3, bool), num_factors=2)
    # before: a silent division by zero (inf normalized variance, latent 0 never voted for)
    with pytest.raises(ValueError, match=r"active latents \[0\] have global variance \[0.0\]"):
        factorvae_votes([(0, z)], np.array([0.0, 1.0, 1.0]), np.ones(3, bool), num_factors=2)
    with pytest.raises(ValueError, match=r"active latents \[2\].*finite and > 0"):
        factorvae_votes([(0, z)], np.array([1.0, 1.0, np.nan]), np.ones(3, bool), num_factors=2)
    # an inactive latent may have zero variance: it is simply not voted for
    votes = factorvae_votes(
        [(1, z)], np.array([0.0, 1.0, 1.0]), np.array([False, True, True]), num_factors=2
    )
    np.testing.assert_array_equal(votes.sum(), 1)


def test_score_from_votes_rejects_negative_counts():
    good = np.array([[3, 1], [1, 3]])
    with pytest.raises(ValueError, match="train_votes must hold finite non-negative vote counts"):
        factorvae_score_from_votes(np.array([[-1, 2], [1, 3]]), good)
    with pytest.raises(ValueError, match="eval_votes must hold finite non-negative"):
        factorvae_score_from_votes(good, np.array([[1.0, np.nan], [1.0, 3.0]]))
    np.testing.assert_allclose(factorvae_score_from_votes(good, good).eval_accuracy, 0.75)


def test_warns_when_small_codes_lose_every_latent():
    rng = np.random.default_rng(0)
    sample = 0.01 * rng.uniform(size=(1000, 3))  # std ~0.003 < the reference's 0.05
    with pytest.warns(
        UserWarning, match="codes look rescaled.*absolute prune_threshold=0.05 dropped every"
    ):
        variance, active = factorvae_global_scale(sample)
    assert not active.any()  # the reference's rule is kept
    np.testing.assert_allclose(variance, np.var(sample, axis=0, ddof=1), rtol=1e-12)
    small = lambda s: 0.01 * s  # noqa: E731
    with pytest.warns(UserWarning, match="codes look rescaled"):
        result = factorvae_score_from_batches(
            _batches(5, small, rng), _batches(5, small, rng), sample, num_factors=3
        )
    assert result.eval_accuracy == 0.0 and result.num_active == 0
    # no warning when some latent stays active, or when nothing varies at all
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        factorvae_global_scale(np.concatenate([sample, rng.normal(size=(1000, 1))], axis=1))
        factorvae_global_scale(np.zeros((100, 3)))

"""partition_agreement: per-axis AMI, robust to one missed threshold."""

import numpy as np
import pytest

from qdjax import metrics


def _cells(seed=0, n=4000, k=4):
    return np.random.default_rng(seed).integers(0, k, size=(n, 2))


def test_identity_permutation_relabel_is_one():
    t = _cells()
    relabeled = np.stack([3 - t[:, 1], (t[:, 0] * 7) % 4], axis=1)  # swapped, reversed, shuffled
    r = metrics.partition_agreement(relabeled, t)
    np.testing.assert_allclose(r.per_axis, [1.0, 1.0], atol=1e-9)
    np.testing.assert_array_equal(r.assignment, [1, 0])


def test_missed_threshold_is_partial_not_zero():
    t = _cells()
    pred = t.copy()
    pred[:, 0] = np.maximum(t[:, 0] - 1, 0)  # true cells 0 and 1 merged: one threshold missed
    exact = metrics.quantized_cell_accuracy(pred, t).accuracy
    ami = metrics.partition_agreement(pred, t)
    assert exact < 0.3  # every label above the missed threshold shifts
    assert 0.6 < ami.per_axis[0] < 0.95 and ami.per_axis[1] == pytest.approx(1.0)


def test_random_is_zero_and_constant_axis_scores_zero():
    t = _cells(0)
    r = metrics.partition_agreement(_cells(1), t)
    assert abs(r.score) < 0.01
    const = np.zeros_like(t)
    assert metrics.partition_agreement(const, t).score == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="same positive n"):
        metrics.partition_agreement(np.zeros((3, 2), int), np.zeros((4, 2), int))


def test_no_true_axis_raises():
    # before: a NaN score (mean over zero axes) and a RuntimeWarning
    with pytest.raises(ValueError, match="cells_true has no axes"):
        metrics.partition_agreement(_cells(), np.zeros((4000, 0), int))

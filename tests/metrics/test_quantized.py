"""Tests for cells_from_thresholds and quantized_cell_accuracy."""

import numpy as np
import pytest

from qdjax.metrics import cells_from_thresholds, quantized_cell_accuracy


def test_cells_from_thresholds():
    z = np.array([[-1.0, 0.0], [0.0, 0.5], [0.5, 2.0]])
    cells = cells_from_thresholds(z, [np.array([0.0, 0.4]), np.array([1.0])])
    # Axis 0: -1 < 0 -> 0; 0 == threshold -> upper cell 1; 0.5 > 0.4 -> 2. Axis 1: 0, 0, 1.
    np.testing.assert_array_equal(cells, [[0, 0], [1, 0], [2, 1]])
    # Unsorted thresholds are sorted; an empty array gives a single cell.
    np.testing.assert_array_equal(
        cells_from_thresholds(z, [np.array([0.4, 0.0]), np.array([])]), [[0, 0], [1, 0], [2, 0]]
    )


def _true_cells(n=600, sizes=(3, 4, 5), seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in sizes], axis=1)


def test_identity_is_one():
    t = _true_cells()
    result = quantized_cell_accuracy(t, t)
    assert result.accuracy == 1.0
    np.testing.assert_array_equal(result.assignment, [0, 1, 2])


def test_permuted_and_reversed_axes_are_one():
    t = _true_cells()
    pred = np.stack([t[:, 2], 3 - t[:, 1], 2 - t[:, 0]], axis=1)
    result = quantized_cell_accuracy(pred, t, num_cells_pred=[5, 4, 3])
    assert result.accuracy == 1.0
    np.testing.assert_array_equal(result.assignment, [2, 1, 0])
    np.testing.assert_array_equal(result.reversed, [True, True, False])


def test_partial_agreement_hand_computed():
    t = np.array([[0], [1], [2], [0]])
    p = np.array([[0], [1], [1], [1]])
    # Identity agrees on rows 0, 1 -> 0.5; reversed (m=2: 1 - p = [1, 0, 0, 0]) agrees on row 3
    # -> 0.25. Best 0.5.
    result = quantized_cell_accuracy(p, t)
    np.testing.assert_allclose([result.accuracy, result.per_axis[0]], 0.5, atol=1e-12)
    assert not result.reversed[0]


def test_extra_cell_on_an_axis():
    t = _true_cells()
    pred = t.copy()
    pred[t[:, 0] == 2, 0] = 3  # one spurious extra cell: top class split off
    result = quantized_cell_accuracy(pred, t)
    frac = np.mean(t[:, 0] == 2)
    np.testing.assert_allclose(result.accuracy, 1.0 - frac, atol=1e-12)


def test_fewer_predicted_axes():
    t = _true_cells()
    result = quantized_cell_accuracy(t[:, :2], t)
    assert result.accuracy == 0.0 and result.assignment[2] == -1
    np.testing.assert_allclose(result.mean_axis_accuracy, 2.0 / 3.0, atol=1e-12)


def test_random_cells_low():
    t = _true_cells()
    pred = _true_cells(seed=5)
    assert quantized_cell_accuracy(pred, t).accuracy < 0.1


def test_bad_input():
    with pytest.raises(ValueError, match="int"):
        quantized_cell_accuracy(np.zeros((3, 2)), np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match="same positive n"):
        quantized_cell_accuracy(np.zeros((3, 2), int), np.zeros((4, 2), int))


def test_no_true_axis_raises():
    # before: accuracy 1.0 (all of zero axes agree) and a NaN mean over zero axes
    with pytest.raises(ValueError, match=r"cells_true has no axes \(shape \(5, 0\)\)"):
        quantized_cell_accuracy(np.zeros((5, 2), int), np.zeros((5, 0), int))
    # no predicted axis is fine: every true axis is unmatched and scores 0
    result = quantized_cell_accuracy(np.zeros((5, 0), int), np.zeros((5, 2), int))
    assert result.accuracy == 0.0 and result.mean_axis_accuracy == 0.0
    np.testing.assert_array_equal(result.assignment, [-1, -1])

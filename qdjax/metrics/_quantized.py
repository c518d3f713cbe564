"""Grid-cell recovery: assign codes to cells and score them against the true cells."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.optimize

from qdjax.metrics._validation import as_matrix


class CellAccuracyResult(NamedTuple):
    """Result of `quantized_cell_accuracy`.

    Attributes:
        accuracy: fraction of samples whose whole predicted cell matches the true cell after
            the axis alignment (every true axis agrees); 0 if a true axis is unmatched.
        mean_axis_accuracy: mean over true axes of `per_axis`.
        per_axis: `[d_true]` agreement of each true axis with its matched predicted axis
            (0 if unmatched).
        assignment: `[d_true]` predicted axis matched to each true axis, -1 if none.
        reversed: `[d_true]` bool, whether the matched axis's labels were reversed.
    """

    accuracy: float
    mean_axis_accuracy: float
    per_axis: np.ndarray
    assignment: np.ndarray
    reversed: np.ndarray


def cells_from_thresholds(z, thresholds: Sequence) -> np.ndarray:
    """Grid-cell index of each code along each axis from per-axis thresholds (cliff positions).

    `cells[:, a] = np.searchsorted(sorted(thresholds[a]), z[:, a], side="right")`: the number
    of thresholds at or below the value, so axis `a` has `len(thresholds[a]) + 1` cells and a
    value equal to a threshold goes to the upper cell. Thresholds are sorted first.

    Args:
        z: codes `[n, d]`.
        thresholds: `d` 1-D arrays (possibly empty, possibly of different lengths).

    Returns:
        `[n, d]` int64 cell indices.
    """
    z = as_matrix(z, "z", "[n, d]", min_rows=1)
    if len(thresholds) != z.shape[1]:
        raise ValueError(
            f"need one threshold array per axis: z has {z.shape[1]} axes, got {len(thresholds)}"
        )
    cells = np.empty(z.shape, dtype=np.int64)
    for a, t in enumerate(thresholds):
        t = np.sort(np.asarray(t, dtype=np.float64).reshape(-1))
        if not np.all(np.isfinite(t)):
            raise ValueError(f"thresholds[{a}] contains NaN/Inf; drop those entries")
        cells[:, a] = np.searchsorted(t, z[:, a], side="right")
    return cells


def _as_cells(c, name: str) -> np.ndarray:
    c = np.asarray(c)
    if c.ndim != 2:
        raise ValueError(f"{name} must be an int array [n, d]; got shape {c.shape}")
    if not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"{name} must hold int cell indices; got {c.dtype} (use .astype(int))")
    if c.size and c.min() < 0:
        raise ValueError(f"{name} must hold non-negative cell indices")
    return c.astype(np.int64)


def quantized_cell_accuracy(
    cells_pred,
    cells_true,
    *,
    num_cells_pred: Sequence[int] | None = None,
) -> CellAccuracyResult:
    r"""Agreement of predicted grid cells with true cells, up to axis permutation and reversal.

    For each (true axis b, predicted axis a) the agreement is the larger of
    :math:`\frac1n\sum_n [p_{na} = t_{nb}]` (identity) and
    :math:`\frac1n\sum_n [m_a - 1 - p_{na} = t_{nb}]` (reversed ordering of a's cell labels,
    with :math:`m_a` the number of cells of predicted axis a: `num_cells_pred[a]`, default
    `max(cells_pred[:, a]) + 1`). True axes are matched one-to-one to predicted axes by
    `scipy.optimize.linear_sum_assignment` maximizing the total agreement. `accuracy` is the
    fraction of samples where all true axes agree with their matched (possibly reversed)
    predicted axis; unmatched true axes (fewer predicted than true axes) make it 0, and extra
    predicted axes are ignored. Different numbers of cells per axis are allowed: labels beyond
    the other side's range simply never agree. The alignment maximizes per-axis agreement,
    which is not necessarily the alignment maximizing `accuracy`.

    Args:
        cells_pred: `[n, d_pred]` int predicted cell indices (e.g. `cells_from_thresholds`).
        cells_true: `[n, d_true]` int true cell indices (0-based, ordered along each axis).
        num_cells_pred: optional number of cells of each predicted axis (for reversal).

    Returns:
        `CellAccuracyResult(accuracy, mean_axis_accuracy, per_axis, assignment, reversed)`.

    Raises:
        ValueError: on non-integer or negative cells, different `n`, or no true axis.
    """
    pred = _as_cells(cells_pred, "cells_pred")
    true = _as_cells(cells_true, "cells_true")
    if pred.shape[0] != true.shape[0] or pred.shape[0] == 0:
        raise ValueError(
            f"cells_pred and cells_true need the same positive n; got {pred.shape}, {true.shape}"
        )
    if true.shape[1] == 0:
        raise ValueError(
            f"cells_true has no axes (shape {true.shape}); pass at least one true axis [n, d_true]"
        )
    d_pred, d_true = pred.shape[1], true.shape[1]
    if num_cells_pred is None:
        m = pred.max(axis=0) + 1
    else:
        m = np.asarray(num_cells_pred, dtype=np.int64)
        if m.shape != (d_pred,) or np.any(pred >= m):
            raise ValueError(
                f"num_cells_pred must give {d_pred} counts exceeding every cells_pred label"
            )
    flipped = m - 1 - pred
    same = (pred[:, :, None] == true[:, None, :]).mean(axis=0)  # [d_pred, d_true]
    rev = (flipped[:, :, None] == true[:, None, :]).mean(axis=0)
    agreement = np.maximum(same, rev)
    rows, cols = scipy.optimize.linear_sum_assignment(agreement.T, maximize=True)
    assignment = np.full(d_true, -1, dtype=np.int64)
    reversed_ = np.zeros(d_true, dtype=bool)
    per_axis = np.zeros(d_true)
    assignment[rows] = cols
    reversed_[rows] = rev[cols, rows] > same[cols, rows]
    per_axis[rows] = agreement[cols, rows]
    if np.all(assignment >= 0):
        aligned = np.where(reversed_, flipped[:, assignment], pred[:, assignment])
        accuracy = float(np.mean(np.all(aligned == true, axis=1)))
    else:
        accuracy = 0.0
    return CellAccuracyResult(accuracy, float(np.mean(per_axis)), per_axis, assignment, reversed_)


class PartitionAgreementResult(NamedTuple):
    """Result of `partition_agreement`.

    Attributes:
        score: mean over true axes of `per_axis` (1 = every axis partitioned identically).
        per_axis: `[d_true]` adjusted mutual information of each true axis's cells with its
            matched predicted axis's cells (0 if unmatched).
        assignment: `[d_true]` predicted axis matched to each true axis, -1 if none.
    """

    score: float
    per_axis: np.ndarray
    assignment: np.ndarray


def partition_agreement(cells_pred, cells_true) -> PartitionAgreementResult:
    r"""Per-axis partition agreement (adjusted mutual information), robust to a missed threshold.

    Exact cell accuracy (:func:`quantized_cell_accuracy`) drops to about 0 on an axis where one
    threshold is missed, because every label above it shifts. The adjusted mutual information
    :math:`\mathrm{AMI}(p_{:a}, t_{:b})` (scikit-learn, arithmetic normalization) compares the
    two partitions without caring about label values or order, so merging two true cells
    costs only the information that split carried. True axes are matched one-to-one to
    predicted axes by `linear_sum_assignment` on the AMI matrix. A predicted axis with a
    single cell scores 0 (AMI of a constant labelling).

    Args:
        cells_pred: `[n, d_pred]` int predicted cells.
        cells_true: `[n, d_true]` int true cells.

    Returns:
        `PartitionAgreementResult(score, per_axis, assignment)`.
    """
    pred = _as_cells(cells_pred, "cells_pred")
    true = _as_cells(cells_true, "cells_true")
    if pred.shape[0] != true.shape[0] or pred.shape[0] == 0:
        raise ValueError(
            f"cells_pred and cells_true need the same positive n; got {pred.shape}, {true.shape}"
        )
    if true.shape[1] == 0:
        raise ValueError(
            f"cells_true has no axes (shape {true.shape}); pass at least one true axis [n, d_true]"
        )
    import sklearn.metrics  # here, not at module level: ~1 s at every CLI start

    ami = np.zeros((pred.shape[1], true.shape[1]))
    for a in range(pred.shape[1]):
        for b in range(true.shape[1]):
            if len(np.unique(pred[:, a])) > 1 and len(np.unique(true[:, b])) > 1:
                ami[a, b] = sklearn.metrics.adjusted_mutual_info_score(true[:, b], pred[:, a])
    rows, cols = scipy.optimize.linear_sum_assignment(ami.T, maximize=True)
    assignment = np.full(true.shape[1], -1, dtype=np.int64)
    per_axis = np.zeros(true.shape[1])
    assignment[rows] = cols
    per_axis[rows] = np.maximum(ami[cols, rows], 0.0)
    return PartitionAgreementResult(float(np.mean(per_axis)), per_axis, assignment)

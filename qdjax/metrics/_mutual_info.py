"""Discretization, discrete entropy and discrete mutual information (in nats)."""

from __future__ import annotations

import numpy as np

from qdjax.metrics._validation import as_matrix


def discretize(a, *, num_bins: int = 20) -> np.ndarray:
    r"""Equal-width binning of each column into `num_bins` bins, exactly as disentanglement_lib.

    disentanglement_lib's `histogram_discretize` labels column `x` with
    `np.digitize(x, np.histogram(x, num_bins)[1][:-1])`: the bin edges are NumPy's
    `linspace(min, max, num_bins + 1)` and a value lying exactly on an edge goes to the bin that
    edge opens (the maximum goes to the last bin). The same edges and rule are used here, with
    labels starting at 0 (computing `floor((x - lo) / (hi - lo) * num_bins)` instead puts some
    edge values into the neighbouring bin through floating-point rounding). A constant column
    maps to all zeros.

    Args:
        a: `[n, num_columns]` real values.
        num_bins: number of equal-width bins per column.

    Returns:
        `[n, num_columns]` int64 bin labels in `[0, num_bins)`.
    """
    if int(num_bins) < 1:
        raise ValueError(f"num_bins must be a positive int; got {num_bins!r}")
    a = as_matrix(a, "a", "[n, num_columns]", min_rows=1)
    out = np.zeros(a.shape, dtype=np.int64)
    for j in range(a.shape[1]):
        col = a[:, j]
        if col.max() > col.min():
            edges = np.histogram_bin_edges(col, bins=int(num_bins))
            out[:, j] = np.digitize(col, edges[:-1]) - 1
    return out


def encode_labels(a: np.ndarray) -> np.ndarray:
    """Maps each column's distinct values to consecutive ints `0..k-1` (sorted order)."""
    out = np.empty(a.shape, dtype=np.int64)
    for j in range(a.shape[1]):
        out[:, j] = np.unique(a[:, j], return_inverse=True)[1].reshape(-1)
    return out


def is_integer_valued(a: np.ndarray) -> np.ndarray:
    """`[num_columns]` bool: whether every value of each column is an integer."""
    return np.all(a == np.round(a), axis=0)


def is_classification(task: str, s_train: np.ndarray, s_test: np.ndarray) -> bool:
    """Resolves a metric's `task`: `"auto"` means classification iff every factor value of
    both splits is an integer; `"classification"` / `"regression"` are taken as given."""
    if task == "auto":
        return bool(np.all(is_integer_valued(np.concatenate([s_train, s_test]))))
    if task in ("classification", "regression"):
        return task == "classification"
    raise ValueError(f"task must be 'auto', 'classification' or 'regression'; got {task!r}")


def discretize_factors(s: np.ndarray, *, discrete: bool | None, num_bins: int) -> np.ndarray:
    """Label-encodes discrete factors; equal-width bins continuous ones.

    Args:
        s: `[n, num_factors]` float factors (validated).
        discrete: True treats every column as classes, False bins every column; None (auto)
            treats integer-valued columns as classes and bins the others.
        num_bins: bins for continuous columns.

    Returns:
        `[n, num_factors]` int64 labels.
    """
    if discrete is None:
        mask = is_integer_valued(s)
    else:
        mask = np.full(s.shape[1], bool(discrete))
    out = np.empty(s.shape, dtype=np.int64)
    if mask.any():
        out[:, mask] = encode_labels(s[:, mask])
    if (~mask).any():
        out[:, ~mask] = discretize(s[:, ~mask], num_bins=num_bins)
    return out


def discrete_entropy(labels) -> np.ndarray:
    r"""Plug-in entropy :math:`H = -\sum_k p_k \log p_k` (nats) of each column of int labels.

    Args:
        labels: `[n, num_columns]` non-negative int labels.

    Returns:
        `[num_columns]` entropies in nats.
    """
    labels = np.asarray(labels)
    out = np.empty(labels.shape[1])
    for j in range(labels.shape[1]):
        p = np.bincount(labels[:, j]) / labels.shape[0]
        p = p[p > 0]
        out[j] = -np.sum(p * np.log(p))
    return out


def discrete_mutual_info(a, b) -> np.ndarray:
    r"""Plug-in mutual information (nats) between every column of `a` and every column of `b`.

    .. math:: I(a_i; b_j) = \sum_{u,v} p(u, v) \log \frac{p(u, v)}{p(u) p(v)}

    from the empirical joint histogram; equals `sklearn.metrics.mutual_info_score`.

    Args:
        a: `[n, num_a]` non-negative int labels.
        b: `[n, num_b]` non-negative int labels.

    Returns:
        `[num_a, num_b]` mutual information in nats (clipped at 0 against round-off).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    n = a.shape[0]
    out = np.empty((a.shape[1], b.shape[1]))
    b_codes = [np.unique(b[:, j], return_inverse=True)[1].reshape(-1) for j in range(b.shape[1])]
    for i in range(a.shape[1]):
        ai = np.unique(a[:, i], return_inverse=True)[1].reshape(-1)
        na = ai.max() + 1
        pa = np.bincount(ai, minlength=na) / n
        for j, bj in enumerate(b_codes):
            nb = bj.max() + 1
            joint = np.bincount(ai * nb + bj, minlength=na * nb).reshape(na, nb) / n
            pb = joint.sum(axis=0)
            nz = joint > 0
            ratio = joint[nz] / (pa[:, None] * pb[None, :])[nz]
            out[i, j] = np.sum(joint[nz] * np.log(ratio))
    return np.maximum(out, 0.0)

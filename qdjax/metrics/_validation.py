"""Input checks shared by the metrics (host-side NumPy)."""

from __future__ import annotations

import numpy as np


def as_codes_and_factors(z, s) -> tuple[np.ndarray, np.ndarray]:
    """Returns `z` and `s` as 2-D float64 arrays, raising a one-line `ValueError` when malformed.

    Args:
        z: codes, `[n, num_latents]`.
        s: ground-truth factors, `[n, num_factors]`.

    Returns:
        `(z, s)` as float64 arrays of shapes `[n, num_latents]` and `[n, num_factors]`.
    """
    z = as_matrix(z, "z", "[n, num_latents]")
    s = as_matrix(s, "s", "[n, num_factors]")
    if z.shape[0] != s.shape[0]:
        raise ValueError(
            f"z and s must have the same number of rows n; got z {z.shape} and s {s.shape}"
        )
    return z, s


def as_matrix(a, name: str, shape_name: str, *, min_rows: int = 2) -> np.ndarray:
    """Returns `a` as a finite 2-D float64 array or raises a one-line `ValueError`."""
    a = np.asarray(a)
    if a.ndim == 1:
        raise ValueError(
            f"{name} must be 2-D {shape_name}; got shape {a.shape} "
            f"(use {name}[:, None] for one column)"
        )
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D {shape_name}; got shape {a.shape} (reshape it)")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ValueError(f"{name} must be numeric; got dtype {a.dtype} (cast with .astype(float))")
    a = a.astype(np.float64)
    if a.shape[0] < min_rows or a.shape[1] < 1:
        raise ValueError(
            f"{name} must have at least {min_rows} rows and 1 column {shape_name}; "
            f"got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        bad = int(np.sum(~np.isfinite(a)))
        raise ValueError(
            f"{name} contains {bad} non-finite values (NaN/Inf); drop or impute those rows"
        )
    return a


def check_factors_vary(s: np.ndarray) -> None:
    """The one rule for constant factors, shared by every metric: reject them.

    A constant factor has zero entropy, so MIG's and InfoMEC's normalizations are undefined and
    MCC/DCI/SAP would score a column carrying no information; every metric raises the same
    one-line ValueError instead.
    """
    constant = np.flatnonzero(np.all(s == s[:1], axis=0))
    if constant.size:
        raise ValueError(
            f"factors {constant.tolist()} of s are constant (zero entropy); drop those columns"
        )


def as_int_labels(a: np.ndarray, name: str) -> np.ndarray:
    """Returns a 2-D float array as int64 class labels; raises if any value is not an integer."""
    if not np.all(a == np.round(a)):
        raise ValueError(
            f"{name} must hold integer class labels for this metric; got non-integer values "
            f"(discretize continuous factors first, e.g. with qdjax.metrics.discretize)"
        )
    return a.astype(np.int64)


def train_test_arrays(
    z, s, z_test, s_test, *, train_size: int, test_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated `(z_train, s_train, z_test, s_test)`, splitting `(z, s)` when no test set given.

    With explicit `z_test, s_test` the training arrays are `z, s` as given (no subsampling).
    Otherwise the rows are shuffled with `np.random.default_rng(seed)`; the first `train_size`
    rows train and the next `test_size` rows test. If `n < train_size + test_size`, the rows are
    split in the ratio `train_size : test_size` instead (all rows used).
    """
    z, s = as_codes_and_factors(z, s)
    if (z_test is None) != (s_test is None):
        raise ValueError("pass both z_test and s_test, or neither (then z, s are split)")
    if z_test is not None:
        z_test, s_test = as_codes_and_factors(z_test, s_test)
        if z_test.shape[1] != z.shape[1] or s_test.shape[1] != s.shape[1]:
            raise ValueError(
                f"test arrays must have the columns of z {z.shape} and s {s.shape}; "
                f"got z_test {z_test.shape} and s_test {s_test.shape}"
            )
        return z, s, z_test, s_test
    if int(train_size) < 1 or int(test_size) < 1:
        raise ValueError(f"train_size and test_size must be >= 1; got {train_size}, {test_size}")
    n = z.shape[0]
    if n >= train_size + test_size:
        n_train, n_test = int(train_size), int(test_size)
    else:
        n_train = int(round(n * train_size / (train_size + test_size)))
        n_train = min(max(n_train, 1), n - 1)
        n_test = n - n_train
    perm = np.random.default_rng(seed).permutation(n)
    train, test = perm[:n_train], perm[n_train : n_train + n_test]
    return z[train], s[train], z[test], s[test]


def standardize_splits(z_tr: np.ndarray, z_te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z-scores both splits in float64 with the training split's mean and std per code
    (std 1 for a constant code, which is only centered and stays constant)."""
    z_tr, z_te = np.asarray(z_tr, np.float64), np.asarray(z_te, np.float64)
    mean = z_tr.mean(axis=0)
    std = z_tr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (z_tr - mean) / std, (z_te - mean) / std

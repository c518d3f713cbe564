"""Tests for the discrete mutual information helpers against sklearn / scipy."""

import numpy as np
import scipy.stats
import sklearn.metrics

from qdjax.metrics import discrete_entropy, discrete_mutual_info, discretize


def test_mutual_info_matches_sklearn():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, size=(500, 3))
    b = np.stack([a[:, 0] // 2, rng.integers(0, 4, 500), (a[:, 2] + rng.integers(0, 2, 500))], 1)
    mi = discrete_mutual_info(a, b)
    for i in range(3):
        for j in range(3):
            expected = sklearn.metrics.mutual_info_score(a[:, i], b[:, j])
            np.testing.assert_allclose(mi[i, j], expected, atol=1e-12)


def test_mutual_info_ignores_label_values():
    # Only the partition matters: relabeling classes (non-consecutive ints) changes nothing.
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, size=(300, 1))
    b = (a + rng.integers(0, 2, size=(300, 1))) % 4
    np.testing.assert_allclose(
        discrete_mutual_info(a * 7 + 3, b), discrete_mutual_info(a, b), atol=1e-12
    )


def test_entropy_matches_scipy():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 7, size=(400, 2))
    for j in range(2):
        expected = scipy.stats.entropy(np.bincount(labels[:, j]))
        np.testing.assert_allclose(discrete_entropy(labels)[j], expected, atol=1e-12)
    # MI of a variable with itself is its entropy.
    np.testing.assert_allclose(
        np.diag(discrete_mutual_info(labels, labels)), discrete_entropy(labels), atol=1e-12
    )


def test_discretize_matches_histogram_digitize():
    # disentanglement_lib: np.digitize(x, np.histogram(x, bins)[1][:-1]) gives labels 1..bins.
    x = np.random.default_rng(3).normal(size=(1000, 3))
    expected = np.stack(
        [np.digitize(x[:, j], np.histogram(x[:, j], 20)[1][:-1]) - 1 for j in range(3)], 1
    )
    np.testing.assert_array_equal(discretize(x, num_bins=20), expected)


def test_discretize_edges_and_constant():
    x = np.array([[0.0, 5.0], [0.5, 5.0], [1.0, 5.0]])
    np.testing.assert_array_equal(discretize(x, num_bins=2), [[0, 0], [1, 0], [1, 0]])

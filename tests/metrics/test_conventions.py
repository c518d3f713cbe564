"""Rules every metric shares (issue 9, item 8): constant factors, MIG's binning, InfoMEC's
sparse discrete design."""

import numpy as np
import pytest
from sklearn import preprocessing

from qdjax.metrics import _infomec, dci, discretize, infomec, mcc, mig, sap
from tests.metrics.conftest import make_factors

METRICS = {
    "mcc": lambda z, s: mcc(z, s),
    "dci": lambda z, s: dci(z, s, train_size=300, test_size=100),
    "sap": lambda z, s: sap(z, s, train_size=300, test_size=100),
    "mig": lambda z, s: mig(z, s),
    "infomec": lambda z, s: infomec(z, s, mi_estimator="binned"),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_constant_factor_rejected_by_every_metric(name):
    s = make_factors(n=400)
    s[:, 1] = 2  # a constant factor carries no information: one rule, one message, for all
    z = s + np.random.default_rng(0).normal(scale=0.1, size=s.shape)
    with pytest.raises(ValueError, match=r"factors \[1\] of s are constant"):
        METRICS[name](z, s)


def _dlib_histogram_discretize(x, num_bins):
    # disentanglement_lib evaluation/metrics/utils.py:_histogram_discretize (one row per code)
    return np.stack([np.digitize(col, np.histogram(col, num_bins)[1][:-1]) for col in x.T], axis=1)


def test_discretize_matches_disentanglement_lib_on_bin_edges():
    # columns whose values include every bin edge: the floor((x - lo) / width * bins) rule puts
    # some of them (e.g. the 4th-6th edges of [-1.38, 0.82]) into the bin below
    cols = []
    for lo, hi in [(-1.3812797174167781, 0.8217701239287258), (1.8796, 2.4765), (0.0, 1.0)]:
        edges = np.histogram_bin_edges(np.array([lo, hi]), 20)
        cols.append(np.concatenate([edges, np.linspace(lo, hi, 17)]))
    x = np.stack(cols, axis=1)
    labels = discretize(x, num_bins=20)
    np.testing.assert_array_equal(labels, _dlib_histogram_discretize(x, 20) - 1)
    np.testing.assert_array_equal(labels[:21, 0], [*range(20), 19])  # edge k opens bin k
    floor = np.clip(np.floor((x - x.min(0)) / (x.max(0) - x.min(0)) * 20), 0, 19)
    assert np.any(floor != labels)  # the rule this replaces disagrees on edge values
    # random data and a continuous factor in MIG go through the same rule
    r = np.random.default_rng(1).normal(size=(500, 4))
    np.testing.assert_array_equal(discretize(r, num_bins=7), _dlib_histogram_discretize(r, 7) - 1)


def test_infomec_sparse_discrete_design_gives_the_dense_numbers():
    s = make_factors(n=600)
    rng = np.random.default_rng(3)
    z = np.concatenate([s, rng.integers(0, 4, size=(600, 2))], axis=1).astype(float)
    z[rng.uniform(size=z.shape) < 0.15] = 0.0  # noisy codes: the fits are not trivial
    result = infomec(z, s, discrete_latents=True)
    # the dense one-hot design the metric used before
    x = preprocessing.OneHotEncoder(sparse_output=False).fit_transform(_infomec.encode_labels(z))
    for i in range(s.shape[1]):
        y = _infomec.encode_labels(s.astype(float))[:, i]
        nll, _ = _infomec._logistic_nll_and_bacc(x, y, "balanced", 100, 0)
        expected = np.clip(1.0 - nll / np.log(len(np.unique(y))), 0.0, 1.0)
        np.testing.assert_allclose(result.infoe_per_factor[i], expected, rtol=1e-6, atol=1e-8)

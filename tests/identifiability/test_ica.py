"""JAX FastICA against scikit-learn, and the non-Gaussianity verdict."""

import warnings

import numpy as np
import pytest
from sklearn.decomposition import FastICA

from qdjax import data, identifiability


@pytest.mark.parametrize("fun", ["logcosh", "exp", "cube"], ids=["logcosh", "exp", "cube"])
def test_fast_ica_agrees_with_sklearn_up_to_permutation_and_sign(fun):
    ds = data.make_ica(0, num_samples=4000, num_sources=4)
    ours = identifiability.fast_ica(ds.x, fun=fun, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = FastICA(whiten="unit-variance", fun=fun, random_state=0, tol=1e-4).fit(ds.x)
    s_sk = sk.transform(ds.x)
    corr = np.abs(np.corrcoef(ours.sources.T, s_sk.T)[:4, 4:])
    assert np.all(corr.max(axis=1) >= 0.99), corr  # each of ours matches one of sklearn's
    assert identifiability.dictionary_mcc(ours.mixing, sk.mixing_).mcc >= 0.99
    assert identifiability.dictionary_mcc(ours.mixing, ds.mixing).mcc >= 0.98
    np.testing.assert_allclose(ours.sources.std(0), 1.0, atol=1e-3)


def test_non_gaussianity_verdict_counts_gaussian_components():
    for g, expected in [(0, True), (1, True), (2, False)]:
        ds = data.make_ica(1, num_samples=5000, num_sources=4, num_gaussian=g)
        v = identifiability.non_gaussianity_verdict(ds.s)
        assert v.holds is expected, v.summary()
        assert set(np.flatnonzero(ds.gaussian)) <= set(v.gaussian_like)
    v = identifiability.non_gaussianity_verdict(ds.s[:50])
    assert v.holds is None


def test_fast_ica_bad_inputs():
    x = np.random.default_rng(0).normal(size=(100, 3))
    x[[7, 9]] = np.nan
    with pytest.raises(ValueError, match=r"2 row\(s\) with NaN/Inf \(first: row 7\)"):
        identifiability.fast_ica(x)
    with pytest.raises(ValueError, match="must be 2-D"):
        identifiability.fast_ica(np.ones(10))
    with pytest.raises(ValueError, match="fun must be one of"):
        identifiability.fast_ica(np.ones((10, 2)), fun="tanh")

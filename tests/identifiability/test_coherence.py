"""Coherence, babel, spark (closed forms, brute force) and the k-sparse verdict."""

import itertools
import math

import numpy as np
import pytest

from qdjax import data, identifiability


def _simplex_etf(n):
    """n unit vectors in R^(n-1) with pairwise inner product -1/(n-1) (equiangular)."""
    centred = np.eye(n) - 1.0 / n
    u, s, _ = np.linalg.svd(centred)
    frame = (u[:, : n - 1] * s[: n - 1]).T  # [n-1, n]
    return frame / np.linalg.norm(frame, axis=0)


def test_identity_has_zero_coherence_and_infinite_spark():
    eye = np.eye(5)
    assert identifiability.mutual_coherence(eye) == 0.0
    assert identifiability.babel(eye, 3) == 0.0
    assert identifiability.spark(eye) == math.inf


@pytest.mark.parametrize("n", [3, 4, 6], ids=["n3", "n4", "n6"])
def test_equiangular_simplex_frame_closed_forms(n):
    frame = _simplex_etf(n) * np.arange(1, n + 1)  # column scaling must not matter
    mu = 1.0 / (n - 1)
    assert identifiability.mutual_coherence(frame) == pytest.approx(mu, abs=1e-6)
    assert identifiability.babel(frame, n - 2) == pytest.approx((n - 2) * mu, abs=1e-5)
    assert identifiability.spark(frame) == n  # every n-1 columns independent, all n dependent


def test_union_of_identity_and_hadamard_has_coherence_one_over_sqrt_d():
    d, _ = data.make_dictionary(3, 16, 32)
    assert identifiability.mutual_coherence(d) == pytest.approx(0.25, abs=1e-6)


def _brute_spark(d):
    d = d / np.linalg.norm(d, axis=0)
    for s in range(1, d.shape[1] + 1):
        for cols in itertools.combinations(range(d.shape[1]), s):
            if np.linalg.matrix_rank(d[:, cols], tol=1e-6) < s:
                return s
    return math.inf


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["s0", "s1", "s2"])
def test_spark_matches_brute_force_on_tiny_matrices(seed):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(4, 6))
    d[:, 5] = d[:, 0] - 2 * d[:, 3]  # a planted dependent triple
    if seed == 1:
        d[:, 4] = 3 * d[:, 2]  # a parallel pair: spark 2
    assert identifiability.spark(d) == _brute_spark(d)


def test_spark_size_guard_names_the_alternative():
    d = np.random.default_rng(0).normal(size=(20, 60))
    with pytest.raises(ValueError, match=r"max_subsets=1000\); use 1 \+ 1/mutual_coherence"):
        identifiability.spark(d, max_subsets=1000)


def test_blocked_coherence_equals_dense_gram():
    d = np.random.default_rng(0).normal(size=(10, 37))
    dn = d / np.linalg.norm(d, axis=0)
    g = np.abs(dn.T @ dn)
    np.fill_diagonal(g, 0)
    stats = identifiability.coherence_stats(d, 4, block_size=8)
    np.testing.assert_allclose(stats.top_values, -np.sort(-g, axis=1)[:, :4], atol=1e-6)
    assert identifiability.babel(d, 4, block_size=8) == pytest.approx(
        np.max(np.sort(g, axis=1)[:, -4:].sum(1)), abs=1e-5
    )


def test_bad_dictionaries_are_one_line_errors():
    d = np.random.default_rng(0).normal(size=(4, 6))
    d[:, [2, 4]] = 0.0
    with pytest.raises(ValueError, match=r"2 zero column\(s\) \(first: column 2\)"):
        identifiability.mutual_coherence(d)
    with pytest.raises(ValueError, match="must be 2-D"):
        identifiability.mutual_coherence(np.ones(4))
    with pytest.raises(ValueError, match="NaN/Inf"):
        identifiability.mutual_coherence(np.full((3, 3), np.nan))


def test_verdict_flips_when_planted_coherence_passes_the_bound():
    kw = dict(num_samples=300, d_in=16, width=32, k=2)
    ok = data.make_sparse_coding(0, **kw)
    v = identifiability.k_sparse_verdict(ok.dictionary, ok.codes)
    assert v.holds is True and v.rule == "coherence" and v.mu == pytest.approx(0.25, abs=1e-6)
    coherent = data.make_sparse_coding(0, plant_coherence=0.9, **kw)
    v = identifiability.k_sparse_verdict(coherent.dictionary, coherent.codes)
    assert v.holds is not True and v.mu >= 0.9 - 1e-6  # bound fails: no certificate
    dependent = data.make_sparse_coding(0, plant_dependent=1, **kw)
    v = identifiability.k_sparse_verdict(dependent.dictionary, dependent.codes)
    assert v.holds is False and v.rule == "dependent subset"
    assert set(v.witness) == {int(dependent.planted[0])} | set(v.witness)
    assert len(v.witness) == 3 and v.witness_sigma_min < 1e-5


def test_verdict_exact_spark_and_dimension_rules():
    d = np.random.default_rng(0).normal(size=(6, 8))
    v = identifiability.k_sparse_verdict(d, l0=np.array([1, 3, 2]), dependence_tol=1e-6)
    assert v.rule == "exact spark" and v.spark_exact == 7 and v.holds is True  # 7 > 6
    v = identifiability.k_sparse_verdict(d, l0=np.array([4]), dependence_tol=1e-6)
    assert v.holds is False  # 7 <= 8
    v = identifiability.k_sparse_verdict(d, l0=np.array([3]), dependence_tol=0.5)
    assert v.spark_exact < 7  # a looser tolerance counts nearly dependent subsets
    codes = np.zeros((3, 8))
    v = identifiability.k_sparse_verdict(d, codes)
    assert v.holds is None
    with pytest.raises(ValueError, match="exactly one of codes"):
        identifiability.k_sparse_verdict(d)


def test_coherence_of_a_768_by_16384_dictionary_is_blocked():
    # Only block_size x width floats are live at once; here a 64 x 2048 stand-in with tiny
    # blocks exercises the padding of the last block (the full size runs in benchmarks/sae.py).
    d = np.random.default_rng(0).normal(size=(64, 2048)).astype(np.float32)
    mu = identifiability.mutual_coherence(d, block_size=300)
    dn = d / np.linalg.norm(d, axis=0)
    g = np.abs(dn.T @ dn)
    np.fill_diagonal(g, 0)
    assert mu == pytest.approx(g.max(), abs=1e-5)


@pytest.mark.parametrize("scale", [1e-13, 1e13, 1e-300, 1e300], ids=lambda s: f"{s:g}")
def test_coherence_is_invariant_to_a_global_rescaling(scale):
    d = np.random.default_rng(0).normal(size=(16, 12))
    mu = identifiability.mutual_coherence(d)
    assert identifiability.mutual_coherence(d * scale) == pytest.approx(mu, rel=1e-6)
    assert identifiability.babel(d * scale, 3) == pytest.approx(
        identifiability.babel(d, 3), rel=1e-6
    )
    # Dead atoms are still found, relative to the largest column norm.
    d[:, 5] = 0.0
    d[:, 7] *= 1e-14
    with pytest.raises(ValueError, match=r"2 zero column\(s\) \(first: column 5\)"):
        identifiability.mutual_coherence(d * scale)


def test_non_integer_l0_is_rounded_up():
    d = np.random.default_rng(0).normal(size=(4, 6))  # generic: exact spark 5
    v = identifiability.k_sparse_verdict(d, l0=np.array([2.9, 2.9]), dependence_tol=1e-6)
    assert v.k == 3 and v.spark_exact == 5 and v.holds is False  # 5 <= 2k = 6
    ref = identifiability.k_sparse_verdict(d, l0=np.array([3, 3]), dependence_tol=1e-6)
    assert (v.holds, v.k, v.reason) == (ref.holds, ref.k, ref.reason)
    assert identifiability.k_sparse_verdict(d, l0=[2.1], dependence_tol=1e-6).k == 3
    v = identifiability.k_sparse_verdict(d, l0=np.array([2, 1]), dependence_tol=1e-6)
    assert v.k == 2 and v.holds is True  # integers unchanged: 5 > 4


def test_bad_l0_and_nan_codes_are_one_line_errors():
    d = np.random.default_rng(0).normal(size=(4, 6))
    codes = np.random.default_rng(1).normal(size=(5, 6))
    codes[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"codes has 1 row\(s\) with NaN/Inf \(first: row 3\)"):
        identifiability.k_sparse_verdict(d, codes)
    with pytest.raises(ValueError, match="NaN/Inf"):
        identifiability.measured_l0(codes)
    for bad, first in (([2, -1], "l0\\[1\\] = -1.0"), ([np.nan, 2], "l0\\[0\\] = nan")):
        with pytest.raises(ValueError, match=rf"l0 must be finite counts >= 0; .*{first}"):
            identifiability.k_sparse_verdict(d, l0=np.array(bad))
    with pytest.raises(ValueError, match="l0 must hold real per-sample counts"):
        identifiability.k_sparse_verdict(d, l0=np.array(["2"]))

"""Oracle tests for qdjax.metrics.sap (classification and regression variants)."""

import numpy as np
from sklearn import svm

from qdjax.metrics import sap, top_two_gap


def test_top_two_gap_hand_computed():
    m = np.array([[0.9, 0.2], [0.3, 0.6], [0.1, 0.5]])
    np.testing.assert_allclose(top_two_gap(m), [0.6, 0.1], atol=1e-12)


def _binary_factors(n=1200, seed=0):
    return np.random.default_rng(seed).integers(0, 2, size=(n, 3))


def test_classification_identity_binary_at_ceiling():
    s = _binary_factors()
    z = 10.0 * s + np.random.default_rng(1).normal(size=s.shape)  # separable from one code
    result = sap(z, s)
    # Accuracy-based: the matched code is perfect (1.0) and an unrelated code with balanced
    # class weights sits at chance (~0.5), so a perfect binary code scores ~0.5.
    np.testing.assert_allclose(np.diag(result.score_matrix), 1.0, atol=0.01)
    np.testing.assert_allclose(result.per_factor, 0.5, atol=0.07)


def test_classification_multiclass_is_limited(factors):
    # One-vs-rest linear SVMs on a single code cannot isolate middle classes: disentanglement_lib's
    # discrete SAP stays well below 1 even for a perfect code with more than 2 classes.
    result = sap(10.0 * factors.astype(float), factors)
    assert 0.2 < result.score < 0.9


def test_regression_identity_one():
    s = np.random.default_rng(0).uniform(size=(1500, 3))
    result = sap(s, s)
    np.testing.assert_allclose(result.score, 1.0, atol=0.01)


def test_regression_permuted_sign_flipped_exact():
    rng = np.random.default_rng(0)
    s = rng.uniform(size=(1500, 3))
    z = s + 0.3 * rng.normal(size=s.shape)
    base = sap(z, s)
    flipped = sap(-2.0 * z[:, [1, 2, 0]] + 4.0, s)
    np.testing.assert_allclose(flipped.score, base.score, atol=1e-12)


def test_regression_warp_not_invariant():
    s = np.random.default_rng(0).uniform(size=(1500, 2))
    assert sap(np.exp(8.0 * s), s).score < sap(s, s).score - 0.1


def test_noise_and_constant_near_zero(factors):
    noise = np.random.default_rng(2).normal(size=(len(factors), 3))
    assert sap(noise, factors).score < 0.05
    assert sap(np.ones((len(factors), 3)), factors).score == 0.0
    s = np.random.default_rng(0).uniform(size=(1500, 2))
    assert sap(np.ones((1500, 2)), s).score == 0.0


def test_duplicated_code_penalized():
    s = _binary_factors()
    z = 10.0 * s + np.random.default_rng(1).normal(size=s.shape)
    result = sap(np.concatenate([z, z[:, [0]]], axis=1), s)
    assert result.per_factor[0] == 0.0 and result.per_factor[1] > 0.4


def test_rotation_in_between():
    s = np.random.default_rng(0).uniform(size=(1500, 2)) - 0.5
    c = np.cos(np.pi / 8)
    z = s @ np.array([[c, -np.sin(np.pi / 8)], [np.sin(np.pi / 8), c]])
    assert 0.3 < sap(z, s).score < 0.95


def test_deterministic(factors):
    z = factors + np.random.default_rng(3).normal(size=factors.shape)
    assert sap(z, factors, seed=1).score == sap(z, factors, seed=1).score


def _multiclass_codes(factors, seed=4):
    return factors + 0.1 * np.random.default_rng(seed).normal(size=factors.shape)


def test_default_classification_is_the_reference_on_raw_codes(factors):
    # disentanglement_lib's discrete SAP, re-implemented directly: LinearSVC(C=0.01) on each raw
    # code; with explicit test arrays no split is involved. Shifted codes (+1000) keep the
    # reference's behaviour: the regularized intercept cannot reach the threshold.
    z = _multiclass_codes(factors)
    for codes in (z, z + 1000.0):
        tr, te = slice(0, 1000), slice(1000, None)
        expected = np.zeros((3, 3))
        for i in range(3):
            for k in range(3):
                clf = svm.LinearSVC(C=0.01, class_weight="balanced", random_state=0)
                clf.fit(codes[tr, [i]], factors[tr, k])
                expected[i, k] = np.mean(clf.predict(codes[te, [i]]) == factors[te, k])
        result = sap(codes[tr], factors[tr], z_test=codes[te], s_test=factors[te])
        np.testing.assert_array_equal(result.score_matrix, expected)
        unchanged = sap(
            codes[tr], factors[tr], z_test=codes[te], s_test=factors[te], standardize=False
        )
        np.testing.assert_array_equal(unchanged.score_matrix, expected)
    assert sap(z + 1000.0, factors).score < 0.05 < 0.4 < sap(z, factors).score


def test_standardize_makes_classification_shift_and_scale_invariant(factors):
    z = _multiclass_codes(factors)
    base = sap(z, factors, standardize=True)
    assert base.score > 0.4
    for codes in (z + 1000.0, 1e-3 * z, -1e3 * z + 5.0, 1e6 * z - 3e6):
        # before: the default (raw codes) drops to 0 at +1000 and 1e-3; no keyword existed
        got = sap(codes, factors, standardize=True)
        np.testing.assert_allclose(got.score_matrix, base.score_matrix, atol=1e-12)
        np.testing.assert_allclose(got.score, base.score, atol=1e-12)
    assert sap(1e-3 * z, factors).score < 0.05  # the default still follows the reference
    # a constant code is centred, not divided by 0: finite, and the other codes are unchanged
    const = np.concatenate([z, np.full((len(z), 1), 7.0)], axis=1)
    result = sap(const, factors, standardize=True)
    assert np.all(np.isfinite(result.score_matrix))
    np.testing.assert_allclose(result.score_matrix[:3], base.score_matrix, atol=1e-12)

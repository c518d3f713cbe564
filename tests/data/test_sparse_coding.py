"""Sparse-coding / ICA generators and the memory-mapped feature source."""

import numpy as np
import pytest

from qdjax import data


def test_codes_are_exactly_k_sparse_and_reconstruct_x():
    ds = data.make_sparse_coding(0, num_samples=500, d_in=16, width=32, k=3)
    np.testing.assert_array_equal(np.sum(ds.codes > 0, axis=1), 3)
    np.testing.assert_allclose(ds.x, ds.codes @ ds.dictionary.T, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ds.dictionary, axis=0), 1.0, atol=1e-6)


def test_planted_coherence_and_dependence():
    d, planted = data.make_dictionary(0, 16, 32, plant_coherence=0.8, plant_dependent=2)
    g = np.abs(d.T @ d)
    np.fill_diagonal(g, 0)
    assert g.max() >= 0.8 - 1e-6 and planted.size == 3
    for c in planted[1:]:  # each dependent atom lies in the span of two others
        others = np.delete(d, c, axis=1)
        best = np.argsort(-np.abs(others.T @ d[:, c]))[:2]
        resid = np.linalg.lstsq(others[:, best], d[:, c], rcond=None)[1]
        assert resid.size == 0 or resid[0] < 1e-10


def test_zipf_frequencies_and_hierarchy():
    ds = data.make_sparse_coding(1, num_samples=20_000, d_in=16, width=32, k=2, zipf_exponent=1.2)
    emp = (ds.codes > 0).mean(0)
    assert np.corrcoef(emp, ds.frequencies)[0, 1] > 0.95
    h = data.make_sparse_coding(2, num_samples=2000, d_in=16, width=20, k=3, num_parents=4)
    active = h.codes > 0
    for child in range(4, 20):
        parent = (child - 4) % 4
        assert np.all(active[active[:, child], parent])


def test_ica_sources():
    ds = data.make_ica(0, num_samples=3000, num_sources=5, num_gaussian=2)
    np.testing.assert_allclose(ds.s.std(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(ds.gaussian, [False, False, False, True, True])
    np.testing.assert_allclose(ds.x, ds.s @ ds.mixing.T, atol=1e-4)


def test_generator_errors():
    with pytest.raises(ValueError, match=r"k must satisfy 1 <= k < width \(8\); got k=8"):
        data.make_sparse_coding(0, num_samples=10, d_in=4, width=8, k=8)
    with pytest.raises(ValueError, match="power of two"):
        data.make_dictionary(0, 12, 16)


def test_npy_feature_source_streams_a_memmap(tmp_path):
    x = np.random.default_rng(0).normal(size=(100, 6)).astype(np.float32)
    path = str(tmp_path / "acts.npy")
    np.save(path, x)
    src = data.NpyFeatureSource(path, batch_size=16, seed=3)
    assert isinstance(src.x, np.memmap)
    b = src.batch(5)
    np.testing.assert_array_equal(b.x, x[src.indices(5)])
    assert b.s.shape == (16, 1)
    np.testing.assert_array_equal(
        src.batch(5).x, data.NpyFeatureSource(path, batch_size=16, seed=3).batch(5).x
    )


def test_bad_feature_files_are_one_line_errors(tmp_path):
    x = np.ones((50, 4), np.float32)
    x[[3, 10, 11]] = np.nan
    path = str(tmp_path / "bad.npy")
    np.save(path, x)
    with pytest.raises(ValueError, match=r"has 3 row\(s\) with NaN/Inf \(first: row 3\)"):
        data.NpyFeatureSource(path, batch_size=8)
    np.save(path, np.ones((5, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"must be 2-D \[samples, dim\]"):
        data.NpyFeatureSource(path, batch_size=2)
    with pytest.raises(ValueError, match="cannot read features file"):
        data.NpyFeatureSource(str(tmp_path / "missing.npy"), batch_size=2)
    with pytest.raises(ValueError, match="floating point"):
        data.check_features(np.ones((4, 2), np.int32))

"""Verdict examples of the concept-extraction checks (registered in test_verdict_contract)."""

import numpy as np

from qdjax import data, identifiability


def _k_sparse():
    ds = data.make_sparse_coding(0, num_samples=200, d_in=16, width=32, k=2)
    return identifiability.k_sparse_verdict(ds.dictionary, ds.codes)


def _k_sparse_dependent():
    ds = data.make_sparse_coding(0, num_samples=200, d_in=16, width=32, k=2, plant_dependent=1)
    return identifiability.k_sparse_verdict(ds.dictionary, ds.codes)


def _non_gaussianity():
    ica = data.make_ica(0, num_samples=500, num_sources=3, num_gaussian=2)
    return identifiability.non_gaussianity_verdict(ica.s)


def _seed_consistency():
    d, _ = data.make_dictionary(0, 8, 12)
    runs = [d[:, np.random.default_rng(i).permutation(12)] for i in range(3)]
    return identifiability.seed_consistency(runs, num_bootstrap=50)


EXAMPLES = {
    "k_sparse": _k_sparse,
    "k_sparse_dependent": _k_sparse_dependent,
    "non_gaussianity": _non_gaussianity,
    "seed_consistency": _seed_consistency,
}

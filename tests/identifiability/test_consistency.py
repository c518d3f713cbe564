"""Dictionary MCC and seed consistency (planted permutations, independent runs)."""

import numpy as np
import pytest

from qdjax import data, identifiability


def test_dictionary_mcc_is_one_up_to_permutation_sign_and_scale():
    d, _ = data.make_dictionary(0, 16, 24, coherence="gaussian")
    perm = np.random.default_rng(1).permutation(24)
    other = d[:, perm] * np.where(np.arange(24) % 2, -2.0, 0.5)
    m = identifiability.dictionary_mcc(d, other)
    assert m.mcc == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(perm[m.cols], m.rows)


def test_seed_consistency_of_identical_runs_holds():
    d, _ = data.make_dictionary(0, 16, 32)
    runs = [d[:, np.random.default_rng(i).permutation(32)] for i in range(4)]
    v = identifiability.seed_consistency(runs, encoders=runs, num_bootstrap=100)
    assert v.holds is True and v.mcc_mean == pytest.approx(1.0, abs=1e-6)
    assert v.shared_fraction == 1.0 and v.unique_fraction_by_runs == (0.0, 0.0, 0.0)


def test_seed_consistency_of_independent_runs_fails_and_unique_fraction_shrinks():
    runs = [data.make_dictionary(i, 8, 32, coherence="gaussian")[0] for i in range(4)]
    v = identifiability.seed_consistency(runs, num_bootstrap=200)
    assert v.holds is False and v.mcc_ci[1] < 0.9
    assert v.mcc_ci[0] <= v.mcc_mean <= v.mcc_ci[1]
    u = np.asarray(v.unique_fraction_by_runs)
    assert np.all(np.diff(u) <= 1e-12)  # more runs: fewer latents unique to one


def test_mismatched_encoders_lower_the_shared_fraction_only():
    d, _ = data.make_dictionary(0, 16, 32)
    enc = [d, data.make_dictionary(5, 16, 32, coherence="gaussian")[0]]
    v = identifiability.seed_consistency([d, d], encoders=enc, num_bootstrap=50)
    assert v.mcc_mean == pytest.approx(1.0, abs=1e-6) and v.shared_fraction < 0.3


def test_consistency_bad_inputs():
    d, _ = data.make_dictionary(0, 8, 12)
    with pytest.raises(ValueError, match="at least 2 dictionaries"):
        identifiability.seed_consistency([d])
    with pytest.raises(ValueError, match="must share d_in"):
        identifiability.dictionary_mcc(d, np.ones((4, 12)))
    with pytest.raises(ValueError, match="one encoder per dictionary"):
        identifiability.seed_consistency([d, d], encoders=[d])

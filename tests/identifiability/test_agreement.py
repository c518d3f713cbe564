"""Agreement of codes across runs: planted agreeing and disagreeing runs, invariances."""

import numpy as np
import pytest

from qdjax import metrics
from qdjax.identifiability import code_agreement
from tests.identifiability.examples_agreement import _runs


def test_monotone_warps_and_permutations_agree_exactly():
    v = code_agreement(_runs(3, 0))
    assert v.holds is True
    np.testing.assert_allclose(v.pairwise, 1.0, atol=1e-12)
    assert v.medoid == 0 and v.agreeing == (0, 1, 2)


def test_pearson_sees_the_warps_spearman_does_not():
    runs = _runs(3, 0)
    p = code_agreement(runs, correlation="pearson")
    assert p.pairwise[0, 2] < 0.99  # exp(s) vs exp(3 s): different warps
    assert code_agreement(runs).pairwise[0, 2] == pytest.approx(1.0)


def test_medoid_is_a_member_of_the_agreeing_group_not_an_outlier():
    runs = _runs(3, 3, seed=1)
    order = [3, 0, 4, 1, 5, 2]  # interleave: the good runs are 1, 3, 5
    v = code_agreement([runs[i] for i in order])
    assert v.holds is None
    assert v.medoid in (1, 3, 5) and set(v.agreeing) == {1, 3, 5}
    # the naive reference: mean off-diagonal MCC per run
    k = len(order)
    naive = [
        np.mean(
            [
                metrics.mcc(runs[order[i]], runs[order[j]], correlation="spearman").score
                for j in range(k)
                if j != i
            ]
        )
        for i in range(k)
    ]
    np.testing.assert_allclose(v.mean_agreement, naive, atol=1e-12)


def test_independent_codes_disagree():
    rng = np.random.default_rng(3)
    v = code_agreement([rng.standard_normal((500, 2)) for _ in range(3)])
    assert v.holds is False and v.pairwise[np.triu_indices(3, 1)].max() < 0.3


def test_bad_input_gets_one_line_errors():
    z = np.zeros((10, 2)) + np.arange(10)[:, None]
    with pytest.raises(ValueError, match="at least 2 runs"):
        code_agreement([z])
    with pytest.raises(ValueError, match="sequence of K >= 2 codes"):
        code_agreement(z)
    with pytest.raises(ValueError, match="same inputs"):
        code_agreement([z, z[:5]])
    with pytest.raises(ValueError, match="non-finite"):
        code_agreement([z, np.where(z > 8, np.nan, z)])
    with pytest.raises(ValueError, match="correlation"):
        code_agreement([z, z], correlation="kendall")
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        code_agreement([z, z[:, 0]])


def test_plot_marks_every_pair_and_outlines_the_medoid():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qdjax.identifiability import plot_code_agreement

    v = code_agreement(_runs(2, 1))
    ax = plot_code_agreement(v)
    assert len(ax.texts) == 9 and f"{v.pairwise[0, 2]:.2f}" in [t.get_text() for t in ax.texts]
    (box,) = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    assert box.get_y() == v.medoid - 0.5 and box.get_width() == 3
    plt.close(ax.figure)


def _wide_and_narrow(seed=0):
    """A 3-D code and a monotone-warped copy of its first two dimensions."""
    z = np.random.default_rng(seed).standard_normal((300, 3))
    return z, np.stack([np.exp(z[:, 1]), -(z[:, 0] ** 3)], 1)


def test_pairwise_matches_the_narrower_run_into_the_wider_in_either_order():
    wide, narrow = _wide_and_narrow()
    # Both dimensions of the narrow run are warps of wide ones: MCC 1 whichever comes first.
    assert code_agreement([wide, narrow]).pairwise[0, 1] == pytest.approx(1.0, abs=1e-12)
    assert code_agreement([narrow, wide]).pairwise[0, 1] == pytest.approx(1.0, abs=1e-12)
    # Reference: the narrow run's dimensions (as factors) matched into the wide run's latents.
    half = np.stack([wide[:, 0], np.random.default_rng(9).standard_normal(300)], 1)
    ref = metrics.mcc(wide, half, correlation="spearman").score
    assert 0.5 < ref < 0.6
    assert code_agreement([half, wide]).pairwise[0, 1] == pytest.approx(ref, abs=1e-12)
    assert code_agreement([wide, half]).pairwise[0, 1] == pytest.approx(ref, abs=1e-12)


def test_pairwise_is_invariant_to_the_order_of_runs_of_different_widths():
    wide, narrow = _wide_and_narrow(1)
    rng = np.random.default_rng(2)
    runs = [wide, narrow, rng.standard_normal((300, 4)), wide[:, :1] + 0.5 * rng.random((300, 1))]
    v = code_agreement(runs)
    np.testing.assert_allclose(v.pairwise, v.pairwise.T, atol=0)
    for perm in ([3, 2, 1, 0], [1, 3, 0, 2]):
        p = code_agreement([runs[i] for i in perm])
        np.testing.assert_allclose(p.pairwise, v.pairwise[np.ix_(perm, perm)], atol=1e-12)
        np.testing.assert_allclose(p.mean_agreement, v.mean_agreement[perm], atol=1e-12)


def test_constant_dimensions_agree_with_nothing_in_either_order():
    wide, _ = _wide_and_narrow(3)
    dead = np.ones((300, 3))
    for runs, dead_run in (([dead, wide], 0), ([wide, dead], 1)):
        v = code_agreement(runs)  # no "factors ... of s are constant" error in either order
        assert v.pairwise[0, 1] == 0.0 and v.holds is False
        assert v.constant_dims[dead_run] == (0, 1, 2) and v.constant_dims[1 - dead_run] == ()
        assert f"run {dead_run} [0, 1, 2]" in v.reason and "\n" not in v.summary()
    # A dead dimension of the narrower run counts 0; one of the wider run stays unmatched.
    half_dead = np.stack([np.exp(wide[:, 0]), np.zeros(300)], 1)
    for runs in ([half_dead, wide], [wide, half_dead]):
        assert code_agreement(runs).pairwise[0, 1] == pytest.approx(0.5, abs=1e-12)
    padded = np.concatenate([wide[:, :2], np.full((300, 1), 7.0)], 1)
    for runs in ([padded, wide[:, :2]], [wide[:, :2], padded]):
        v = code_agreement(runs)
        assert v.pairwise[0, 1] == pytest.approx(1.0, abs=1e-12)
        assert (2,) in v.constant_dims

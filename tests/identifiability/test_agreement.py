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

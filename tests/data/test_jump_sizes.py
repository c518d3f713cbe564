"""GridDensity.jump_sizes: planted cliff sizes in the marginal and conditional densities."""

import numpy as np

from qdjax.data import GridDensity


def test_conditional_only_cliff_and_closed_forms():
    # 2x2 grid, unit widths. Checkerboard 0.4/0.1: marginal of axis 0 is flat (0.5 | 0.5)
    # but each conditional jumps 0.4 -> 0.1 (relative 0.75).
    edges = (np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0]))
    g = GridDensity(edges, np.array([[0.4, 0.1], [0.1, 0.4]]))
    j0, j1 = g.jump_sizes(1000, window=0.1)
    np.testing.assert_allclose(j0.thresholds, [1.0])
    np.testing.assert_allclose(j0.marginal, [0.0], atol=1e-12)
    np.testing.assert_allclose(j0.conditional, [0.75], rtol=1e-12)
    # evidence = n w sum_slabs (pR - pL)^2 / (pR + pL) = 1000 * 0.1 * 2 * 0.09 / 0.5
    np.testing.assert_allclose(j0.evidence, [36.0], rtol=1e-12)
    np.testing.assert_allclose(j1.conditional, [0.75], rtol=1e-12)


def test_no_cliff_when_densities_equal():
    edges = (np.array([0.0, 1.0, 3.0]),)
    g = GridDensity(edges, np.array([1 / 3, 2 / 3]))  # density 1/3 on both cells
    (j,) = g.jump_sizes()
    np.testing.assert_allclose([j.marginal[0], j.conditional[0], j.evidence[0]], 0.0, atol=1e-12)

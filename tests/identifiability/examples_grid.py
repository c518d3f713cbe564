"""Grid-recovery verdict examples for the identifiability contract test."""

import numpy as np

from qdjax.identifiability import recover_grid


def _two_cells():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.uniform(0, 1, (1500, 2)), rng.uniform(1, 1.5, (300, 2))])
    return recover_grid(z, num_bootstrap=2, num_null=4)


def _gaussian():
    return recover_grid(np.random.default_rng(1).standard_normal((1000, 2)), num_bootstrap=2)


def _forced():
    z = np.random.default_rng(2).standard_normal((1000, 1))
    return recover_grid(z, num_cells=3, num_bootstrap=2, num_null=4)


EXAMPLES = {"grid_two_cells": _two_cells, "grid_gaussian": _gaussian, "grid_forced": _forced}

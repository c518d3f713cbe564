"""Code-agreement verdict examples for the identifiability contract test."""

import numpy as np

from qdjax.identifiability import code_agreement


def _runs(num_good: int, num_bad: int, seed: int = 0):
    """Warped/permuted copies of one 2-D code, then rotated and folded versions of it."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(-1, 1, (400, 2))
    out = [np.stack([np.exp(s[:, 1] * (r + 1)), -(s[:, 0] ** 3)], 1) for r in range(num_good)]
    for r in range(num_bad):  # each wrong in its own way: a rotation, then a fold
        a = 0.6 + 0.5 * r
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        u = s @ rot
        out.append(u + (r + 1) * 0.5 * np.sin(3 * u[:, ::-1]))
    return out


EXAMPLES = {
    "agreement_all": lambda: code_agreement(_runs(3, 0)),
    "agreement_some": lambda: code_agreement(_runs(2, 2)),
    "agreement_none": lambda: code_agreement(_runs(1, 2)),
}

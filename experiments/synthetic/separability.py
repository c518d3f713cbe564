"""Are the true grid cells in a learned code at all, or only not axis-aligned?

Cell accuracy asks two things of a code at once: that the code keeps the cells apart
(information) and that their boundaries, the planted cliffs, are axis-aligned (what seed
000's theorem promises up to permutation and reversal). This diagnostic separates the two on
the held-out codes of finished protocol runs (`codes.npz`: codes, true latents, true cells):

- ``recover_grid``: the protocol's number (unsupervised, axis-aligned, told the cell counts);
- ``axis-aligned``: the best axis-aligned threshold per true cliff on the matched code axis
  (`protocol.oracle_cell_accuracy`, supervised): what a perfect detector could read off;
- ``linear`` / ``quadratic``: each true cliff (``cells[:, b] <= c`` vs ``> c``) fitted as
  a logistic-regression boundary on all code axes, with features of degree 1 (a hyperplane)
  or 2 (a conic), cross-fitted (fitted on one half of the codes, predicted on the other, and
  the other way round), then combined into cells and scored by
  `qdjax.metrics.quantized_cell_accuracy`;
- ``chance``: the share of the most frequent true cell (a code with no information about the
  cells gets about this by naming that cell everywhere).

``quadratic`` close to 1 with ``axis-aligned`` far below means the code has the cells but
bends their boundaries: the regularizer failed at alignment, not at keeping the grid. The
supervised columns use the true cells and are diagnostics, never a method's score.

    python -m experiments.synthetic.separability --workdirs=runs/protocol_smooth \\
        --out=experiments/synthetic/results/separability_smooth.md
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np
from absl import app, flags

from experiments.synthetic import protocol

_WORKDIRS, _METHODS, _OUT = None, None, None


def _define_flags() -> None:
    """Defines this script's flags (only when run as a program, so importing it is free)."""
    global _WORKDIRS, _METHODS, _OUT
    _WORKDIRS = flags.DEFINE_list("workdirs", [], "Protocol workdirs (their eval/ runs are read).")
    _METHODS = flags.DEFINE_list("methods", [], "Methods to include (default: every one found).")
    _OUT = flags.DEFINE_string("out", "", "Markdown file to write (with the provenance line).")


def boundary_cell_accuracy(
    z: np.ndarray, cells: np.ndarray, *, degree: int, seed: int = 0, c_inv: float = 1e4
) -> float:
    """Cross-fitted cell accuracy of supervised polynomial boundaries, one per true cliff.

    For every true axis `b` and cell boundary `c`, a logistic regression on the standardized
    code's polynomial features (all monomials up to `degree`) separates ``cells[:, b] <= c``
    from ``> c``; it is fitted on one random half and predicts the other (and the other way
    round). A point's predicted cell on axis `b` is the number of boundaries it is predicted
    to lie above. Returns the exact cell accuracy of these predictions.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import PolynomialFeatures

    from qdjax import metrics

    z = np.asarray(z, np.float64)
    cells = np.asarray(cells)
    if z.ndim != 2 or cells.ndim != 2 or z.shape[0] != cells.shape[0]:
        raise ValueError(
            f"z {z.shape} and cells {cells.shape} must be [n, d] and [n, d_true] with equal n"
        )
    if degree < 1:
        raise ValueError(f"degree must be >= 1, got {degree}")
    sd = z.std(0)
    zs = (z - z.mean(0)) / np.where(sd > 0, sd, 1.0)
    feats = PolynomialFeatures(degree, include_bias=False).fit_transform(zs)
    n = z.shape[0]
    half = np.random.default_rng(seed).permutation(n) < n // 2
    pred = np.zeros_like(cells)
    for b in range(cells.shape[1]):
        for c in range(int(cells[:, b].max())):
            y = cells[:, b] > c
            for fit, test in ((half, ~half), (~half, half)):
                if y[fit].all() or not y[fit].any():
                    pred[test, b] += int(y[fit].all())
                    continue
                clf = LogisticRegression(C=c_inv, max_iter=5000).fit(feats[fit], y[fit])
                pred[test, b] += clf.predict(feats[test]).astype(cells.dtype)
    return float(metrics.quantized_cell_accuracy(pred, cells).accuracy)


def majority_share(cells: np.ndarray) -> float:
    """Share of the most frequent true cell: what a code without information about the cells
    gets by naming that cell for every point (the diagnostic's chance level)."""
    _, counts = np.unique(np.asarray(cells), axis=0, return_counts=True)
    return float(counts.max() / counts.sum())


def run_columns(run_dir: str) -> dict:
    """The cell accuracies and chance level of one finished run (see the module docstring)."""
    codes = np.load(os.path.join(run_dir, "codes.npz"))
    z, cells = codes["z"].astype(np.float64), codes["cells"]
    out = protocol._cell_metrics(run_dir)
    return {
        "recover_grid": out["cell_accuracy_grid"],
        "axis-aligned": oracle if np.isfinite(oracle := out["cell_accuracy_oracle"]) else None,
        "linear": boundary_cell_accuracy(z, cells, degree=1),
        "quadratic": boundary_cell_accuracy(z, cells, degree=2),
        "chance": majority_share(cells),
    }


COLUMNS = ("recover_grid", "axis-aligned", "linear", "quadratic", "chance")


def table(workdirs: list[str], methods: list[str] | None = None) -> str:
    """Markdown: per (setting, method), mean ± std over evaluation seeds of every column."""
    rows: dict[tuple[str, str], list[dict]] = {}
    for wd in workdirs:
        runs = sorted(glob.glob(os.path.join(wd, "eval", "*", "*", "seed_*", "codes.npz")))
        if not runs:
            raise ValueError(f"no finished evaluation runs (eval/*/*/seed_*/codes.npz) in {wd}")
        for path in runs:
            run_dir = os.path.dirname(path)
            method = os.path.basename(os.path.dirname(run_dir))
            setting = os.path.basename(os.path.dirname(os.path.dirname(run_dir)))
            if methods and method not in methods:
                continue
            rows.setdefault((setting, f"{method} ({os.path.basename(wd.rstrip('/'))})"), []).append(
                run_columns(run_dir)
            )
    if not rows:
        raise ValueError(f"none of the methods {methods} was found in {workdirs}")
    lines = [
        "| setting | method (workdir) | seeds | " + " | ".join(COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for (setting, method), vals in rows.items():
        cells = []
        for col in COLUMNS:
            v = np.array([r[col] for r in vals if r[col] is not None], np.float64)
            cells.append(f"{v.mean():.3f} ± {v.std(ddof=1) if v.size > 1 else 0.0:.3f}")
        lines.append(f"| {setting} | {method} | {len(vals)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv) -> int:
    del argv
    from experiments import _cli

    _cli.check_out_path(_OUT.value)
    if not _WORKDIRS.value:
        print("error: --workdirs is required (protocol workdirs, comma-separated)", file=sys.stderr)
        return 2
    try:
        text = table(_WORKDIRS.value, _METHODS.value or None)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    body = (
        "Cell accuracy of held-out codes, mean ± std over evaluation seeds: `recover_grid` "
        "(unsupervised, axis-aligned, the protocol's column), and with the true cells: the best "
        "axis-aligned thresholds, and cross-fitted linear / quadratic boundaries per true cliff "
        "(module docstring); chance = the largest true cell's share.\n\n" + text
    )
    print(_cli.write_report(_OUT.value, "experiments.synthetic.separability", body))
    return 0


if __name__ == "__main__":
    _define_flags()
    app.run(lambda argv: sys.exit(main(argv)))

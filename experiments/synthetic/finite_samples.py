"""Finite samples (seed 000's open question 2): recover_grid vs n, jump size, cells, bandwidth.

`python -m experiments.synthetic.finite_samples --seeds=200,201,202` sweeps one factor at a
time from the default (n = 5000, sharp cliffs, 4 cells per axis, default window scales) on
the true latents of `make_synthetic`: sample size, smoothing of the cliffs (std of a
Gaussian blur, units of z), cells per axis and the window half-widths (a multiplier of
`recover_grid`'s default scales). Writes `<out>.md`, `<out>.json` and `<out>.png` (cell
accuracy, AMI and threshold error per factor).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from experiments import _cli
from qdjax import data, identifiability, metrics

DEFAULT = {"n": 5000, "smoothing": 0.0, "cells": 4, "scale": 1.0}
SWEEPS = {
    "n": [500, 1000, 2000, 5000, 20000, 50000],
    "smoothing": [0.0, 0.05, 0.1, 0.2, 0.4],
    "cells": [2, 3, 4, 6],
    "scale": [0.5, 1.0, 2.0],
}


def threshold_error(found, true) -> float:
    """Mean over true thresholds of the distance to the nearest found one (inf if none)."""
    errs = []
    for f, t in zip(found, true):
        for x in t:
            errs.append(np.min(np.abs(f - x)) if len(f) else np.inf)
    return float(np.mean(errs))


def one(seed, n, smoothing, cells, scale):
    ds = data.make_synthetic(seed, n, cells_per_dim=cells, smoothing=smoothing)
    scales = tuple(scale * s for s in (0.04, 0.08, 0.16))
    g = identifiability.recover_grid(ds.z, scales=scales, num_bootstrap=0, seed=seed)
    c = g.cells(ds.z)
    return {
        "cell_accuracy": metrics.quantized_cell_accuracy(c, ds.cells).accuracy,
        "ami": metrics.partition_agreement(c, ds.cells).score,
        "threshold_error": threshold_error(g.thresholds, ds.density.thresholds),
        "num_cells_found": list(g.num_cells),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="200,201,202")
    p.add_argument("--out", default="experiments/synthetic/results/finite_samples")
    args = p.parse_args(argv)
    _cli.check_out_path(args.out)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        sys.exit(f"error: --seeds must be comma-separated integers; got {args.seeds!r}")
    results = {}
    for factor, values in SWEEPS.items():
        results[factor] = []
        for v in values:
            setting = {**DEFAULT, factor: v}
            runs = [one(s, **setting) for s in seeds]
            results[factor].append({"value": v, "runs": runs})
            acc = np.mean([r["cell_accuracy"] for r in runs])
            print(factor, v, f"acc {acc:.3f}", flush=True)
    head = _cli.provenance("experiments.synthetic.finite_samples", argv)
    lines = [
        f"Seeds {seeds}, {head}. True latents of `make_synthetic`, "
        f"defaults {DEFAULT}; one factor varied at a time. Mean ± std over seeds; threshold "
        "error = mean distance from each true threshold to the nearest found one (units of z;"
        " inf = an axis with none found).",
        "",
    ]
    for factor, rows in results.items():
        lines += [
            f"| {factor} | cell acc. | AMI | threshold error | cells found |",
            "|---|---|---|---|---|",
        ]
        for row in rows:
            a = np.array([r["cell_accuracy"] for r in row["runs"]])
            m = np.array([r["ami"] for r in row["runs"]])
            e = np.array([r["threshold_error"] for r in row["runs"]])
            k = " ".join("x".join(map(str, r["num_cells_found"])) for r in row["runs"])
            lines.append(
                f"| {row['value']} | {a.mean():.3f} ± {a.std():.3f} | {m.mean():.3f} ± "
                f"{m.std():.3f} | {np.median(e):.4f} (median) | {k} |"
            )
        lines.append("")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines))
    with open(args.out + ".json", "w") as f:
        json.dump({"seeds": seeds, "provenance": head, "results": results}, f, allow_nan=True)
    _plot(args.out + ".png", results)
    print("\n".join(lines))


def _plot(path, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for j, (factor, rows) in enumerate(results.items()):
        x = [r["value"] for r in rows]
        for key, ax in (("cell_accuracy", axes[0, j]), ("ami", axes[0, j])):
            v = np.array([[run[key] for run in r["runs"]] for r in rows])
            ax.errorbar(x, v.mean(1), yerr=v.std(1), marker="o", capsize=3, label=key)
        axes[0, j].set_ylim(0, 1.05)
        axes[0, j].set_title(factor)
        axes[0, j].legend(fontsize=7)
        e = np.array([[run["threshold_error"] for run in r["runs"]] for r in rows])
        e = np.where(np.isfinite(e), e, np.nan)
        axes[1, j].plot(x, np.nanmedian(e, axis=1), marker="o")
        axes[1, j].set_yscale("log")
        axes[1, j].set_xlabel(factor)
        axes[1, j].set_ylabel("threshold error (median)")
        if factor == "n":
            for ax in axes[:, j]:
                ax.set_xscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()

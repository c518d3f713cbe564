"""Does a code stay invertible? Diagnostics of protocol codes, with or without a decoder.

`python -m experiments.axis_alignment.codes --workdir=runs/protocol_aa
--methods=ae,axis_alignment,axis_alignment_nodecoder` reads the held-out codes
(`eval/<setting>/<method>/seed_*/codes.npz`, written by `experiments.synthetic.train`) and
reports per method, mean ± std over seeds: the k-NN (k = 10, 3-fold) R² of the true latents `s`
predicted from the standardized code (1 = the code determines the latents: no collapse, no
fold; a collapsed or folded encoder loses it), |corr(z1, z2)| of the code, and the ratio of
the largest to the smallest standard deviation of the code's axes (the criterion is invariant
to scale, so an encoder without a decoder has nothing that fixes it). Writes `--out` (.md).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsRegressor

from experiments import _cli


def diagnostics(z: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """`knn_r2`, `abs_corr` (mean off-diagonal |corr|) and `std_ratio` of one code."""
    z = np.asarray(z, np.float64)
    zs = (z - z.mean(0)) / z.std(0)
    corr = np.corrcoef(zs.T)
    d = z.shape[1]
    off = np.abs(corr[~np.eye(d, dtype=bool)]).mean() if d > 1 else 0.0
    r2 = cross_val_score(KNeighborsRegressor(10), zs, s, cv=3, scoring="r2").mean()
    std = z.std(0)
    return {"knn_r2": float(r2), "abs_corr": float(off), "std_ratio": float(std.max() / std.min())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--methods", default="ae,axis_alignment,axis_alignment_nodecoder")
    p.add_argument("--setting", default="2d")
    p.add_argument("--out", default="experiments/axis_alignment/results/codes.md")
    args = p.parse_args(argv)
    rows = []
    for m in args.methods.split(","):
        pattern = os.path.join(args.workdir, "eval", args.setting, m, "*", "codes.npz")
        files = sorted(glob.glob(pattern))
        if not files:
            sys.exit(f"error: no codes.npz under {args.workdir}/eval/{args.setting}/{m}/")
        ds = [diagnostics(c["z"], c["s"]) for c in map(np.load, files)]
        cells = [
            f"{np.mean([d[k] for d in ds]):.3f} ± {np.std([d[k] for d in ds]):.3f}"
            for k in ("knn_r2", "abs_corr", "std_ratio")
        ]
        rows.append(f"| {m} | {len(ds)} | " + " | ".join(cells) + " |")
    head = _cli.provenance("experiments.axis_alignment.codes", argv)
    lines = [
        f"Held-out codes of the protocol's evaluation runs, {head}. Mean ± std over seeds.",
        "",
        "| method | seeds | k-NN R² of s from z | abs corr(z1, z2) | std ratio of z axes |",
        "|---|---|---|---|---|",
        *rows,
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

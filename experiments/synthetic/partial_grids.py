"""recover_grid when the first pass leaves some axes without a cliff (higher-dimensional grids).

Up to version 10, `recover_grid` ran its rescans conditioned on the recovered grid only when
the first pass (narrow windows, quantile slabs) had found a cliff on *every* axis. In more
than two dimensions that gate is often shut: on the 5-D, 3-cell grids of `make_synthetic`
(tuning seeds 0-9) half the samples had an axis without a first-pass cliff, and then no axis
got the grid-aligned view, the segment scans or the jump-test scan (cell accuracy 0.00-0.19
there vs 0.99 where the gate opened). Version 11 (``rescan_partial=True``) rescans as soon as
one axis has a cliff; an axis still without one is rescanned with the first pass's narrow
windows and the grid-aligned slabs as one more view (the wide segment windows read the
smooth shoulders of a dependent smooth axis, e.g. 0.8 x a grid axis + 0.6 x noise, as
cliffs), and an axis that gains its first cliff triggers one more rescan. Version 12
(``regrow="any"``) repeats the rescans while any axis gains cliffs: each rescan conditions
on the cells found before it, so a cliff that shows only against one found in the same
rescan waits for the next. Version 13 (round 16) holds the first pass to a higher strength
limit (3 times the noise floor) than the rescans (2); the same limit in every pass (a
``VARIANTS`` row) left cliff-less axes on most 5-D grids.

`python -m experiments.synthetic.partial_grids` compares the defaults with that variant and
versions 12, 11 and 10 (``VARIANTS``) on

* true latents of `make_synthetic` grids with more axes or cells (``--settings``: `d2k6` =
  2 axes x 6 cells, `d3k4`, `d5k3`, `d8k2`), scored by exact cell accuracy, AMI and the
  axes left without a cliff;
* samples mixing grid axes with a smooth axis (independent, correlated with a grid axis,
  a banana, skewed), where every cliff on the smooth axis is false.

Writes `<out>.md` and `<out>.json` (provenance in both). Version 11 was designed on grid
seeds 0-9 (`d5k3`) and mixed draws 2000-2005 and evaluated on 100-111 and 3000-3011;
version 12 chosen on seeds 0-9 (`d2k6`, `d5k3`, `d8k2`) and the same mixed draws, and
evaluated on 200-211 and 4000-4011 (the defaults of the flags); version 13 checked on
seeds 0-9 and draws 2000-2005 and evaluated on 300-311 and 5000-5011. Version 16's split
views (round 20: ``test_scan_split``) lost a 5-D grid here (seed 7) when they ran inside every
rescan, so they run once the rescans stop (round 20b); the ``version 15`` row is that change.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from experiments import _cli
from experiments.synthetic._jobs import int_list, map_jobs
from experiments.synthetic.grid_recovery import PAST_VERSIONS
from qdjax import data, identifiability, metrics
from qdjax.train.writers import write_json

SETTINGS = {"d2k6": (2, 6), "d3k4": (3, 4), "d5k3": (5, 3), "d8k2": (8, 2)}
MIXED = (
    "2grid+gauss",
    "2grid+corr0.6",
    "2grid+banana",
    "2grid+exp",
    "1grid+gauss",
    "1grid+corr0.6",
    "1grid+corr0.8",
    "1grid+banana",
    "1grid+triangular",
)
VARIANTS = {
    "defaults": {},
    "version 15 (no split views)": PAST_VERSIONS[15],
    "version 14 (no side-mass limit)": PAST_VERSIONS[14],
    "version 13 (range padding, no local check)": PAST_VERSIONS[13],
    "strength 3 in every pass (version 13)": {**PAST_VERSIONS[13], "min_strength": 3.0},
    "version 12 (first-pass strength 2)": PAST_VERSIONS[12],
    "version 11 (regrow first)": PAST_VERSIONS[11],
    "version 10 (no partial rescans)": PAST_VERSIONS[10],
}


def mixed_sample(kind: str, seed: int, n: int = 5000) -> tuple[np.ndarray, int, np.ndarray]:
    """A draw mixing grid axes (`make_synthetic` latents) with one smooth axis.

    Returns the `[n, d]` sample, the index of its smooth axis (the last one), on which
    every interior cliff is false, and the true cells `[n, axis]` of the grid axes.
    """
    if kind not in MIXED:
        raise ValueError(f"unknown mixed sample {kind!r}; one of {MIXED}")
    ds = data.make_synthetic(seed, n)
    z = ds.z.astype(np.float64)
    rng = np.random.default_rng([seed, 99])
    u = (z[:, 0] - z[:, 0].mean()) / z[:, 0].std()
    g = rng.standard_normal(n)
    smooth = {
        "gauss": g,
        "corr0.6": 0.6 * u + 0.8 * g,
        "corr0.8": 0.8 * u + 0.6 * g,
        "banana": 0.5 * u**2 + g,
        "exp": np.exp(0.5 * g),
        "triangular": rng.triangular(0, 0.2, 1, n),
    }[kind.split("+")[1]]
    axis = 2 if kind.startswith("2grid") else 1
    return np.c_[z[:, :axis], smooth], axis, ds.cells[:, :axis]


def _one(job):
    kind, seed, n, variant = job
    options = VARIANTS[variant]
    if kind in SETTINGS:
        d, k = SETTINGS[kind]
        ds = data.make_synthetic(seed, n, num_latents=d, cells_per_dim=k)
        g = identifiability.recover_grid(ds.z, num_bootstrap=0, **options)
        c = g.cells(ds.z)
        return {
            "cell_accuracy": metrics.quantized_cell_accuracy(c, ds.cells).accuracy,
            "ami": metrics.partition_agreement(c, ds.cells).score,
            "num_cells_found": list(g.num_cells),
            "axes_without_cliff": int(sum(t.size == 0 for t in g.thresholds)),
        }
    x, axis, cells = mixed_sample(kind, seed, n)
    g = identifiability.recover_grid(x, num_bootstrap=0, **options)
    return {
        "false_cliffs": int(g.thresholds[axis].size),
        "grid_cells_found": [int(t.size + 1) for t in g.thresholds[:axis]],
        "grid_cell_accuracy": metrics.quantized_cell_accuracy(g.cells(x)[:, :axis], cells).accuracy,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", default=",".join(SETTINGS), help="grid settings, comma-separated")
    p.add_argument("--grid_seeds", default="200-211")
    p.add_argument("--mixed_seeds", default="4000-4011")
    p.add_argument("--num_samples", type=int, default=5000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="experiments/synthetic/results/partial_grids")
    args = p.parse_args(argv)
    _cli.check_out_path(args.out)
    settings = [s for s in args.settings.split(",") if s]
    bad = [s for s in settings if s not in SETTINGS]
    if bad or not settings:
        sys.exit(
            f"error: --settings must be a comma-separated subset of {list(SETTINGS)}; "
            f"got {args.settings!r}"
        )
    grid_seeds = int_list(args.grid_seeds, "--grid_seeds")
    mixed_seeds = int_list(args.mixed_seeds, "--mixed_seeds")
    if args.jobs < 1:
        sys.exit(f"error: --jobs must be >= 1; got {args.jobs}")
    if args.num_samples < 200:
        sys.exit(f"error: --num_samples must be >= 200; got {args.num_samples}")
    jobs = [
        (kind, s, args.num_samples, variant)
        for variant in VARIANTS
        for kind, seeds in [(k, grid_seeds) for k in settings] + [(k, mixed_seeds) for k in MIXED]
        for s in seeds
    ]
    outs = map_jobs(_one, jobs, args.jobs)
    results = {}
    for (kind, s, _, variant), o in zip(jobs, outs):
        results.setdefault(f"{variant}/{kind}", []).append({"seed": s, **o})
    head = _cli.provenance("experiments.synthetic.partial_grids", argv)
    lines = [
        f"{head}. n = {args.num_samples}, recover_grid defaults (version "
        f"{identifiability.RECOVER_GRID_VERSION}) and earlier versions' options "
        f"{ {k: v for k, v in VARIANTS.items() if v} }.",
        "",
        f"Grids: true latents of `make_synthetic` with more axes, seeds {args.grid_seeds}; "
        "exact cell accuracy (mean ± std, min, seeds at >= 0.99), AMI, samples with an axis "
        "left without a cliff.",
        "",
        "| setting | variant | cell acc. | min | at >= 0.99 | AMI | axis without cliff |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in settings:
        for name in VARIANTS:
            runs = results[f"{name}/{kind}"]
            a = np.array([r["cell_accuracy"] for r in runs])
            m = np.array([r["ami"] for r in runs])
            e = sum(r["axes_without_cliff"] > 0 for r in runs)
            lines.append(
                f"| {kind} | {name} | {a.mean():.3f} ± {a.std():.3f} | {a.min():.3f} | "
                f"{np.sum(a >= 0.99)}/{a.size} | {m.mean():.3f} ± {m.std():.3f} | "
                f"{e}/{len(runs)} |"
            )
    lines += [
        "",
        f"Grid axes plus one smooth axis, seeds {args.mixed_seeds}: cliffs found on the smooth "
        "axis (all false) over the draws (draws with any).",
        "",
        "| variant | " + " | ".join(MIXED) + " | total |",
        "|---|" + "---|" * (len(MIXED) + 1),
    ]
    acc_lines = []
    for name in VARIANTS:
        cells, accs, total = [], [], 0
        for kind in MIXED:
            runs = results[f"{name}/{kind}"]
            f = np.array([r["false_cliffs"] for r in runs])
            cells.append(f"{f.sum()} ({np.sum(f > 0)}/{f.size})")
            total += int(f.sum())
            a = np.array([r["grid_cell_accuracy"] for r in runs])
            accs.append(f"{a.mean():.3f} ({np.sum(a >= 0.99)}/{a.size})")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {total} |")
        acc_lines.append(f"| {name} | " + " | ".join(accs) + " |")
    lines += [
        "",
        "The grid axes of the same draws: exact cell accuracy of their recovered cells, mean "
        "(draws at >= 0.99).",
        "",
        "| variant | " + " | ".join(MIXED) + " |",
        "|---|" + "---|" * len(MIXED),
        *acc_lines,
    ]
    text = "\n".join(lines) + "\n"
    with open(args.out + ".md", "w") as f:
        f.write(text)
    write_json(args.out + ".json", {"provenance": head, "results": results}, indent=1)
    print(text)


if __name__ == "__main__":
    main()

"""recover_grid wall time: the defaults (version 16) against earlier versions, interleaved.

Run:
    python -m benchmarks.grid_recovery --out benchmarks/results/grid_recovery_cpu.json
    python -m benchmarks.grid_recovery --num_samples=50000 \
        --out benchmarks/results/grid_recovery_cpu_n50000.json

With `--num_samples` above 5000 the defaults' windows shrink like (n/5000)^(-1/3) (version
10), and a further setting, the fixed windows of version 9, is timed beside them. Versions
10 (rescans only when every axis has a first-pass cliff; version 11 rescans when one has)
and 11 (rescans repeated only when an axis gets its first cliff; version 12 while any axis
gains cliffs), 12 (first-pass strength limit 2; 3 in version 13) and 13 (the jump-test
scan's padding in units of the range, no local check; version 14: in points, with the
local check), 14 (no side-mass limit) and 15 (no split views in the jump-test scan) are
timed beside the defaults everywhere.

Inputs (n = 5000, float64, `num_bootstrap=0` as the experiments call it): the true latents
of `make_synthetic(seed)` (a 4x4 grid), the same under exp(z/2) (a warped grid), a
30° rotation of them (no axis-aligned grid: many conditional steps), and a 5-D "garbage
code", a random tanh mixing of the 2-D grid with 3 Gaussian dimensions (it finds few cells;
the slowest input seen, a 5-D code after 2 training steps with 8-12 cells per axis, took
10 s vs 2.5 s for round 5 and is not reproduced here without training), and the true
latents of a 5-D grid with 3 cells per axis (`make_synthetic(seed, num_latents=5,
cells_per_dim=3)`, where version 11's partial rescans matter). Per case and
setting: the median of `--repeats` calls and the cells found; the ratios defaults / round 7
and defaults / round 5 are taken within the run. The JSON records the device, date, load
and command.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

from experiments.synthetic.grid_recovery import CONDITIONS, PAST_VERSIONS
from qdjax import data
from qdjax.identifiability import RECOVER_GRID_VERSION, recover_grid

FIXED = "fixed windows (version 9)"
DEFAULTS = "defaults (version 16)"
SETTINGS = {
    DEFAULTS: {},
    **{f"version {v}": PAST_VERSIONS[v] for v in (15, 14, 13, 12, 11, 10)},
    "round 7": {**PAST_VERSIONS[10], "test_scan_place_window": None, "scale_check_ratio": None},
    "round 5": {
        **PAST_VERSIONS[10],
        "jump_test": "shared-quadratic",
        "test_scan": False,
        "scale_check_ratio": None,
    },
}


def _cases(seed: int, n: int = 5000) -> dict[str, np.ndarray]:
    z = data.make_synthetic(seed, n).z.astype(np.float64)
    rng = np.random.default_rng(seed)
    wide = np.concatenate([z, rng.standard_normal((z.shape[0], 3))], axis=1)
    return {
        "true latents (2-D grid)": z,
        "exp(z/2) warp": CONDITIONS["warp exp(z/2)"](z),
        "rotation 30°": CONDITIONS["rotation 30°"](z),
        "5-D random tanh mixing": np.tanh(wide @ rng.standard_normal((5, 5))),
        "5-D grid, 3 cells per axis": data.make_synthetic(
            seed, n, num_latents=5, cells_per_dim=3
        ).z.astype(np.float64),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/grid_recovery_cpu.json")
    p.add_argument("--seed", type=int, default=600)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--num_samples", type=int, default=5000)
    args = p.parse_args(argv)
    if args.repeats < 1:
        sys.exit("error: --repeats must be >= 1")
    if args.num_samples < 200:
        sys.exit(f"error: --num_samples must be >= 200; got {args.num_samples}")
    settings = dict(SETTINGS)
    if args.num_samples > 5000:  # where version 10's shrinking windows differ from 9's
        settings[FIXED] = {"window_reference_n": None}
    rows = []
    for case, z in _cases(args.seed, args.num_samples).items():
        times = {name: [] for name in settings}
        cells = {}
        for _ in range(args.repeats):  # interleaved: every setting sees the same load
            for name, options in settings.items():
                start = time.perf_counter()
                g = recover_grid(z, num_bootstrap=0, **options)
                times[name].append(time.perf_counter() - start)
                cells[name] = list(g.num_cells)
        med = {name: statistics.median(t) for name, t in times.items()}
        row = {
            "case": case,
            "median_s": med,
            "cells": cells,
            "ratio_defaults_over_version12": med[DEFAULTS] / med["version 12"],
            "ratio_defaults_over_version11": med[DEFAULTS] / med["version 11"],
            "ratio_defaults_over_version10": med[DEFAULTS] / med["version 10"],
            "ratio_defaults_over_round7": med[DEFAULTS] / med["round 7"],
            "ratio_defaults_over_round5": med[DEFAULTS] / med["round 5"],
        }
        if FIXED in med:
            row["ratio_defaults_over_fixed_windows"] = med[DEFAULTS] / med[FIXED]
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    out = {
        "benchmark": "grid_recovery",
        "command": "python -m benchmarks.grid_recovery " + " ".join(sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "device": f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average": os.getloadavg(),
        "recover_grid_version": RECOVER_GRID_VERSION,
        "n": args.num_samples,
        "repeats": args.repeats,
        "rows": rows,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How large must a cliff be for `find_cliffs` to see it in one column of n rows?

One column is a two-piece density: `[0, 1)` and `[1, 1 + w)` (`w = --right_width`) with
density ratio `r = p_left / p_right` across the cliff at 1 (each row left of it with
probability `r / (r + w)`). Per (ratio, n) over `--draws` draws: the draws where
`qdjax.identifiability.recover_grid` (defaults, what `python -m experiments.find_cliffs`
runs) returns exactly one cliff within 0.05 of 1, and the draws with any cliff on a flat
column of the same n (ratio 1: every cliff there is false). Writes `<out>.md` and
`<out>.json` with provenance:

    python -m experiments.find_cliffs.power --out=experiments/find_cliffs/results/power
    python -m experiments.find_cliffs.power --options='{"test_scan_pad": "range", \
        "local_check_window": null, "min_side_mass": 0}' --out=...
        # recover_grid version 13 (add "first_pass_min_strength": 2.0 for version 12)
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from experiments import _cli
from experiments.synthetic._jobs import int_list, map_jobs


def step_column(ratio: float, n: int, seed: int, right_width: float = 0.6) -> np.ndarray:
    """`[n, 1]` rows of the two-piece density with the cliff at 1 (ratio 1: flat)."""
    rng = np.random.default_rng([seed, int(round(1000 * ratio)), n])
    left = rng.random(n) < ratio / (ratio + right_width)
    x = np.where(left, rng.uniform(0.0, 1.0, n), rng.uniform(1.0, 1.0 + right_width, n))
    return x[:, None]


def _one(job):
    from qdjax import identifiability

    ratio, n, seed, right_width, options = job
    x = step_column(ratio, n, seed, right_width)
    g = identifiability.recover_grid(x, **{"num_bootstrap": 0, **options})
    t = g.thresholds[0]
    return {"cliffs": int(t.size), "exact": bool(t.size == 1 and abs(t[0] - 1.0) < 0.05)}


def _float_list(text: str, flag: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(not np.isfinite(v) or v < 1 for v in values):
        sys.exit(f"error: {flag} must be density ratios >= 1, e.g. '1.5,2,3'; got {text!r}")
    return values


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ratios", default="1.5,2,3,5", help="density ratios across the cliff")
    p.add_argument("--sizes", default="500,1000,3000,10000", help="rows per column")
    p.add_argument("--draws", default="0-19", help="draw seeds, e.g. '0-19'")
    p.add_argument("--right_width", type=float, default=0.6)
    p.add_argument("--options", default="{}", help="JSON dict of recover_grid keyword arguments")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="experiments/find_cliffs/results/power")
    args = p.parse_args(argv)
    _cli.check_out_path(args.out)
    ratios = _float_list(args.ratios, "--ratios")
    sizes = int_list(args.sizes, "--sizes")
    draws = int_list(args.draws, "--draws")
    if min(sizes) < 200:
        sys.exit(f"error: --sizes must be >= 200 rows (recover_grid's minimum); got {sizes}")
    if not 0 < args.right_width <= 10:
        sys.exit(f"error: --right_width must be in (0, 10]; got {args.right_width}")
    if args.jobs < 1:
        sys.exit(f"error: --jobs must be >= 1; got {args.jobs}")
    options = _cli.json_options(args.options)
    try:  # a bad option fails here in one line, not in a worker's traceback
        _one((2.0, 200, 0, args.right_width, options))
    except (TypeError, ValueError) as e:
        sys.exit(f"error: recover_grid rejected --options: {e}")
    cases = [(r, n) for r in [1.0, *ratios] for n in sizes]
    jobs = [(r, n, s, args.right_width, options) for r, n in cases for s in draws]
    outs = iter(map_jobs(_one, jobs, args.jobs))
    table = {f"{r:g}/{n}": [next(outs) for _ in draws] for r, n in cases}
    head = _cli.provenance("experiments.find_cliffs.power", argv)
    lines = [
        f"<!-- {head} -->",
        "",
        f"One column, a cliff at 1 between `[0, 1)` and `[1, {1 + args.right_width:g})` with "
        f"density ratio r, {len(draws)} draws per cell, recover_grid options "
        f"{json.dumps(options)}: draws where it finds exactly that cliff (within 0.05); "
        "r = 1 (a flat column): draws with any cliff (false).",
        "",
        "| density ratio r | " + " | ".join(f"n = {n}" for n in sizes) + " |",
        "|---" * (len(sizes) + 1) + "|",
    ]
    for r in [1.0, *ratios]:
        cells = []
        for n in sizes:
            res = table[f"{r:g}/{n}"]
            if r == 1.0:
                cells.append(f"{sum(o['cliffs'] > 0 for o in res)}/{len(res)} false")
            else:
                cells.append(f"{sum(o['exact'] for o in res)}/{len(res)}")
        lines.append(f"| {'1 (flat)' if r == 1.0 else f'{r:g}'} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out + ".md", "w") as f:
            f.write(text)
        with open(args.out + ".json", "w") as f:
            json.dump({"provenance": head, "args": vars(args), "results": table}, f, indent=1)


if __name__ == "__main__":
    main()

"""Are the Cliff grid (`grid_size` T) and conditioning (`num_conditioning` M) sizes larger than
the loss needs? Cliff terms of an axis-aligned 3x3 grid density and of the same grid rotated by
0.5 rad, at (T, M) in {(100, 10) default, (50, 10), (100, 5), (50, 5), (200, 20)}.

Run:
    python -m benchmarks.cliff_sizes --out benchmarks/results/cliff_sizes_cpu.json

What to read: the bivariate term must separate aligned from rotated (it is the one that costs
`d (d - 1) M T B`), and the univariate term's aligned-vs-rotated difference must survive (its
level shifts with log T by construction: it is an entropy over T grid points). Also printed:
the largest batch at which `T` still leaves Silverman's bandwidth above the grid spacing
(below it the bandwidth is floored at the spacing, i.e. the grid decides the smoothing).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys

import jax.numpy as jnp
import numpy as np

from qdjax.losses import _cliff

SIZES = ((100, 10), (50, 10), (100, 5), (50, 5), (200, 20))


def _grid2d(rng, n):
    cols = [rng.choice(3, size=n, p=[0.2, 0.5, 0.3]) + rng.uniform(size=n) for _ in range(2)]
    return np.stack(cols, 1)


def _rotate(z, angle):
    c, s = math.cos(angle), math.sin(angle)
    return (z - z.mean(0)) @ np.array([[c, -s], [s, c]]).T


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for batch in (512, 2048):
        z = _grid2d(rng, batch)
        zr = _rotate(z, 0.5)
        for t, m in SIZES:
            terms = [
                _cliff.cliff_loss(jnp.asarray(x, jnp.float32), grid_size=t, num_conditioning=m)
                for x in (z, zr)
            ]
            row = {"batch": batch, "grid_size": t, "num_conditioning": m}
            for name in ("univariate", "bivariate", "uniform"):
                row[name] = {"aligned": float(getattr(terms[0], name)),
                             "rotated": float(getattr(terms[1], name))}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    # Silverman h = 1.06 B^-1/5 stays above the spacing 2R/(T-1) up to this batch (R = 5)
    max_batch = {t: int((1.06 * (t - 1) / 10.0) ** 5) for t, _ in SIZES}
    out = {
        "benchmark": "cliff_sizes",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.cliff_sizes " + " ".join(sys.argv[1:]),
        "results": rows,
        "silverman_above_spacing_up_to_batch": max_batch,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(f"Silverman h above the grid spacing up to batch {max_batch}; wrote {args.out}")


if __name__ == "__main__":
    main()

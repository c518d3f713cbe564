"""Axis-aligned cliffs (density discontinuities) in the columns of a user's CSV table.

```
python -m experiments.find_cliffs --csv=FILE --columns=a,b [--log=a] [--out=DIR]
```

Runs `qdjax.identifiability.recover_grid` on the chosen columns (optionally log10 of some)
and writes `DIR/cliffs.json` (thresholds in the column's own units with their bootstrap
uncertainty, support, strength, the verdict) and `DIR/cliffs.png` (the density of the
first two columns with |grad log p| of a Gaussian KDE and the detected cliffs). Rows with
an empty/NaN cell in a chosen column are dropped and counted. Bad input (missing column,
non-numeric value, constant column, too few rows, a repeated name, a file that is not
UTF-8 or has no header row) is one line on stderr and exit code 2. Tab- and
semicolon-separated files are read too (the header row decides).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys

import numpy as np

MIN_ROWS = 200


class InputError(ValueError):
    """Bad user input; the message is one line naming the fix."""


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_columns(path: str, columns: list[str]) -> tuple[np.ndarray, int]:
    """`[n, len(columns)]` float64 values of the named columns and the number of dropped rows.

    UTF-8 text (a byte-order mark, as Excel writes, is skipped); the delimiter is a comma,
    or a tab or semicolon when the header row has no comma but one of those. Rows with an
    empty, NaN or infinite cell in a chosen column, or too short to reach it, are dropped.
    """
    if not os.path.isfile(path):
        raise InputError(f"--csv={path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise InputError(
            f"--csv={path} is not UTF-8 text (byte {e.start}); re-save it as UTF-8 CSV"
        ) from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InputError(f"--csv={path} is empty; it needs a header row")
    delimiter = ","
    if "," not in lines[0]:
        delimiter = next((d for d in ("\t", ";") if d in lines[0]), ",")
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    if all(_is_number(h) for h in header if h):
        raise InputError(
            f"--csv={path}: the first row is numbers ({', '.join(header[:4])}), not column "
            "names; add a header row"
        )
    dup = sorted({h for h in header if h and header.count(h) > 1})
    if dup:
        raise InputError(f"--csv={path}: the header names {dup} more than once; rename them")
    missing = [c for c in columns if c not in header]
    if missing:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        raise InputError(f"--columns: {missing} not in {path}; its columns are: {shown}")
    idx = [header.index(c) for c in columns]
    rows, dropped = [], 0
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        vals = []
        for c, i in zip(columns, idx):
            cell = row[i].strip() if i < len(row) else ""
            if cell.lower() in ("", "nan", "na", "null"):
                vals = None
                break
            try:
                vals.append(float(cell))
            except ValueError:
                raise InputError(
                    f"column {c!r} line {line_no} is not a number ({cell!r}); "
                    "clean or drop that row"
                ) from None
        if vals is None or not all(math.isfinite(v) for v in vals):
            dropped += 1
            continue
        rows.append(vals)
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(columns)), dropped


def prepare(z: np.ndarray, columns: list[str], log_columns: list[str]) -> np.ndarray:
    unknown = [c for c in log_columns if c not in columns]
    if unknown:
        raise InputError(f"--log: {unknown} are not among --columns={','.join(columns)}")
    z = z.copy()
    for c in log_columns:
        j = columns.index(c)
        if np.any(z[:, j] <= 0):
            raise InputError(f"--log={c}: column has values <= 0; drop --log for it")
        z[:, j] = np.log10(z[:, j])
    for j, c in enumerate(columns):
        if z.shape[0] and np.ptp(z[:, j]) == 0:
            raise InputError(f"column {c!r} is constant; leave it out of --columns")
        big = float(np.max(np.abs(z[:, j]))) if z.shape[0] else 0.0
        if big > 1e150:
            raise InputError(
                f"column {c!r} has values up to {big:.3g}, too large for the statistics; "
                "rescale it (or pass --log for it)"
            )
    if z.shape[0] < MIN_ROWS:
        raise InputError(
            f"only {z.shape[0]} usable rows; cliffs need at least {MIN_ROWS} "
            "(fewer cannot tell a cliff from noise)"
        )
    return z


def grad_log_density(z2: np.ndarray, *, grid_size: int = 120, max_points: int = 4000, seed=0):
    """|grad log p| of a Gaussian KDE (Scott bandwidth) of 2-D data on a grid."""
    import scipy.stats

    rng = np.random.default_rng(seed)
    pts = z2 if len(z2) <= max_points else z2[rng.choice(len(z2), max_points, replace=False)]
    kde = scipy.stats.gaussian_kde(pts.T)
    lo, hi = z2.min(0), z2.max(0)
    gx, gy = (np.linspace(lo[i], hi[i], grid_size) for i in range(2))
    xx, yy = np.meshgrid(gx, gy, indexing="ij")
    logp = np.log(kde(np.stack([xx.ravel(), yy.ravel()])).reshape(xx.shape) + 1e-300)
    dx, dy = np.gradient(logp, gx, gy)
    # in standardized units, so both axes count alike
    g = np.hypot(dx * z2[:, 0].std(), dy * z2[:, 1].std())
    return gx, gy, logp, g


def plot(path, z, columns, labels, grid):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thr = grid.thresholds
    if z.shape[1] == 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(z[:, 0], bins=100, color="0.6")
        for t in thr[0]:
            ax.axvline(t, color="r", ls="--")
        ax.set_xlabel(labels[0])
    else:
        gx, gy, logp, g = grad_log_density(z[:, :2])
        fig, axes = plt.subplots(1, 2, figsize=(11, 5))
        axes[0].scatter(z[:, 0], z[:, 1], s=2, c="k", alpha=0.3, rasterized=True)
        axes[0].set_title("samples")
        im = axes[1].pcolormesh(
            gx, gy, g.T, cmap="magma", shading="auto", vmax=np.quantile(g, 0.98)
        )
        fig.colorbar(im, ax=axes[1], label="|∇ log p| (KDE, standardized units)")
        axes[1].set_title("|∇ log p| and detected cliffs")
        for ax in axes:
            for t in thr[0]:
                ax.axvline(t, color="c", ls="--", lw=1)
            for t in thr[1]:
                ax.axhline(t, color="c", ls="--", lw=1)
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
    fig.suptitle(grid.summary()[:120], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _format_cliff(t: float, u: float, logged: bool) -> str:
    """A cliff position in the column's own units with its bootstrap std: `15.5 ± 0.026`,
    or for a `--log` column (searched in log10 units) the range `12.3 (12.0 to 12.6)`."""
    if not np.isfinite(u):
        return f"{10.0**t if logged else t:.4g}"
    if logged:
        return f"{10.0**t:.4g} ({10.0 ** (t - u):.4g} to {10.0 ** (t + u):.4g})"
    return f"{t:.4g} ± {u:.2g}"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m experiments.find_cliffs", description=__doc__)
    p.add_argument("--csv", required=True, help="CSV file with a header row")
    p.add_argument("--columns", required=True, help="comma-separated column names")
    p.add_argument("--log", default="", help="comma-separated columns to take log10 of")
    p.add_argument("--num_cells", default="", help="optional cells per column, e.g. 3,4")
    p.add_argument("--out", default="runs/find_cliffs", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from qdjax.identifiability import recover_grid

    try:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        if not columns:
            raise InputError("--columns needs at least one column name")
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise InputError(f"--columns lists {twice} more than once; name each column once")
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise InputError(f"--out={args.out} is a file; pass a directory for the outputs")
        log_columns = [c.strip() for c in args.log.split(",") if c.strip()]
        num_cells = None
        if args.num_cells:
            try:
                num_cells = [int(k) for k in args.num_cells.split(",")]
            except ValueError:
                raise InputError(f"--num_cells must be integers like 3,4; got {args.num_cells!r}")
            if len(num_cells) != len(columns) or min(num_cells) < 2:
                raise InputError(f"--num_cells needs one integer >= 2 per column ({len(columns)})")
        raw, dropped = read_columns(args.csv, columns)
        z = prepare(raw, columns, log_columns)
        try:
            os.makedirs(args.out, exist_ok=True)
        except OSError as e:
            raise InputError(f"--out={args.out}: {e.strerror}; pass a writable directory") from None
        grid = recover_grid(z, num_cells=num_cells, seed=args.seed)
    except ValueError as e:  # InputError, and recover_grid's own one-line errors
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    labels = [f"log10 {c}" if c in log_columns else c for c in columns]
    unlog = [(lambda v: 10.0**v) if c in log_columns else (lambda v: v) for c in columns]
    result = {
        "csv": os.path.abspath(args.csv),
        "columns": columns,
        "log10": log_columns,
        "rows_used": int(z.shape[0]),
        "rows_dropped_nan": int(dropped),
        "verdict": grid.to_json(),
        "cliffs": {
            c: {
                "thresholds": [float(unlog[j](t)) for t in grid.thresholds[j]],
                "thresholds_in_fit_units": grid.thresholds[j].tolist(),
                "uncertainty_in_fit_units": np.nan_to_num(grid.uncertainty[j], nan=-1).tolist(),
                # threshold -/+ its bootstrap std, in the column's own units (null: no std)
                "interval": [
                    [float(unlog[j](t - u)), float(unlog[j](t + u))] if np.isfinite(u) else None
                    for t, u in zip(grid.thresholds[j], grid.uncertainty[j])
                ],
                "strength": grid.strength[j].tolist(),
                "support": [float(unlog[j](v)) for v in grid.support[j]],
            }
            for j, c in enumerate(columns)
        },
        "summary": grid.summary(),
    }
    with open(os.path.join(args.out, "cliffs.json"), "w") as f:
        json.dump(result, f, indent=1, allow_nan=False)
    plot(os.path.join(args.out, "cliffs.png"), z, columns, labels, grid)
    print(grid.summary())
    for j, c in enumerate(columns):
        ts = ", ".join(
            _format_cliff(t, u, c in log_columns)
            for t, u in zip(grid.thresholds[j], grid.uncertainty[j])
        )
        print(f"  {labels[j]}: {len(grid.thresholds[j])} cliffs: {ts or 'none'}")
    print(
        f"  rows used {z.shape[0]}, dropped (empty/NaN/inf/short) {dropped}; wrote "
        f"{args.out}/cliffs.json, "
        "cliffs.png"
    )
    return result


if __name__ == "__main__":
    main()

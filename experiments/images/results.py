"""Tables from a sweep's results files: QLAE-style and Cliff-style, mean ± std over seeds.

    python -m experiments.images.results --root=runs/shapes3d_cpu [--out=FILE.md] [--commit=SHA]

The output starts with the command and the commit(s) of the code the runs were made with
(recorded in each results.json; `--commit` names it for runs made before it was recorded).

QLAE style (Hsu et al. 2023): InfoM, InfoC, InfoE, DCI D, C, I, MIG, PSNR. Cliff style
(Cliff paper, Shapes3D): DCI disentanglement x 100. The data label of the runs (e.g.
"procedural stand-in") heads the tables; runs of different data are never mixed in a row.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from collections import defaultdict

import numpy as np

QLAE_COLUMNS = (
    ("InfoM", "infom", 1),
    ("InfoC", "infoc", 1),
    ("InfoE", "infoe", 1),
    ("D", "dci_d", 1),
    ("C", "dci_c", 1),
    ("I", "dci_i", 1),
    ("MIG", "mig", 1),
    ("PSNR dB", "psnr", 1),
)


def load(root: str) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(os.path.join(root, "*", "seed_*", "results.json"))):
        with open(path) as f:
            rows.append(json.load(f))
    return rows


def _cell(values, scale=1.0, digits=3) -> str:
    v = np.asarray(values, float) * scale
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}" if len(v) > 1 else f"{v[0]:.{digits}f}"


def tables(rows: list[dict], commit: str = "") -> str:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["data"], r["steps"], r["method"])].append(r)
    out = []
    for data in sorted({k[0] for k in groups}):
        keys = [k for k in groups if k[0] == data]
        runs = [r for k in keys for r in groups[k]]
        commits = sorted({str(r.get("commit") or commit or "unknown") for r in runs})
        seeds = sorted({int(r["seed"]) for r in runs})
        out.append(f"### {data}\n")
        out.append(
            f"{len(runs)} runs, seeds {', '.join(map(str, seeds))}; "
            + ", ".join(f"commit {c}" for c in commits)
            + ".\n"
        )
        out.append("QLAE-style (mean ± std over seeds; n = seeds):\n")
        head = "| method | steps | n | " + " | ".join(c[0] for c in QLAE_COLUMNS) + " |"
        out += [head, "|" + "---|" * (3 + len(QLAE_COLUMNS))]
        for k in sorted(keys, key=lambda k: (k[1], k[2])):
            g = groups[k]
            cells = " | ".join(
                _cell([r[c[1]] for r in g], digits=2 if c[1] == "psnr" else 3) for c in QLAE_COLUMNS
            )
            out.append(f"| {k[2]} | {k[1]} | {len(g)} | {cells} |")
        out.append("\nCliff-style (DCI disentanglement × 100):\n")
        out += ["| method | steps | n | D × 100 |", "|---|---|---|---|"]
        for k in sorted(keys, key=lambda k: (k[1], k[2])):
            g = groups[k]
            out.append(f"| {k[2]} | {k[1]} | {len(g)} | {_cell([r['dci_d'] for r in g], 100, 2)} |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("--out", default="")
    p.add_argument("--commit", default="", help="commit of runs whose results lack one")
    a = p.parse_args(argv)
    rows = load(a.root)
    if not rows:
        print(f"error: no <method>/seed_*/results.json under {a.root}; run the sweep first")
        return 2
    command = "python -m experiments.images.results " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = f"Produced by `{command}`.\n\n" + tables(rows, a.commit)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

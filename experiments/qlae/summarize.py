"""Mean ± std table of `experiments.qlae` runs grouped by the first folder under a root.

`python -m experiments.qlae.summarize --root=runs/bf16 [--baseline=float32] [--seeds=1,2,3]
[--out=FILE.md]` reads
`ROOT/<group>/seed_*/results.json` (e.g. one group per precision or per method) and prints a
markdown table headed by the commit and command, with the paired difference of every group to
the first one (same seeds). Tables are made from results files, never typed by hand.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

from experiments import _cli

METRICS = (
    "psnr",
    "infom",
    "infoc",
    "infoe",
    "mig",
    "mcc_pearson",
    "mcc_spearman",
    "train_examples_per_sec",
)


def collect(root: str, seeds: set[int] | None = None) -> dict[str, dict[int, dict]]:
    """`{group: {seed: results}}` for every finished run under `root` (only `seeds`, if given)."""
    out: dict[str, dict[int, dict]] = {}
    for path in sorted(glob.glob(os.path.join(root, "*", "seed_*", "results.json"))):
        group = os.path.relpath(path, root).split(os.sep)[0]
        with open(path) as f:
            r = json.load(f)
        if seeds is None or int(r["seed"]) in seeds:
            out.setdefault(group, {})[int(r["seed"])] = r
    return out


def table(runs: dict[str, dict[int, dict]]) -> str:
    """Markdown: one row per group, mean ± std over seeds, paired Δ to the first group."""
    groups = list(runs)
    head = "| group | seeds | " + " | ".join(METRICS) + " |"
    lines = [head, "|" + "---|" * (len(METRICS) + 2)]
    base = runs[groups[0]]
    for g in groups:
        seeds = sorted(runs[g])
        cells = []
        for m in METRICS:
            v = np.array([runs[g][s][m] for s in seeds], dtype=float)
            cell = f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}"
            common = [s for s in seeds if s in base]
            if g != groups[0] and common:
                d = np.array([runs[g][s][m] - base[s][m] for s in common])
                cell += f" (Δ {d.mean():+.3f})"
            cells.append(cell)
        lines.append(f"| {g} | {','.join(map(str, seeds))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("--out", default=None)
    p.add_argument("--baseline", default=None, help="group listed first; Δ is against it")
    p.add_argument("--seeds", default=None, help="only these seeds, e.g. 1,2,3 (evaluation)")
    a = p.parse_args(argv)
    try:
        seeds = None if a.seeds is None else {int(x) for x in a.seeds.split(",")}
    except ValueError:
        sys.exit(f"error: --seeds must be comma-separated integers, e.g. 1,2,3; got {a.seeds!r}")
    runs = collect(a.root, seeds)
    if not runs:
        sys.exit(f"error: no {a.root}/<group>/seed_*/results.json; run experiments.qlae first")
    if a.baseline is not None:
        if a.baseline not in runs:
            sys.exit(f"error: --baseline={a.baseline} is not one of {', '.join(runs)}")
        runs = {a.baseline: runs[a.baseline], **runs}
    text = f"<!-- {_cli.provenance('experiments.qlae.summarize')} -->\n\n{table(runs)}\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()

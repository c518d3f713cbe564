"""Did a likelihood model reach the truth? Held-out NLL of `grid_flow` runs vs the true model's.

`experiments.synthetic.train` writes, for a model with a likelihood (`grid_flow`), the
held-out NLL of the fitted model (`nll_model`, at its final temperature) and the exact NLL of
the true generative model on the same samples (`nll_truth`: grid density and mixing Jacobian,
`qdjax.data.SyntheticDataset.log_prob`), the population optimum. A positive gap means the fit
stopped short of the truth's likelihood: an optimization failure, not a criterion that prefers
another code. This script tabulates them with MCC and the cell accuracies:

    python -m experiments.synthetic.likelihood_gap \\
        --workdirs='runs/protocol_gf/eval/*/grid_flow/seed_*' \\
        --out=experiments/synthetic/results/grid_flow_likelihood.md
"""

from __future__ import annotations

import glob
import json
import os
import sys

import numpy as np
from absl import app, flags

_WORKDIRS, _OUT = None, None


def _define_flags() -> None:
    """Defines this script's flags (only when run as a program, so importing it is free)."""
    global _WORKDIRS, _OUT
    _WORKDIRS = flags.DEFINE_list("workdirs", [], "Glob patterns of finished grid_flow workdirs.")
    _OUT = flags.DEFINE_string("out", "", "Markdown file to write (empty: print only).")


def load_results(patterns: list[str], keep) -> list[dict]:
    """`results.json` of every workdir matched by the glob `patterns` for which `keep(r)`,
    sorted by path, each with its `workdir` added (unfinished workdirs are skipped)."""
    rows = []
    for path in sorted({p for pat in patterns for p in glob.glob(pat)}):
        f = os.path.join(path, "results.json")
        if not os.path.exists(f):
            continue
        with open(f) as fh:
            r = json.load(fh)
        if keep(r):
            r["workdir"] = path
            rows.append(r)
    return rows


def load(patterns: list[str]) -> list[dict]:
    """`results.json` of every matched workdir that has a model NLL, sorted by path."""
    return load_results(patterns, lambda r: "nll_model" in r and "nll_truth" in r)


def table(rows: list[dict]) -> str:
    """One line per run, then the mean and the rank correlation of gap and MCC."""
    head = [
        "| workdir | MCC Pearson | NLL model | NLL truth | gap | cell acc. (own grid) |",
        "|---|---|---|---|---|---|",
    ]
    gaps = np.array([r["nll_model"] - r["nll_truth"] for r in rows])
    mcc = np.array([r["mcc_pearson"] for r in rows])
    for r, g in zip(rows, gaps):
        head.append(
            f"| {r['workdir']} | {r['mcc_pearson']:.3f} | {r['nll_model']:.3f} | "
            f"{r['nll_truth']:.3f} | {g:+.3f} | {r.get('cell_accuracy_model', float('nan')):.3f} |"
        )
    if rows:
        from scipy.stats import spearmanr

        rho = spearmanr(gaps, mcc)[0] if len(rows) > 2 else float("nan")
        head.append(
            f"| **mean over {len(rows)}** | {mcc.mean():.3f} | | | {gaps.mean():+.3f} "
            f"(min {gaps.min():+.3f}) | |"
        )
        head.append(
            f"\nRuns with the model's NLL below the truth's: {int(np.sum(gaps < 0))} of "
            f"{len(rows)}; Spearman correlation of gap and MCC: {rho:+.2f}."
        )
    return "\n".join(head)


def main(argv) -> int:
    del argv
    if not _WORKDIRS.value:
        print("--workdirs is required (glob patterns of grid_flow workdirs)", file=sys.stderr)
        return 2
    rows = load(_WORKDIRS.value)
    if not rows:
        print(f"no finished grid_flow runs match {_WORKDIRS.value}", file=sys.stderr)
        return 1
    from experiments import _cli

    print(_cli.write_report(_OUT.value, "experiments.synthetic.likelihood_gap", table(rows)))
    return 0


if __name__ == "__main__":
    _define_flags()
    app.run(lambda argv: sys.exit(main(argv)))

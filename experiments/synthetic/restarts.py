"""Did the unsupervised ranking of restarts pick the good ones? (`train.restarts`)

A run with `--config.train.restarts=K` trains K restarts and keeps one without labels
(`train.restart_selection`: the lowest training objective on the training set, or the medoid
of the restarts' codes by agreement). Its `results.json` lists every restart's selection loss,
agreement with the other restarts and held-out MCC (the MCC is reported, never used). This
script tabulates, per run: the MCC of the restart the objective keeps, restart 0's (what a
single run gives), the best of the K (an oracle that reads the true latents: the most
restarts could give) and the Spearman correlation of selection loss and MCC over the restarts
(negative: a lower loss goes with a higher MCC, the ranking works); where agreements were
recorded, the same for the restart the agreement keeps (positive correlation: it works):

    python -m experiments.synthetic.restarts \\
        --workdirs='runs/protocol_gf_r4/eval/2d/grid_flow/seed_*' \\
        --out=experiments/synthetic/results/restarts_grid_flow.md
"""

from __future__ import annotations

import os
import sys

import numpy as np
from absl import app, flags

from experiments.synthetic import likelihood_gap

_WORKDIRS, _OUT, _REFERENCE, _PAIRED = None, None, None, None


def _define_flags() -> None:
    """Defines this script's flags (only when run as a program, so importing it is free)."""
    global _WORKDIRS, _OUT, _REFERENCE, _PAIRED
    _WORKDIRS = flags.DEFINE_list("workdirs", [], "Glob patterns of finished workdirs.")
    _OUT = flags.DEFINE_string("out", "", "Markdown file to write (empty: print only).")
    _REFERENCE = flags.DEFINE_list(
        "reference",
        [],
        "Glob patterns of reference workdirs (e.g. the plain AE's): adds the agreement of each "
        "kept code with the reference code of the same seed.",
    )
    _PAIRED = flags.DEFINE_list(
        "paired",
        [],
        "Method pairs 'a:b' among --workdirs: paired MCC differences of the kept restarts, "
        "by each selection rule, with a bootstrap interval over shared seeds.",
    )


def load(patterns: list[str]) -> list[dict]:
    """`results.json` of every matched workdir made with restarts, sorted by path."""
    return likelihood_gap.load_results(patterns, lambda r: len(r.get("restarts", ())) > 1)


def _has_agreement(rows: list[dict]) -> bool:
    return any(np.isfinite(x.get("agreement", np.nan)) for r in rows for x in r["restarts"])


def table(rows: list[dict]) -> str:
    """`_table` of the runs, one table per method when the runs are of several methods."""
    methods = list(dict.fromkeys(r.get("method") for r in rows))
    if len(methods) < 2:
        return _table(rows)
    return "\n\n".join(
        f"#### {m}\n\n" + _table([r for r in rows if r.get("method") == m]) for m in methods
    )


def _table(rows: list[dict]) -> str:
    """One line per run, then the means (MCC in points) and the kept-minus-restart-0 mean.

    "kept" is the restart the training objective keeps (`train.restart_selection=objective`);
    when the runs recorded each restart's agreement with the others (every run made since
    `train.restart_selection` exists), the restart the agreement keeps (the medoid) and the
    Spearman correlation of agreement and MCC (positive: the ranking works) are added, with
    the number of restarts whose code agrees with the medoid's (pairwise Spearman MCC >= 0.95,
    the medoid included; `code_agreement`'s `agreeing`).
    """
    from scipy.stats import spearmanr

    from experiments.synthetic.train import select_restart

    agree = _has_agreement(rows)
    lines = [
        "| workdir | restarts | kept | MCC kept | MCC restart 0 | MCC best (oracle) "
        "| Spearman(loss, MCC) |"
        + (
            " kept by agreement | MCC kept by agreement | Spearman(agreement, MCC) "
            "| restarts agreeing with it |"
            if agree
            else ""
        ),
        "|---|---|---|---|---|---|---|" + ("---|---|---|---|" if agree else ""),
    ]
    kept, first, best, rhos, kept_a, rhos_a = [], [], [], [], [], []
    for r in rows:
        rs = sorted(r["restarts"], key=lambda x: x["restart"])
        index = [x["restart"] for x in rs]  # positions of the restarts, by number
        k = rs[index.index(select_restart(rs, "objective"))]
        mcc = np.array([x["mcc_pearson"] for x in rs])
        loss = np.array([x["selection_loss"] for x in rs])
        finite = np.isfinite(loss)
        rho = float(spearmanr(loss[finite], mcc[finite])[0]) if finite.sum() > 2 else float("nan")
        kept.append(k["mcc_pearson"])
        first.append(mcc[0])
        best.append(mcc.max())
        rhos.append(rho)
        line = (
            f"| {r['workdir']} | {len(rs)} | {k['restart']} | {100 * kept[-1]:.1f} | "
            f"{100 * first[-1]:.1f} | {100 * best[-1]:.1f} | {rho:+.2f} |"
        )
        if agree:
            a = np.array([x.get("agreement", np.nan) for x in rs], np.float64)
            ka = index.index(select_restart(rs, "agreement"))
            ok = np.isfinite(a)
            rho_a = float(spearmanr(a[ok], mcc[ok])[0]) if ok.sum() > 2 else float("nan")
            kept_a.append(mcc[ka])
            rhos_a.append(rho_a)
            group = r.get("restart_agreement", {}).get("agreeing")
            group = f"{len(group)} of {ok.sum()}" if group is not None else "-"
            line += f" {rs[ka]['restart']} | {100 * mcc[ka]:.1f} | {rho_a:+.2f} | {group} |"
        lines.append(line)
    if rows:
        kept, first, best = (100 * np.array(v) for v in (kept, first, best))
        last = (  # ± the population std, as the protocol's tables
            f"| **mean over {len(rows)}** | | | {kept.mean():.1f} ± {kept.std():.1f} "
            f"| {first.mean():.1f} | {best.mean():.1f} | {np.nanmean(rhos):+.2f} |"
        )
        if agree:
            ka = 100 * np.array(kept_a)
            last += f" | {ka.mean():.1f} ± {ka.std():.1f} | {np.nanmean(rhos_a):+.2f} | |"
        lines.append(last)
        d = kept - first
        lines.append(
            f"\nKept minus restart 0: {d.mean():+.1f} points (higher on {int(np.sum(d > 0))}, "
            f"lower on {int(np.sum(d < 0))} of {len(rows)} runs); the oracle best of the restarts "
            f"is {(best - kept).mean():.1f} points above the kept one."
        )
        if agree:
            da, dk = ka - first, ka - kept
            lines.append(
                f"Kept by agreement minus restart 0: {da.mean():+.1f} points (higher on "
                f"{int(np.sum(da > 0))}, lower on {int(np.sum(da < 0))}); minus kept by the "
                f"objective: {dk.mean():+.1f} (higher on {int(np.sum(dk > 0))}, lower on "
                f"{int(np.sum(dk < 0))}); the oracle best is {(best - ka).mean():.1f} points "
                "above it."
            )
    return "\n".join(lines)


def kept_mcc(r: dict, rule: str) -> float:
    """Held-out MCC (Pearson) of the restart that `rule` ("objective" or "agreement") keeps."""
    from experiments.synthetic.train import select_restart

    kept = select_restart(r["restarts"], rule)
    return next(x["mcc_pearson"] for x in r["restarts"] if x["restart"] == kept)


def paired_table(rows: list[dict], pairs: list[tuple[str, str]], num_bootstrap: int = 2000) -> str:
    """Paired MCC differences between methods, each kept by the same rule, on shared seeds.

    For each pair `a:b` and each rule with recorded scores, the per-seed difference of the
    kept restarts' MCC (points), its mean with the protocol's 95% percentile bootstrap interval
    over seeds, and the number of seeds on which `a` is higher.
    """
    from experiments.synthetic import protocol

    by = {}
    for r in rows:
        by.setdefault(r.get("method"), {})[r["seed"]] = r
    rules = ["objective"] + (["agreement"] if _has_agreement(rows) else [])
    lines = ["| a - b | kept by | mean [95% CI] | seeds a > b |", "|---|---|---|---|"]
    for a, b in pairs:
        missing = [m for m in (a, b) if m not in by]
        if missing:
            raise ValueError(f"--paired: no runs of {missing} among --workdirs")
        seeds = sorted(set(by[a]) & set(by[b]))
        if len(seeds) < 2:
            raise ValueError(f"--paired {a}:{b}: fewer than 2 seeds with runs of both")
        for rule in rules:
            d = 100 * np.array([kept_mcc(by[a][s], rule) - kept_mcc(by[b][s], rule) for s in seeds])
            lines.append(f"| {a} - {b} | {rule} | {protocol.paired_cells(d, num_bootstrap)} |")
    return "\n".join(lines)


def reference_table(rows: list[dict], reference: list[dict]) -> str:
    """Does the kept code sit where a reference run of the same seed put its code?

    For each run, the Spearman MCC between its held-out code (`codes.npz`) and that of the
    reference run with the same data seed (e.g. the plain AE: did the regularizer move the code
    out of the AE's basin?), beside both runs' MCC with the true latents. Runs without a
    reference of their seed, and the reference runs themselves, are left out.
    """
    from qdjax import metrics

    by_seed = {r["seed"]: r for r in reference}
    lines = [
        "| workdir | seed | MCC kept | MCC reference | Spearman MCC(kept code, reference code) |",
        "|---|---|---|---|---|",
    ]
    agree, method = [], []
    for r in rows:
        ref = by_seed.get(r.get("seed"))
        if ref is None or os.path.samefile(ref["workdir"], r["workdir"]):
            continue  # no reference of this seed, or the run is the reference itself
        z = np.load(os.path.join(r["workdir"], "codes.npz"))["z"]
        z_ref = np.load(os.path.join(ref["workdir"], "codes.npz"))["z"]
        a = metrics.mcc(z, z_ref, correlation="spearman").score
        agree.append(a)
        method.append(r.get("method"))
        lines.append(
            f"| {r['workdir']} | {r['seed']} | {100 * r['mcc_pearson']:.1f} | "
            f"{100 * ref['mcc_pearson']:.1f} | {a:.3f} |"
        )
    if not agree:
        raise ValueError("no run has a reference run of the same seed (--reference)")
    agree, method = np.array(agree), np.array(method, dtype=object)
    for m in dict.fromkeys(method):
        a = agree[method == m]
        name = f" ({m})" if m is not None else ""
        lines.append(
            f"| **mean over {a.size}{name}** | | | | {np.mean(a):.3f} "
            f"(>= 0.95 on {int(np.sum(a >= 0.95))}) |"
        )
    return "\n".join(lines)


def main(argv) -> int:
    del argv
    from experiments import _cli

    _cli.check_out_path(_OUT.value)
    if not _WORKDIRS.value:
        print("error: --workdirs is required (glob patterns of finished workdirs)", file=sys.stderr)
        return 2
    rows = load(_WORKDIRS.value)
    if not rows:
        print(
            f"error: no finished runs with restarts match {_WORKDIRS.value}; check the glob",
            file=sys.stderr,
        )
        return 2
    text = table(rows)
    if _PAIRED.value:
        from experiments.synthetic import protocol

        try:
            pairs = protocol.parse_pairs(",".join(_PAIRED.value), "--paired")
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        try:
            text += "\n\n" + paired_table(rows, pairs)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if _REFERENCE.value:
        ref = likelihood_gap.load_results(_REFERENCE.value, lambda r: "seed" in r)
        text += "\n\n" + reference_table(rows, ref)
    print(_cli.write_report(_OUT.value, "experiments.synthetic.restarts", text))
    return 0


if __name__ == "__main__":
    _define_flags()
    app.run(lambda argv: sys.exit(main(argv)))

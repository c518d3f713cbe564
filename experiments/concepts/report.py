"""Markdown tables (from results.json contents, never typed by hand) and per-run plots."""

from __future__ import annotations

import collections
import os

import numpy as np

from qdjax import identifiability


def _ms(values) -> str:
    v = np.asarray([x for x in values if x is not None], float)
    return "n/a" if v.size == 0 else f"{v.mean():.3f} ± {v.std():.3f}"


def _answers(rows) -> str:
    count = collections.Counter(
        f"{ {True: 'yes', False: 'no', None: 'cannot tell'}[r['verdict']['holds']] } "
        f"({r['verdict'].get('rule', 'JB')})"
        for r in rows
    )
    return "; ".join(f"{k.strip()} ×{n}" for k, n in sorted(count.items()))


def _consistency_cell(c) -> str:
    if not c:
        return "n/a"
    lo, hi = c["mcc_ci"]
    uniq = c["unique_fraction_by_runs"][-1]
    shared = c["shared_fraction"]
    return f"{c['mcc_mean']:.3f} [{lo:.3f}, {hi:.3f}], shared {shared:.2f}, unique {uniq:.2f}"


def sae_table(results: dict) -> str:
    synthetic = results["mode"] == "synthetic"
    head = ["condition", "SAE"] if synthetic else ["SAE"]
    if synthetic:
        head += ["atom MCC", "atoms with cos ≥ 0.9", "support F1"]
    head += [
        "L0",
        "FVU",
        "dead",
        "k-sparse verdict (learned D, measured L0)",
        "seed consistency: MCC [95% CI]",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups = collections.defaultdict(list)
    for r in results["sae"]:
        groups[(r.get("condition", ""), r["kind"])].append(r)
    for (cond, kind), rows in groups.items():
        cells = [cond, kind] if synthetic else [kind]
        if synthetic:
            cells += [
                _ms(r["atom_mcc"] for r in rows),
                _ms(r["atoms_recovered"] for r in rows),
                _ms(r["support_f1"] for r in rows),
            ]
        cells += [
            _ms(r["l0"] for r in rows),
            _ms(r["fvu"] for r in rows),
            _ms(r["dead_fraction"] for r in rows),
            _answers(rows),
        ]
        key = f"{cond}/{kind}" if synthetic else kind
        cells.append(_consistency_cell(results["consistency"].get(key)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ica_table(results: dict) -> str:
    head = [
        "Gaussian sources",
        "source MCC qdjax",
        "source MCC sklearn",
        "non-Gauss. MCC qdjax",
        "non-Gauss. MCC sklearn",
        "qdjax vs sklearn (mixing MCC)",
        "verdict: ≤ 1 Gaussian",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    groups = collections.defaultdict(list)
    for r in results["ica"]:
        groups[r["num_gaussian"]].append(r)
    for g, rows in sorted(groups.items()):
        lines.append(
            "| "
            + " | ".join(
                [
                    str(g),
                    _ms(r["mcc_sources_qdjax"] for r in rows),
                    _ms(r["mcc_sources_sklearn"] for r in rows),
                    _ms(r["mcc_nongaussian_qdjax"] for r in rows),
                    _ms(r["mcc_nongaussian_sklearn"] for r in rows),
                    _ms(r["qdjax_vs_sklearn"] for r in rows),
                    _answers(rows),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def write_tables(workdir: str, results: dict) -> str:
    parts = ["## SAEs (mean ± std over evaluation seeds)", "", sae_table(results), ""]
    if results.get("truth_verdicts"):
        parts += ["## k-sparse verdict on the true dictionary and codes", ""]
        parts += [
            f"- {c}: {v['holds']} ({v['rule']}): {v['reason']}"
            for c, v in results["truth_verdicts"].items()
        ]
        parts.append("")
    if results["ica"]:
        parts += ["## Linear ICA (mean ± std over evaluation seeds)", "", ica_table(results), ""]
    path = os.path.join(workdir, "table.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    print("\n".join(parts))
    return path


def plot_run(verdict, ev: dict, path: str) -> None:
    """The k-sparse verdict's L0 histogram beside the feature-density histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    identifiability.plot_k_sparse(verdict, ax=a)
    b.bar(
        np.linspace(-7, 0, 20, endpoint=False) + 0.175, ev["density_hist"], width=0.35, color="0.5"
    )
    b.set_xlabel("log10 feature density (fraction of samples active)")
    b.set_ylabel("latents")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)

"""Run every method over several seeds and write a markdown table of MCC mean ± std.

    python -m experiments.synthetic.sweep --workdir=runs/sweep \
        --methods=ae,betavae,hfs,ioss,cliff --seeds=0,1,2 \
        [--config=experiments/synthetic/configs/default.py] [--config.train.num_steps=...]

Each (method, seed) trains with `configs/default.py` specialised by the method's
tuned settings (`default.get_config(method)`, i.e. what `--config=...default.py:<method>`
gives), then the sweep's own `--config.*` overrides. Runs land in
`workdir/<method>/seed_<k>/` (re-running resumes or skips finished runs); the table goes
to `workdir/table.md` and `workdir/summary.json`.
"""

from __future__ import annotations

import ast
import json
import os

import numpy as np
from absl import app, flags

from experiments.synthetic import train
from experiments.synthetic.configs import default

_METHODS = flags.DEFINE_list("methods", list(train.METHODS), "Methods to compare.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (data, init and order).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.", required=True)
_OVERRIDES = flags.DEFINE_multi_string(
    "set", [], "Overrides applied to every run, e.g. --set=train.num_steps=2000."
)


def _apply(cfg, assignment: str) -> None:
    """Applies `a.b.c=value` (value parsed as a Python literal, else kept as a string)."""
    key, sep, raw = assignment.partition("=")
    if not sep:
        raise app.UsageError(f"--set expects key=value; got {assignment!r}")
    *path, name = key.split(".")
    node = cfg
    for p in path:
        node = node.get(p) if hasattr(node, "get") else None
    if node is None or name not in node:
        raise app.UsageError(f"--set: unknown config field {key!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    try:
        node[name] = value
    except TypeError as e:  # ConfigDict keeps each field's type
        raise app.UsageError(f"--set {key}: {e}") from None


def summarize(rows: list[dict]) -> tuple[str, dict]:
    """Markdown table of MCC mean ± std per method, and the same numbers as a dict."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r)
    lines = [
        "| method | seeds | MCC Pearson (mean ± std) | MCC Spearman (mean ± std) | "
        "cell acc. | recon MSE | steps |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for m, rs in by.items():
        p = np.array([r["mcc_pearson"] for r in rs])
        s = np.array([r["mcc_spearman"] for r in rs])
        rec = np.mean([r["reconstruction_mse"] for r in rs])
        cell = np.mean([r.get("cell_accuracy", np.nan) for r in rs])
        summary[m] = {
            "mcc_pearson_mean": float(p.mean()),
            "mcc_pearson_std": float(p.std()),
            "mcc_spearman_mean": float(s.mean()),
            "mcc_spearman_std": float(s.std()),
            "seeds": [r["seed"] for r in rs],
            "cell_accuracy": float(cell),
            "reconstruction_mse": float(rec),
            "per_seed_mcc_pearson": [float(v) for v in p],
        }
        lines.append(
            f"| {m} | {len(rs)} | {100 * p.mean():.1f} ± {100 * p.std():.1f} | "
            f"{100 * s.mean():.1f} ± {100 * s.std():.1f} | {cell:.3f} | {rec:.3g} | "
            f"{rs[0]['steps']} |"
        )
    return "\n".join(lines), summary


def main(argv):
    del argv
    rows = []
    for method in _METHODS.value:
        if method not in train.METHODS:
            raise app.UsageError(f"--methods: unknown method {method!r}; use {train.METHODS}")
        for seed in _SEEDS.value:
            cfg = default.get_config(method)
            cfg.seed = int(seed)
            for a in _OVERRIDES.value:
                _apply(cfg, a)
            wd = os.path.join(_WORKDIR.value, method, f"seed_{seed}")
            done = os.path.join(wd, "results.json")
            if os.path.exists(done):
                with open(done) as f:
                    rows.append(json.load(f))
                continue
            rows.append(train.train_and_evaluate(cfg, wd))
    table, summary = summarize(rows)
    os.makedirs(_WORKDIR.value, exist_ok=True)
    with open(os.path.join(_WORKDIR.value, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(_WORKDIR.value, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(table)


if __name__ == "__main__":
    app.run(main)

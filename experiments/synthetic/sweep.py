"""Run every method over several seeds and write a markdown table of MCC mean ± std.

    python -m experiments.synthetic.sweep --workdir=runs/sweep \
        --methods=ae,betavae,hfs,ioss,cliff --seeds=0,1,2 [--set=train.num_steps=2000 ...]

Each (method, seed) trains with `configs/default.py` specialised by the method's
tuned settings (`default.get_config(method)`, i.e. what `--config=...default.py:<method>`
gives), then the sweep's own `--set` overrides. Runs land in `workdir/<method>/seed_<k>/`
with the workdir safety of every experiment (`experiments._cli.workdir_session`: lock,
config record). Re-running skips a finished cell only if its recorded config equals the
requested one; a cell whose recorded config differs in the model, data or objective is
moved aside (`<cell>.replaced-<time>/`) and rerun; a larger `train.num_steps` continues
from the cell's checkpoint. The table goes to `workdir/table.md` and `workdir/summary.json`,
headed by the commit and the command that produced it.
"""

from __future__ import annotations

import ast
import json
import os

import numpy as np
from absl import app, flags

from experiments import _cli
from experiments.synthetic import train
from experiments.synthetic.configs import default

_METHODS = _SEEDS = _WORKDIR = _OVERRIDES = _VERBOSE = None


def _define_flags() -> None:
    """Defines this script's flags (only when run as a program, so importing it is free)."""
    global _METHODS, _SEEDS, _WORKDIR, _OVERRIDES, _VERBOSE
    _METHODS = flags.DEFINE_list("methods", list(train.METHODS), "Methods to compare.")
    _SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (data, init and order).")
    _WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.", required=True)
    _OVERRIDES = flags.DEFINE_multi_string(
        "set", [], "Overrides applied to every run, e.g. --set=train.num_steps=2000."
    )
    _VERBOSE = flags.DEFINE_bool("verbose", False, "Show library INFO logs (Orbax, absl).")


def provenance() -> str:
    """`commit <sha>[ (+ uncommitted changes)]; command: python -m ...` of this process."""
    return _cli.provenance("experiments.synthetic.sweep")


def finished(cfg, workdir: str) -> dict | None:
    """The cell's results if it finished with exactly this config, else None."""
    done = os.path.join(workdir, "results.json")
    recorded = _cli.read_config_record(workdir)
    if recorded is None or not os.path.exists(done):
        return None
    fixed, allowed = _cli.config_changes(recorded, _cli.config_record(cfg))
    if fixed or allowed:
        return None
    with open(done) as f:
        results = json.load(f)
    return results if results.get("steps") == cfg.train.num_steps else None


def run_cell(cfg, workdir: str) -> dict:
    """Trains one cell in a workdir session; a cell with another config is moved aside."""
    fixed = _cli.check_workdir_config(cfg, workdir)
    if fixed:
        print(f"rerunning {workdir}: its recorded config differs ({'; '.join(fixed[:3])})")
    with _cli.workdir_session(cfg, workdir, overwrite=True):
        return train.train_and_evaluate(cfg, workdir)


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
    _cli.quiet_logging(_VERBOSE.value)
    unknown = [m for m in _METHODS.value if m not in train.METHODS]
    if unknown:
        _cli.fail(f"--methods: unknown method(s) {unknown}; use {', '.join(train.METHODS)}")
    try:
        seeds = [int(s) for s in _SEEDS.value]
    except ValueError:
        _cli.fail(f"--seeds must be integers like 0,1,2; got {','.join(_SEEDS.value)}")
    for a in _OVERRIDES.value:  # checked once up front, on a config of the first method
        try:
            _apply(default.get_config(_METHODS.value[0]), a)
        except app.UsageError as e:
            _cli.fail(str(e))
    rows = []
    for method in _METHODS.value:
        for seed in seeds:
            cfg = default.get_config(method)
            cfg.seed = seed
            for a in _OVERRIDES.value:
                try:
                    _apply(cfg, a)
                except app.UsageError as e:
                    _cli.fail(f"{e} (method {method})")
            wd = os.path.join(_WORKDIR.value, method, f"seed_{seed}")
            results = finished(cfg, wd)
            if results is None:
                try:
                    results = run_cell(cfg, wd)
                except _cli.ConfigError as e:
                    _cli.fail(str(e))
            rows.append(results)
    table, summary = summarize(rows)
    summary["_provenance"] = provenance()
    os.makedirs(_WORKDIR.value, exist_ok=True)
    with open(os.path.join(_WORKDIR.value, "table.md"), "w") as f:
        f.write(f"<!-- {summary['_provenance']} -->\n{table}\n")
    with open(os.path.join(_WORKDIR.value, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(table)


if __name__ == "__main__":
    _define_flags()
    app.run(main)

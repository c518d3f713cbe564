"""Did a likelihood model reach the truth? Held-out NLL of `grid_flow` runs vs the true model's.

`experiments.synthetic.train` writes, for a model with a likelihood (`grid_flow`), the
held-out NLL of the fitted model (`nll_model`, at its final temperature) and the exact NLL of
the true generative model on the same samples (`nll_truth`: grid density and mixing Jacobian,
`qdjax.data.SyntheticDataset.log_prob`), the population optimum. The model is a *soft* grid
(logistic edges of width tau) fitted by Adam, so even the true code does not reach that NLL:
the **truth code** column is the run's own recipe applied to the true latents (the prior
fitted alone by `qdjax.methods.grid_flow_fit_prior` with the run's start, temperature
schedule, optimizer and steps; the flow replaced by the exact map to the standardized true
latents), i.e. the NLL the model class reaches *at the truth* with this recipe. A fit above
the truth code stopped in a worse basin (an optimization failure); a fit below it means the
recipe's objective prefers another code to the truth. This script tabulates them with MCC
and the cell accuracies:

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

_WORKDIRS, _OUT, _TRUTH_CODE = None, None, None


def _define_flags() -> None:
    """Defines this script's flags (only when run as a program, so importing it is free)."""
    global _WORKDIRS, _OUT, _TRUTH_CODE
    _WORKDIRS = flags.DEFINE_list("workdirs", [], "Glob patterns of finished grid_flow workdirs.")
    _OUT = flags.DEFINE_string("out", "", "Markdown file to write (empty: print only).")
    _TRUTH_CODE = flags.DEFINE_bool(
        "truth_code", True, "Fit each run's recipe to its true latents (seconds per run)."
    )


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


def truth_code_nll(workdir: str, results: dict) -> float:
    """Held-out NLL (nats, units of `x`) of the *true* code under the run's own recipe.

    The run's dataset is rebuilt from `workdir/config.json`; its grid prior is fitted alone
    (`qdjax.methods.grid_flow_fit_prior`, the run's recipe from `results.json`, same number of
    steps, model seed) to the standardized true latents of the training split; the flow is the
    exact map from `x` to those latents. So this is `nll_truth` plus the prior's misfit on the
    true latents: `NLL_prior(u) - NLL_true(u)` on the held-out standardized latents `u`.
    """
    import jax.numpy as jnp
    import ml_collections

    from experiments import _cli
    from experiments.synthetic import train
    from qdjax import methods

    record = _cli.read_config_record(workdir)
    if not record:
        raise ValueError(
            f"{workdir} has no readable {_cli.CONFIG_RECORD} (runs of `python -m "
            "experiments.synthetic` record it); rerun with --truth_code=false to skip this column"
        )
    config = ml_collections.ConfigDict(record)
    recipe = methods.Recipe.from_json(results["recipe"])
    ds = train.make_dataset(config)
    n = config.data.num_train
    s = np.asarray(ds.z, np.float64)
    mean, std = s[:n].mean(0), s[:n].std(0)
    u = ((s - mean) / std).astype(np.float32)
    prior = methods.grid_flow_fit_prior(
        u[:n],
        recipe,
        num_cells=int(recipe["model.grid_cells"]) or int(config.data.cells_per_dim),
        num_steps=int(results["steps"]),
        seed=int(config.seed),
    )
    tau = float(recipe["loss.grid_temperature"])
    nll_prior = -float(np.mean(np.asarray(prior.log_prob(jnp.asarray(u[n:]), tau))))
    # density of u = (s - mean) / std: log p_u = log p_s + sum(log std)
    nll_true_u = -float(np.mean(ds.density.log_prob(ds.z[n:]))) - float(np.sum(np.log(std)))
    return float(results["nll_truth"]) + nll_prior - nll_true_u


def table(rows: list[dict]) -> str:
    """One line per run, then the mean and the rank correlation of gap and MCC.

    A row with `nll_truth_code` (:func:`truth_code_nll`) also gets the truth code's gap to the
    true model and the fit's NLL minus the truth code's."""
    code = all("nll_truth_code" in r for r in rows) and bool(rows)
    extra = " truth code gap | fit - truth code |" if code else ""
    head = [
        "| workdir | MCC Pearson | NLL model | NLL truth | gap |"
        + extra
        + " cell acc. (own grid) |",
        "|---|---|---|---|---|" + ("---|---|" if code else "") + "---|",
    ]
    gaps = np.array([r["nll_model"] - r["nll_truth"] for r in rows])
    mcc = np.array([r["mcc_pearson"] for r in rows])
    for r, g in zip(rows, gaps):
        cells = (
            f" {r['nll_truth_code'] - r['nll_truth']:+.3f} | "
            f"{r['nll_model'] - r['nll_truth_code']:+.3f} |"
            if code
            else ""
        )
        head.append(
            f"| {r['workdir']} | {r['mcc_pearson']:.3f} | {r['nll_model']:.3f} | "
            f"{r['nll_truth']:.3f} | {g:+.3f} |{cells} "
            f"{r.get('cell_accuracy_model', float('nan')):.3f} |"
        )
    if rows:
        from scipy.stats import spearmanr

        rho = spearmanr(gaps, mcc)[0] if len(rows) > 2 else float("nan")
        mean_code = ""
        if code:
            cg = np.array([r["nll_truth_code"] - r["nll_truth"] for r in rows])
            fc = np.array([r["nll_model"] - r["nll_truth_code"] for r in rows])
            mean_code = f" {cg.mean():+.3f} (max {cg.max():+.3f}) | {fc.mean():+.3f} |"
        head.append(
            f"| **mean over {len(rows)}** | {mcc.mean():.3f} | | | {gaps.mean():+.3f} "
            f"(min {gaps.min():+.3f}) |{mean_code} |"
        )
        head.append(
            f"\nRuns with the model's NLL below the truth's: {int(np.sum(gaps < 0))} of "
            f"{len(rows)}; Spearman correlation of gap and MCC: {rho:+.2f}."
        )
        if code:
            below = int(np.sum(fc < 0))
            head.append(
                f"Runs with the model's NLL below the truth code's (the recipe's objective "
                f"prefers the fitted code to the truth): {below} of {len(rows)}."
            )
    return "\n".join(head)


def main(argv) -> int:
    del argv
    from experiments import _cli

    _cli.check_out_path(_OUT.value)
    if not _WORKDIRS.value:
        print(
            "error: --workdirs is required (glob patterns of grid_flow workdirs)", file=sys.stderr
        )
        return 2
    rows = load(_WORKDIRS.value)
    if not rows:
        print(
            f"error: no finished grid_flow runs match {_WORKDIRS.value}; check the glob",
            file=sys.stderr,
        )
        return 2
    if _TRUTH_CODE.value:
        for r in rows:
            r["nll_truth_code"] = truth_code_nll(r["workdir"], r)
    print(_cli.write_report(_OUT.value, "experiments.synthetic.likelihood_gap", table(rows)))
    return 0


if __name__ == "__main__":
    _define_flags()
    app.run(lambda argv: sys.exit(main(argv)))

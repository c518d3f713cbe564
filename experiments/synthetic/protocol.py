"""One honest protocol: choose hyperparameters on tuning seeds, report on evaluation seeds.

    python -m experiments.synthetic.protocol --workdir=runs/protocol \
        [--config.methods=ae,ioss,hfs,cliff] [--config.evaluation_seeds=100-109] \
        [--config.train.num_steps=1500] [--report_only]

Stages (each run is `experiments.synthetic.train.train_and_evaluate` in its own workdir, so
re-running the command skips finished runs and resumes interrupted ones; a tqdm bar counts
runs):

1. **Tune** on `tune_setting` and `tuning_seeds` only: every regularized method gets the same
   budget, `len(candidates)` values of `loss.regularizer_weight` (the method's warm-up and ramp
   scaled to `train.num_steps`); the candidate with the best mean MCC (Pearson) wins. Methods
   without a weight (ae) have nothing to tune. Choices go to `workdir/chosen.json`.
2. **Evaluate** every method with its chosen weight on every setting and every evaluation seed
   (`evaluation_seeds` for `tune_setting`, `evaluation_seeds_other` for the other settings).
3. **Report** (`report.py`-style, from results files only): per setting and method,
   mean ± std of MCC Pearson/Spearman and cell accuracy (grid recovered from the code by
   `qdjax.identifiability.recover_grid` with the true number of cells, plus the oracle cell
   accuracy of the best axis thresholds), and the paired difference to the best *baseline*
   with a bootstrap 95% confidence interval. Written to `workdir/protocol.md` and `.json`.
"""

from __future__ import annotations

import json
import os
import sys
import time

import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from experiments import _cli
from experiments.synthetic.configs import default

# Data settings: overrides on configs/default.py (the three settings of issue 11, and each
# with the diffeomorphic smooth_mlp mixing: "<name>_smooth").
SETTINGS = {
    "2d": {},
    "3lat": {
        "data.num_latents": 3,
        "data.obs_dim": 3,
        "model.num_latents": 3,
        "data.cells_per_dim": 3,
    },
    "6cell_deep": {"data.cells_per_dim": 6, "data.mixing_layers": 5},
}
# each with a diffeomorphic mixing (smooth leaky ReLU): LeakyReLU's kinks add oblique density
# cliffs to x that seed 000's theory does not allow (qdjax.data.Mixing)
SETTINGS.update(
    {f"{name}_smooth": {**over, "data.mixing": "smooth_mlp"} for name, over in SETTINGS.items()}
)
BASELINES = ("ae", "betavae", "hfs", "ioss", "qlae")  # what the candidates are compared with
# methods with a loss.regularizer_weight
TUNABLE = (
    "cliff",
    "cliff_rank",
    "cliff_v2",
    "hfs",
    "ioss",
    "ioss_cliff",
    "cliff_on_ioss",
    "axis_alignment",
    "axis_alignment_nodecoder",
)


def register_cliff_v2() -> None:
    """Registers `cliff_v2`: Cliff's recipe with the criterion `qdjax.losses.cliff_loss_variant(
    univariate="conditional", anti_collapse="gap")` (CLIFF_VARIANTS["v2"]), the variant the
    consistency table ranks best, so the protocol can compare it with v1 under equal budgets.

    Experiment-local until the registry gains a Cliff-variant knob; a no-op if registered.
    """
    import dataclasses

    from qdjax import losses
    from qdjax import train as qtrain
    from qdjax.losses import _cliff_variants

    try:
        from qdjax import methods
        from qdjax.methods import _parts as parts
    except ImportError:  # no registry in this checkout: cliff_v2 is unavailable
        return

    if "cliff_v2" in methods.names("synthetic"):
        return

    def build(recipe, arch, seed):
        model = parts.autoencoder_model("ae", recipe, arch, seed)
        weights = losses.CliffWeights(
            univariate=recipe["loss.cliff_univariate"],
            bivariate=recipe["loss.cliff_bivariate"],
            uniform=recipe["loss.cliff_uniform"],
        )
        bandwidth = recipe["loss.cliff_bandwidth"] or None

        def kernel(z):
            return _cliff_variants.cliff_loss_variant(
                z,
                bandwidth=bandwidth,
                univariate="conditional",
                anti_collapse="gap",
                weights=weights,
            )

        weight = parts.schedule(
            recipe["loss.regularizer_weight"],
            recipe["loss.warmup_steps"],
            recipe["loss.ramp_steps"],
        )
        terms = [
            parts.reconstruction(recipe),
            qtrain.latent_term("cliff_v2", kernel, weight=weight),
        ]
        return parts.single_optimizer(model, recipe, qtrain.make_objective(*terms))

    base = methods.get("cliff")
    methods.register(
        dataclasses.replace(
            base,
            name="cliff_v2",
            summary="AE + Cliff v2 (conditional cliffs, gap anti-collapse), Cliff's schedule",
            build=build,
        )
    )


register_cliff_v2()  # before experiments.synthetic.train is imported (it lists the methods)


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.settings = "2d,3lat,6cell_deep"
    c.methods = "ae,ioss,hfs,cliff"
    c.tune_setting = "2d"
    c.tuning_seeds = "0,1"
    c.evaluation_seeds = "100-109"
    c.evaluation_seeds_other = "100-104"
    # Equal tuning budget: the same candidate weights for every regularized method.
    c.candidates = "0.03,0.1,0.3"
    # "method=weight,..." skips tuning and uses these weights (e.g. ones an earlier protocol
    # chose on the tuning seeds; `make run` does this to stay within minutes).
    c.fixed_weights = ""
    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 1500  # scaled from the recipes' 3000 (warm-up/ramp scaled alike)
    # restarts per run, one kept by train.restart_selection ("objective": the lowest training
    # objective; "agreement": the medoid of the restarts' codes); every method gets the same
    # number and rule, tuning runs included
    c.train.restarts = 1
    c.train.restart_selection = "objective"
    # > 0: this batch size for every method (tuning runs included); 0: each recipe's own
    c.train.batch_size = 0
    c.num_bootstrap = 2000
    # extra paired comparisons in the report, "a:b,..." (e.g. "cliff_rank:cliff"): MCC of a
    # minus b on the seeds both finished, with the bootstrap interval
    c.paired = ""
    return c


_CONFIG = _WORKDIR = _REPORT_ONLY = _VERBOSE = None


def _define_flags() -> None:
    """Defines this script's flags (only when run as a program, so importing it is free)."""
    global _CONFIG, _WORKDIR, _REPORT_ONLY, _VERBOSE
    _CONFIG = config_flags.DEFINE_config_dict("config", get_config(), lock_config=True)
    _WORKDIR = flags.DEFINE_string("workdir", "runs/protocol", "Output directory.")
    _REPORT_ONLY = flags.DEFINE_bool("report_only", False, "Only build the tables from results.")
    _VERBOSE = flags.DEFINE_bool("verbose", False, "Show library INFO logs (Orbax, absl).")


def parse_seeds(text: str) -> list[int]:
    """`"0,1,5-7"` -> `[0, 1, 5, 6, 7]`."""
    out = []
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        lo, sep, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            raise ValueError(f"seeds must look like '0,1,5-7'; got {text!r}") from None
    return out


def _recipe_default(method: str, key: str, fallback):
    try:
        from qdjax import methods

        return methods.defaults(method, "synthetic").get(key, fallback)
    except (ImportError, ValueError):
        return fallback


def tunable(method: str) -> bool:
    return method in TUNABLE


def setting_config(
    setting: str,
    method: str,
    seed: int,
    *,
    num_steps: int | None = None,
    weight=None,
    restarts: int = 1,
    batch_size: int = 0,
    restart_selection: str = "objective",
) -> ml_collections.ConfigDict:
    """`configs/default.py:<method>` with the setting's overrides, `seed`, the run length
    (the method's warm-up, ramp and learning-rate decay scaled by `num_steps / 3000`), the
    regularizer weight, the number of restarts and how one is kept, and the batch size (0: the
    recipe's)."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; use one of {sorted(SETTINGS)}")
    cfg = default.get_config(method)
    cfg.seed = int(seed)
    for key, value in SETTINGS[setting].items():
        section, name = key.split(".")
        cfg[section][name] = value
    if num_steps is not None:
        base = cfg.train.num_steps
        cfg.train.num_steps = int(num_steps)
        for key in ("loss.warmup_steps", "loss.ramp_steps", "train.lr_decay_steps"):
            section, name = key.split(".")
            v = _recipe_default(method, key, cfg[section].get(name)) or 0
            if v and name in cfg[section]:
                cfg[section][name] = int(round(v * num_steps / base))
    if weight is not None:
        cfg.loss.regularizer_weight = float(weight)
    cfg.train.restarts = int(restarts)
    cfg.train.restart_selection = str(restart_selection)
    if batch_size:
        cfg.train.batch_size = int(batch_size)
    cfg.train.progress = False
    cfg.eval.plot = False
    return cfg


# ----------------------------------------------------------------------------- cell accuracy


def oracle_cell_accuracy(z: np.ndarray, s: np.ndarray, cells: np.ndarray) -> float:
    """Cell accuracy with the best axis-aligned thresholds (an upper bound for any detector).

    Each true axis is matched to the code axis of highest |Spearman| correlation (one-to-one);
    for each boundary between true cells `c` and `c + 1` the threshold along the matched axis
    that best separates `cells <= c` from `cells > c` is chosen (both orientations tried).
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.stats import spearmanr

    from qdjax import metrics

    d = s.shape[1]
    if d == 1:
        corr = np.abs(np.atleast_2d(spearmanr(z[:, 0], s[:, 0])[0]))
    else:
        corr = np.abs(spearmanr(z, s)[0][: z.shape[1], z.shape[1] :])
    rows, cols = linear_sum_assignment(-np.nan_to_num(corr))
    pred = np.zeros_like(cells)
    for a, b in zip(rows, cols):
        best = None
        for sign in (1.0, -1.0):
            v = sign * z[:, a]
            order = np.argsort(v)
            lab = cells[order, b]
            k = int(cells[:, b].max()) + 1
            thr = []
            for c in range(k - 1):  # split maximizing #(lab <= c left) + #(lab > c right)
                left = np.cumsum(lab <= c)
                right = np.cumsum((lab > c)[::-1])[::-1]
                score = left[:-1] + right[1:]
                i = int(np.argmax(score))
                thr.append(0.5 * (v[order][i] + v[order][i + 1]))
            p = metrics.cells_from_thresholds(v[:, None], [np.sort(thr)])[:, 0]
            acc = float(np.mean(p == cells[:, b]))
            if best is None or acc > best[0]:
                best = (acc, p)
        pred[:, b] = best[1]
    return float(np.mean(np.all(pred == cells, axis=1)))


def grid_cell_accuracy(z: np.ndarray, cells: np.ndarray) -> float:
    """Cell accuracy of the grid `qdjax.identifiability.recover_grid` finds in the code
    (told the true number of cells per axis); NaN if the tool is unavailable."""
    try:
        from qdjax.identifiability import recover_grid
    except ImportError:
        return float("nan")
    from qdjax import metrics

    k = [int(cells[:, i].max()) + 1 for i in range(cells.shape[1])]
    g = recover_grid(z, num_cells=k, num_bootstrap=0)
    pred = metrics.cells_from_thresholds(z, list(g.thresholds))
    return float(metrics.quantized_cell_accuracy(pred, cells).accuracy)


def _cell_metrics(wd: str) -> dict:
    """Cell accuracies of a finished run, cached in `wd/cells.json` with the version of
    `recover_grid` that made them (a cache from another version is recomputed)."""
    from qdjax.identifiability import RECOVER_GRID_VERSION

    path = os.path.join(wd, "cells.json")
    if os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if cached.pop("recover_grid_version", None) == RECOVER_GRID_VERSION:
            return cached
    codes = np.load(os.path.join(wd, "codes.npz"))
    z, s, cells = codes["z"].astype(np.float64), codes["s"], codes["cells"]
    out = {
        "cell_accuracy_grid": grid_cell_accuracy(z, cells),
        "cell_accuracy_oracle": oracle_cell_accuracy(z, s, cells),
    }
    with open(path, "w") as f:
        json.dump({**out, "recover_grid_version": RECOVER_GRID_VERSION}, f)
    return out


# ----------------------------------------------------------------------------- running


def _run(cfg, wd: str) -> dict:
    """One run's results: reused only if it finished with exactly `cfg` (its recorded
    config.json); a run recorded with another config (e.g. a recipe default changed since)
    is moved aside to `<wd>.replaced-<time>/` and trained afresh, an unfinished one resumes."""
    from experiments.synthetic import sweep

    res = sweep.finished(cfg, wd) if os.path.exists(os.path.join(wd, "codes.npz")) else None
    if res is None:
        sweep.run_cell(cfg, wd)
        with open(os.path.join(wd, "results.json")) as f:
            res = json.load(f)
    res.update(_cell_metrics(wd))
    return res


def tuning_jobs(c, workdir: str):
    for method in c.methods.split(","):
        if not tunable(method):
            continue
        for w in c.candidates.split(","):
            for seed in parse_seeds(c.tuning_seeds):
                cfg = setting_config(
                    c.tune_setting,
                    method,
                    seed,
                    num_steps=c.train.num_steps,
                    weight=float(w),
                    restarts=c.train.restarts,
                    batch_size=c.train.batch_size,
                    restart_selection=c.train.restart_selection,
                )
                wd = os.path.join(workdir, "tune", c.tune_setting, method, f"w{w}", f"seed_{seed}")
                yield (method, float(w), seed), cfg, wd


def choose(results: dict) -> dict:
    """Best candidate weight per method by mean tuning MCC (Pearson)."""
    by: dict = {}
    for (method, w, _), r in results.items():
        by.setdefault(method, {}).setdefault(w, []).append(r["mcc_pearson"])
    return {
        m: {
            "weight": max(ws, key=lambda w: np.mean(ws[w])),
            "tuning_mcc": {str(w): float(np.mean(v)) for w, v in ws.items()},
        }
        for m, ws in by.items()
    }


def evaluation_jobs(c, workdir: str, chosen: dict):
    for setting in c.settings.split(","):
        seeds = c.evaluation_seeds if setting == c.tune_setting else c.evaluation_seeds_other
        for method in c.methods.split(","):
            w = chosen.get(method, {}).get("weight")
            for seed in parse_seeds(seeds):
                cfg = setting_config(
                    setting,
                    method,
                    seed,
                    num_steps=c.train.num_steps,
                    weight=w,
                    restarts=c.train.restarts,
                    batch_size=c.train.batch_size,
                    restart_selection=c.train.restart_selection,
                )
                yield (
                    (setting, method, seed),
                    cfg,
                    os.path.join(workdir, "eval", setting, method, f"seed_{seed}"),
                )


def fixed_weights(c) -> dict[str, float]:
    """`--config.fixed_weights="cliff=0.1,ioss=0.1"` -> `{"cliff": 0.1, "ioss": 0.1}`."""
    out = {}
    for part in filter(None, c.fixed_weights.split(",")):
        method, sep, value = part.partition("=")
        try:
            out[method.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(
                f"--config.fixed_weights must look like 'cliff=0.1,ioss=0.1'; got {part!r}"
            )
    return out


def _validate(c) -> None:
    for s in c.settings.split(","):
        if s not in SETTINGS:
            raise ValueError(f"--config.settings: unknown {s!r}; use {sorted(SETTINGS)}")
    if not c.fixed_weights and c.tune_setting not in c.settings.split(","):
        raise ValueError("--config.tune_setting must be one of --config.settings")
    tune, ev = set(parse_seeds(c.tuning_seeds)), set(parse_seeds(c.evaluation_seeds))
    ev |= set(parse_seeds(c.evaluation_seeds_other))
    if tune & ev:
        raise ValueError(f"--config.tuning_seeds and evaluation seeds overlap: {sorted(tune & ev)}")
    if c.train.num_steps < 100:
        raise ValueError(f"--config.train.num_steps must be >= 100; got {c.train.num_steps}")
    if c.train.restarts < 1:
        raise ValueError(f"--config.train.restarts must be >= 1; got {c.train.restarts}")
    from experiments.synthetic.train import RESTART_SELECTIONS

    if c.train.restart_selection not in RESTART_SELECTIONS:
        raise ValueError(
            f"--config.train.restart_selection must be one of {', '.join(RESTART_SELECTIONS)}; "
            f"got {c.train.restart_selection!r}"
        )
    if c.train.batch_size < 0:
        raise ValueError(
            f"--config.train.batch_size must be >= 0 (0: each recipe's); got {c.train.batch_size}"
        )
    try:
        [float(w) for w in c.candidates.split(",")]
    except ValueError:
        raise ValueError(f"--config.candidates must be numbers; got {c.candidates!r}") from None
    parse_pairs(c.paired)
    fixed_weights(c)


def run_protocol(c, workdir: str) -> None:
    from tqdm import tqdm

    _validate(c)
    if c.fixed_weights:
        chosen = {m: {"weight": w, "tuning_mcc": {}} for m, w in fixed_weights(c).items()}
    else:
        jobs = list(tuning_jobs(c, workdir))
        tuned = {}
        for key, cfg, wd in tqdm(jobs, desc="tune", unit="run"):
            tuned[key] = _run(cfg, wd)
        chosen = choose(tuned)
    with open(os.path.join(workdir, "chosen.json"), "w") as f:
        json.dump(chosen, f, indent=1)
    jobs = list(evaluation_jobs(c, workdir, chosen))
    for _, cfg, wd in tqdm(jobs, desc="evaluate", unit="run"):
        _run(cfg, wd)


# ----------------------------------------------------------------------------- report


def _paired(a: np.ndarray, b: np.ndarray, num_bootstrap: int) -> tuple[np.ndarray, float, float]:
    """MCC points `100 (a - b)` per seed and the 95% bootstrap interval of their mean."""
    diff = 100 * (np.asarray(a) - np.asarray(b))
    return (diff, *bootstrap_ci(diff, num_bootstrap))


def paired_cells(
    diff: np.ndarray, num_bootstrap: int, ci: tuple[float, float] | None = None
) -> str:
    """`"mean [lo, hi] | k/n"` of paired differences `diff` (points): the mean, its 95%
    bootstrap interval (`ci` if already computed), and on how many of the `n` seeds the
    difference is positive."""
    diff = np.asarray(diff, np.float64)
    lo, hi = ci if ci is not None else bootstrap_ci(diff, num_bootstrap)
    return f"{diff.mean():+.1f} [{lo:+.1f}, {hi:+.1f}] | {int(np.sum(diff > 0))}/{diff.size}"


def bootstrap_ci(diff: np.ndarray, num: int, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of `diff`."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), (num, len(diff)))
    means = diff[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def collect(workdir: str) -> dict:
    """`{setting: {method: {seed: results}}}` of every finished evaluation run."""
    out: dict = {}
    root = os.path.join(workdir, "eval")
    for setting in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        for method in sorted(os.listdir(os.path.join(root, setting))):
            for sd in sorted(os.listdir(os.path.join(root, setting, method))):
                wd = os.path.join(root, setting, method, sd)
                if os.path.exists(os.path.join(wd, "results.json")):
                    with open(os.path.join(wd, "results.json")) as f:
                        r = json.load(f)
                    r.update(_cell_metrics(wd))
                    out.setdefault(setting, {}).setdefault(method, {})[r["seed"]] = r
    return out


def _batch_note(by_method: dict) -> str:
    """`", batch 2048"` when every run's batch size was set to one value (protocol's
    `train.batch_size`), else `""` (each recipe's own batch size)."""
    sizes = set()
    for runs in by_method.values():
        for r in runs.values():
            recipe = r.get("recipe") or {}
            if "train.batch_size" not in recipe.get("overridden", ()):
                return ""
            sizes.add(recipe.get("train", {}).get("batch_size"))
    return f", batch {sizes.pop()}" if len(sizes) == 1 else ""


_COLUMNS = (
    ("mcc_pearson", "MCC Pearson", 100.0),
    ("mcc_spearman", "MCC Spearman", 100.0),
    ("cell_accuracy_grid", "cell acc. (recover_grid)", 1.0),
    ("cell_accuracy_oracle", "cell acc. (oracle thr.)", 1.0),
)


def _mean_std(x: np.ndarray, scale: float) -> str:
    digits = 1 if scale > 1 else 3
    return f"{np.nanmean(x) * scale:.{digits}f} ± {np.nanstd(x) * scale:.{digits}f}"


def parse_pairs(spec: str, flag: str = "--config.paired") -> list[tuple[str, str]]:
    """`"a:b,c:d"` -> `[("a", "b"), ("c", "d")]` (the report's extra paired comparisons);
    `flag` names the option in the error."""
    out = []
    for part in filter(None, spec.split(",")):
        a, sep, b = part.partition(":")
        if not (sep and a and b):
            raise ValueError(f"{flag} must look like 'cliff_rank:cliff'; got {part!r}")
        out.append((a, b))
    return out


def report(
    workdir: str,
    num_bootstrap: int,
    command: str,
    methods: list[str] | None = None,
    pairs: list[tuple[str, str]] = (),
) -> tuple[str, dict]:
    """Markdown tables and a JSON summary built only from results files in `workdir`
    (only `methods`, if given), plus the paired MCC differences of `pairs`."""
    data = collect(workdir)
    if methods is not None:
        data = {k: {m: v[m] for m in methods if m in v} for k, v in data.items()}
        data = {k: v for k, v in data.items() if v}
    chosen = {}
    if os.path.exists(os.path.join(workdir, "chosen.json")):
        with open(os.path.join(workdir, "chosen.json")) as f:
            chosen = json.load(f)
    lines = [f"<!-- produced by: {command} -->", ""]
    summary: dict = {"chosen": chosen, "settings": {}}
    if chosen:
        lines.append("Tuning (mean MCC Pearson on tuning seeds; chosen weight in bold):")
        lines.append("")
        for m, ch in chosen.items():
            if not ch["tuning_mcc"]:
                lines.append(f"- {m}: weight {ch['weight']} fixed (--config.fixed_weights)")
                continue
            cells = ", ".join(
                (f"**{w}: {100 * v:.1f}**" if float(w) == ch["weight"] else f"{w}: {100 * v:.1f}")
                for w, v in ch["tuning_mcc"].items()
            )
            lines.append(f"- {m}: {cells}")
        lines.append("")
    for setting, by_method in data.items():
        seeds = sorted(set.intersection(*(set(v) for v in by_method.values())))
        if not seeds:  # runs still in progress: no seed finished by every method yet
            continue
        steps = {r["steps"] for v in by_method.values() for r in v.values()}
        starts = {len(r.get("restarts", ())) or 1 for v in by_method.values() for r in v.values()}
        rules = {
            r.get("restart_selection", "objective")
            for v in by_method.values()
            for r in v.values()
            if r.get("restarts")
        }
        lines += [
            f"### {setting} (evaluation seeds {seeds[0]}-{seeds[-1]}, n = {len(seeds)}, "
            f"{'/'.join(map(str, sorted(steps)))} steps"
            + (f", {'/'.join(map(str, sorted(starts)))} restarts" if starts != {1} else "")
            + (f" kept by {'/'.join(sorted(rules))}" if rules else "")
            + _batch_note(by_method)
            + ")",
            "",
        ]
        head = "| method | " + " | ".join(n for _, n, _ in _COLUMNS)
        lines += [head + " | Δ MCC vs best baseline [95% CI] |", "|---" * (len(_COLUMNS) + 2) + "|"]
        stats = {}
        for m, rs in by_method.items():
            stats[m] = {k: np.array([rs[s].get(k, np.nan) for s in seeds]) for k, _, _ in _COLUMNS}
        base = [m for m in stats if m in BASELINES]
        best = max(base, key=lambda m: np.nanmean(stats[m]["mcc_pearson"])) if base else None
        summary["settings"][setting] = {"seeds": seeds, "best_baseline": best, "methods": {}}
        for m, st in stats.items():
            row = [_mean_std(st[k], sc) for k, _, sc in _COLUMNS]
            entry = {k: [float(x) for x in st[k]] for k, _, _ in _COLUMNS}
            if best is not None and m != best:
                diff, lo, hi = _paired(st["mcc_pearson"], stats[best]["mcc_pearson"], num_bootstrap)
                row.append(f"{diff.mean():+.1f} [{lo:+.1f}, {hi:+.1f}] vs {best}")
                entry["diff_vs_best_baseline"] = [float(diff.mean()), lo, hi]
            else:
                row.append("(best baseline)" if m == best else "")
            lines.append(f"| {m} | " + " | ".join(row) + " |")
            summary["settings"][setting]["methods"][m] = entry
        lines.append("")
    if pairs:
        lines += [
            "### Paired differences (MCC Pearson, a - b, on the seeds both finished)",
            "",
            "| setting | a - b | mean [95% CI] | seeds a > b |",
            "|---|---|---|---|",
        ]
        for setting, by_method in data.items():
            for a, b in pairs:
                if a not in by_method or b not in by_method:
                    continue
                seeds = sorted(set(by_method[a]) & set(by_method[b]))
                diff, lo, hi = _paired(
                    [by_method[a][k]["mcc_pearson"] for k in seeds],
                    [by_method[b][k]["mcc_pearson"] for k in seeds],
                    num_bootstrap,
                )
                cells = paired_cells(diff, num_bootstrap, (lo, hi))
                lines.append(f"| {setting} | {a} - {b} | {cells} |")
                summary["settings"][setting].setdefault("paired", {})[f"{a}-{b}"] = [
                    float(diff.mean()),
                    lo,
                    hi,
                ]
        lines.append("")
    return "\n".join(lines), summary


def main(argv) -> None:
    del argv
    c, workdir = _CONFIG.value, _WORKDIR.value
    _cli.quiet_logging(_VERBOSE.value)
    os.makedirs(workdir, exist_ok=True)
    command = _cli.provenance("experiments.synthetic.protocol")
    try:  # a bad flag: one line, exit code 2 (BUILD.md's convention)
        _validate(c)
        parse_pairs(c.paired)
    except ValueError as e:
        _cli.fail(str(e))
    try:
        if not _REPORT_ONLY.value:
            t0 = time.perf_counter()
            run_protocol(c, workdir)
            print(f"protocol runs done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    except _cli.ConfigError as e:  # a run's config refused (e.g. its workdir): a usage error
        _cli.fail(str(e))
    except ValueError as e:  # a failure inside a run: exit code 1
        sys.exit(f"error: {e}")
    text, summary = report(
        workdir, c.num_bootstrap, command, c.methods.split(","), parse_pairs(c.paired)
    )
    summary["command"] = command
    summary["config"] = c.to_dict()
    with open(os.path.join(workdir, "protocol.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(workdir, "protocol.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(text)


if __name__ == "__main__":
    _define_flags()
    app.run(main)

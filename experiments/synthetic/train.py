"""Train an autoencoder-family model on the synthetic grid task and report MCC.

Methods (`--config.method`): every method of the registry that applies to vector data,
`qdjax.methods.names("synthetic")` (ae, betavae, betatcvae, cliff, hfs, ioss, qlae, ...). The
method brings its whole recipe (model, loss weights and schedule, optimizer, batch size) from
`qdjax.methods`; `--config.<section>.<key>` overrides one setting. The resolved recipe is
written into results.json under "recipe".
"""

from __future__ import annotations

import os
import time

import jax
import ml_collections
import numpy as np
from absl import logging
from flax import nnx

from experiments import _cli, _methods
from experiments._cli import require
from experiments.synthetic import plots
from qdjax import data, identifiability, methods, metrics
from qdjax import train as qtrain
from qdjax.train import evaluate

METHODS = methods.names("synthetic")


def regularizer_weight(loss: ml_collections.ConfigDict):
    """`loss.regularizer_weight`, as a schedule when `loss.warmup_steps`/`loss.ramp_steps` > 0.

    Weight 0 for the first `warmup_steps` updates (a plain autoencoder), then a linear ramp to
    the full weight over `ramp_steps` updates.
    """
    return methods.warmup_schedule(loss.regularizer_weight, loss.warmup_steps, loss.ramp_steps)


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks every value a user is likely to get wrong; errors name the flag."""
    require(config.method in METHODS, "method", f"must be one of {METHODS}; got {config.method!r}")
    _cli.require_seed(config.seed)
    _cli.require_widths(config.model.hidden, "model.hidden")
    d, t = config.data, config.train
    require(d.num_latents >= 1, "data.num_latents", f"must be >= 1; got {d.num_latents}")
    require(
        d.obs_dim >= d.num_latents,
        "data.obs_dim",
        f"must be >= data.num_latents ({d.num_latents}); got {d.obs_dim}",
    )
    require(d.cells_per_dim >= 2, "data.cells_per_dim", f"must be >= 2; got {d.cells_per_dim}")
    require(
        0 < d.width_low <= d.width_high,
        "data.width_low",
        f"must satisfy 0 < width_low <= width_high; got {d.width_low}, {d.width_high}",
    )
    require(
        0 <= d.empty_fraction < 1,
        "data.empty_fraction",
        f"must be in [0, 1); got {d.empty_fraction}",
    )
    require(
        d.mixing in data.MIXING_KINDS,
        "data.mixing",
        f"must be one of {', '.join(data.MIXING_KINDS)}; got {d.mixing!r}",
    )
    require(d.num_eval >= 2, "data.num_eval", f"must be >= 2; got {d.num_eval}")
    require(
        config.model.num_latents >= 1,
        "model.num_latents",
        f"must be >= 1; got {config.model.num_latents}",
    )
    require(
        1 <= t.batch_size <= d.num_train,
        "train.batch_size",
        f"must be between 1 and data.num_train ({d.num_train}); got {t.batch_size}",
    )
    _cli.validate_train(t)
    require(t.restarts >= 1, "train.restarts", f"must be >= 1; got {t.restarts}")
    require(
        t.restart_selection in RESTART_SELECTIONS,
        "train.restart_selection",
        f"must be one of {', '.join(RESTART_SELECTIONS)}; got {t.restart_selection!r}",
    )
    require(t.weight_decay >= 0, "train.weight_decay", f"must be >= 0; got {t.weight_decay}")
    require(t.clip_value >= 0, "train.clip_value", f"must be >= 0 (0 = none); got {t.clip_value}")
    require(
        config.model.num_values >= 2,
        "model.num_values",
        f"must be >= 2; got {config.model.num_values}",
    )
    for name in ("quantization_weight", "commitment_weight"):
        require(config.loss[name] >= 0, f"loss.{name}", f"must be >= 0; got {config.loss[name]}")
    lo = config.loss
    require(lo.beta >= 0, "loss.beta", f"must be >= 0; got {lo.beta}")
    require(
        lo.regularizer_weight >= 0,
        "loss.regularizer_weight",
        f"must be >= 0; got {lo.regularizer_weight}",
    )
    for name in ("warmup_steps", "ramp_steps"):
        require(lo[name] >= 0, f"loss.{name}", f"must be >= 0; got {lo[name]}")
    for name in ("cliff_univariate", "cliff_bivariate", "cliff_uniform"):
        require(lo[name] >= 0, f"loss.{name}", f"must be >= 0; got {lo[name]}")
    require(
        lo.cliff_univariate + lo.cliff_bivariate + lo.cliff_uniform > 0,
        "loss.cliff_univariate",
        "cliff_univariate, cliff_bivariate and cliff_uniform must not all be 0",
    )
    require(
        lo.cliff_bandwidth >= 0,
        "loss.cliff_bandwidth",
        f"must be >= 0 (0 = Silverman's rule); got {lo.cliff_bandwidth}",
    )
    require(
        config.loss.likelihood in ("gaussian", "bernoulli"),
        "loss.likelihood",
        f"must be 'gaussian' or 'bernoulli'; got {config.loss.likelihood!r}",
    )


def make_dataset(config: ml_collections.ConfigDict) -> data.SyntheticDataset:
    d = config.data
    return data.make_synthetic(
        config.seed,
        d.num_train + d.num_eval,
        num_latents=d.num_latents,
        obs_dim=d.obs_dim,
        cells_per_dim=d.cells_per_dim,
        width_range=(d.width_low, d.width_high),
        logit_scale=d.logit_scale,
        empty_fraction=d.empty_fraction,
        smoothing=d.smoothing,
        mixing=d.mixing,
        mixing_layers=d.mixing_layers,
    )


RESTART_SEED_STRIDE = 1000  # restart r initializes the model from seed + r * stride
RESTART_SELECTIONS = ("objective", "agreement")  # how train.restarts keeps one restart
AGREEMENT_INPUTS = 5000  # training inputs whose codes the "agreement" selection compares


def build(
    config: ml_collections.ConfigDict, recipe: methods.Recipe, obs_dim: int, restart: int = 0
):
    """The registry's model, modules and train step for `recipe` on an MLP of this config.

    `restart` r of `train.restarts`: the model is initialized from `seed + r * 1000` (restart
    0 is the plain run) and a method with a start of its own takes start r (`grid_flow`: the
    flow's fixed rotation, `qdjax.nn.start_rotation`).
    """
    arch = methods.Architecture(
        (obs_dim,),
        config.model.num_latents,
        "mlp",
        # cells_per_axis: the grid's known size, for methods that model it (grid_flow)
        {
            "hidden": tuple(config.model.hidden),
            "cells_per_axis": config.data.cells_per_dim,
            "start": restart,
            "num_starts": config.train.restarts,
        },
        dataset_size=config.data.num_train,
    )
    return methods.build(recipe, arch, config.seed + RESTART_SEED_STRIDE * restart)


def selection_loss(built, x: np.ndarray, s: np.ndarray, *, batch_size: int, step: int, seed: int):
    """The method's own training objective at `step`, averaged over the full batches of `(x, s)`.

    Unsupervised (the factors `s` are passed along as the training batches carry them, and no
    objective of the registry reads them): what `train.restarts` ranks restarts by. For
    `grid_flow` it is the negative log-likelihood at the final temperature.
    """
    if built.objective is None:
        raise ValueError("selection_loss needs a method trained on one objective")
    graphdef, state = nnx.split(built.model)
    key = jax.random.key(seed)

    @jax.jit
    def loss(state, xb, sb):
        value, _ = built.objective(nnx.merge(graphdef, state), data.Batch(xb, sb), key, step)
        return value

    n = (len(x) // batch_size) * batch_size
    values = [
        float(loss(state, x[i : i + batch_size], s[i : i + batch_size]))
        for i in range(0, n, batch_size)
    ]
    return float(np.mean(values))


def select_restart(restarts: list[dict], rule: str) -> int:
    """The restart `train.restarts` keeps: `rule` "objective" takes the lowest
    `selection_loss` (the training objective), "agreement" the highest `agreement` (mean
    Spearman MCC of its code with the other restarts' codes; a restart with a non-finite code
    has NaN and is never kept over a finite one). Ties: the lowest restart index."""
    if rule == "objective":
        return min(restarts, key=lambda r: (r["selection_loss"], r["restart"]))["restart"]
    if rule == "agreement":

        def key(r):
            a = r.get("agreement", float("nan"))
            return (-a if np.isfinite(a) else float("inf"), r["restart"])

        return min(restarts, key=key)["restart"]
    raise ValueError(f"restart selection must be one of {RESTART_SELECTIONS}; got {rule!r}")


def quantized_cells(z: np.ndarray, cells_true: np.ndarray) -> metrics.CellAccuracyResult:
    """Grid cells recovered from the learned codes, scored against the true cells.

    The grid (interior cliffs per latent, support edges excluded) is found by
    `qdjax.identifiability.recover_grid`; agreement is up to permutation of axes and
    reversal of each axis (`qdjax.metrics.partition_agreement` gives the per-axis AMI).
    """
    grid = identifiability.recover_grid(z, num_bootstrap=0)
    return metrics.quantized_cell_accuracy(grid.cells(z), cells_true)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains, evaluates MCC on held-out samples, writes `results.json` and plots."""
    config, recipe = _methods.apply_recipe(
        config, "synthetic", config.method, num_steps=config.train.num_steps
    )
    validate(config)
    t0 = time.perf_counter()
    ds = make_dataset(config)
    n_train = config.data.num_train
    x_train, s_train = ds.x[:n_train], ds.z[:n_train]
    x_eval, s_eval, cells_eval = ds.x[n_train:], ds.z[n_train:], ds.cells[n_train:]
    source = data.ArraySource(
        x_train, s_train, batch_size=config.train.batch_size, seed=config.seed
    )
    tc = config.train

    def encode(model, x):
        graphdef, state = nnx.split(model)
        fn = jax.jit(lambda x: nnx.merge(graphdef, state).encode(x))
        return evaluate.encode(fn, x, batch_size=1024)

    def eval_fn(modules, step):
        m = modules[0]
        z = encode(m, x_eval)
        return {
            "mcc_pearson": metrics.mcc(z, s_eval).score,
            "mcc_spearman": metrics.mcc(z, s_eval, correlation="spearman").score,
        }

    def fit(restart: int, wd: str):
        built = build(config, recipe, ds.x.shape[1], restart)
        if tc.restarts > 1 and tc.restart_selection == "objective" and built.objective is None:
            raise _cli.ConfigError(
                f"--config.train.restart_selection=objective ranks restarts by the method's "
                f"objective, and {config.method!r} has none (it is trained adversarially); set "
                "--config.train.restart_selection=agreement or --config.train.restarts=1"
            )
        if hasattr(built.model, "data_init"):  # data-dependent start (grid_flow's prior)
            built.model.data_init(x_train)
        result = qtrain.train(
            built.modules,
            built.step,
            source,
            workdir=wd,
            seed=config.seed,
            eval_fn=eval_fn,
            **_cli.loop_kwargs(tc),
        )
        return built, result

    restarts = []
    agreement = None
    if tc.restarts == 1:
        _, result = fit(0, workdir)
    else:
        # every restart trains in its own workdir (each resumes on its own); one is kept by an
        # unsupervised rule (train.restart_selection); both rules' scores are recorded
        x_agree = x_train[:AGREEMENT_INPUTS]
        fits, codes = [], []
        for r in range(tc.restarts):
            built, res = fit(r, os.path.join(workdir, f"restart_{r}"))
            built = built._replace(model=res.modules[0])
            score = float("nan")
            if built.objective is not None:
                score = selection_loss(
                    built,
                    x_train,
                    s_train,
                    batch_size=tc.batch_size,
                    step=res.step,
                    seed=config.seed,
                )
            if not np.isfinite(score):  # never kept over a finite one
                score = float("inf")
            z_r = encode(res.modules[0], x_eval)
            codes.append(np.asarray(encode(res.modules[0], x_agree), np.float64))
            restarts.append(
                {
                    "restart": r,
                    "selection_loss": score,
                    "mcc_pearson": metrics.mcc(z_r, s_eval).score,  # reported, never used
                    "mcc_spearman": metrics.mcc(z_r, s_eval, correlation="spearman").score,
                }
            )
            fits.append(res)
            logging.info("restart %d: selection loss %.5f", r, score)
        # restarts with a finite code; the verdict's run indices (medoid, agreeing) index this
        finite = [i for i, c in enumerate(codes) if np.all(np.isfinite(c))]
        if len(finite) >= 2:
            agreement = identifiability.code_agreement([codes[i] for i in finite])
            for i, a in zip(finite, agreement.mean_agreement):
                restarts[i]["agreement"] = float(a)
        for r in restarts:
            r.setdefault("agreement", float("nan"))
        kept = select_restart(restarts, tc.restart_selection)
        result = fits[kept]
        logging.info("restart %d kept (%s)", kept, tc.restart_selection)
    model = result.modules[0]
    z = encode(model, x_eval)
    pearson = metrics.mcc(z, s_eval)
    spearman = metrics.mcc(z, s_eval, correlation="spearman")
    cells = quantized_cells(z, cells_eval)
    recon = float(
        np.mean(
            np.sum(
                (np.asarray(jax.jit(lambda m, x: m(x).x_hat)(model, x_eval)) - x_eval) ** 2, axis=1
            )
        )
    )
    results = {
        "method": config.method,
        "seed": config.seed,
        "steps": result.step,
        "mcc_pearson": pearson.score,
        "mcc_spearman": spearman.score,
        "reconstruction_mse": recon,
        "cell_accuracy": cells.accuracy,
        "cell_axis_accuracy": cells.mean_axis_accuracy,
        "final_loss": result.last_metrics.get("loss", float("nan")),
        "wall_time_s": time.perf_counter() - t0,
        "train_examples_per_sec": result.examples_per_sec,
        "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
        "recipe": recipe.to_json(),
    }
    if restarts:
        results["restarts"] = restarts
        results["restart_selection"] = tc.restart_selection
        results["restart_kept"] = kept
        if agreement is not None:
            results["restart_agreement"] = {**agreement.to_json(), "restarts": finite}
    if hasattr(model, "cells"):  # a likelihood model with its own grid (grid_flow)
        own = np.asarray(jax.jit(lambda m, x: m.cells(x))(model, x_eval))
        results["cell_accuracy_model"] = metrics.quantized_cell_accuracy(own, cells_eval).accuracy
        # did the fit reach the truth? held-out NLL of the model (at its final temperature)
        # against the exact NLL of the true model (the population optimum)
        tau = float(recipe["loss.grid_temperature"])
        lp = jax.jit(lambda m, x: m.log_prob(x, tau))(model, x_eval)
        results["nll_model"] = -float(np.mean(np.asarray(lp)))
        if ds.mixing.weights[0].shape[0] == ds.mixing.weights[0].shape[1]:
            results["nll_truth"] = -float(np.mean(ds.log_prob(slice(n_train, None))))
    if config.eval.plot and jax.process_index() == 0:  # host files: process 0 only
        title = f"{config.method}: MCC {pearson.score:.3f}"
        plots.plot_latents(
            os.path.join(workdir, "latents.png"), z, s_eval, cells_eval, pearson.assignment, title
        )
        plots.plot_marginals(os.path.join(workdir, "marginals.png"), z, pearson.assignment, title)
        results["plots"] = [os.path.join(workdir, n) for n in ("latents.png", "marginals.png")]
    # Held-out codes with their true latents and cells, for criterion-consistency checks
    # (`python -m experiments.synthetic.consistency --workdirs=...`).
    if jax.process_index() == 0:
        np.savez(os.path.join(workdir, "codes.npz"), z=z, s=s_eval, cells=cells_eval)
    qtrain.write_results(workdir, results)
    print(format_table([results]))
    logging.info("results written to %s", os.path.join(workdir, "results.json"))
    return results


def format_table(rows: list[dict]) -> str:
    """A markdown table of the main numbers of one or more runs."""
    head = (
        "| method | seed | steps | MCC (Pearson) | MCC (Spearman) | cell acc. | recon MSE "
        "| wall s |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['seed']} | {r['steps']} | {r['mcc_pearson']:.4f} | "
            f"{r['mcc_spearman']:.4f} | {r['cell_accuracy']:.3f} | {r['reconstruction_mse']:.4g} | "
            f"{r['wall_time_s']:.1f} |"
        )
    return "\n".join(lines)

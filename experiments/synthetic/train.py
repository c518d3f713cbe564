"""Train an autoencoder-family model on the synthetic grid task and report MCC.

Methods (`--config.method`):
  ae       deterministic MLP autoencoder (no regularizer)
  betavae  Gaussian VAE, KL weighted by `loss.beta`
  cliff    AE + Cliff regularizer (KDE cliffs, qdjax.losses.cliff_loss)
  hfs      AE + Hausdorff factorized support (qdjax.losses.hfs_loss)
  ioss     AE + independence-of-support penalty (qdjax.losses.ioss_loss)
  qlae     quantized-latent AE (qdjax.nn.mlp_qlae: per-latent scalar codebooks of
           `model.num_values` values, quantization + commitment terms, AdamW weight decay)
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from flax import nnx

from experiments import _cli
from experiments._cli import require
from experiments.synthetic import plots
from qdjax import data, losses, metrics, nn
from qdjax import train as qtrain
from qdjax.train import evaluate

METHODS = ("ae", "betavae", "cliff", "hfs", "ioss", "qlae")


def _offdiagonal_mean(pairwise):
    """Wraps a `[d, d]` pairwise kernel (zero diagonal) into its mean over the d(d-1) pairs."""

    def kernel(z):
        m = pairwise(z)
        d = m.shape[0]
        return jnp.sum(m) / max(d * (d - 1), 1)

    return kernel


def _cliff_kernel(loss: ml_collections.ConfigDict):
    """`cliff_loss` with the config's term weights and bandwidth (0 = Silverman's rule)."""
    weights = losses.CliffWeights(
        univariate=float(loss.cliff_univariate),
        bivariate=float(loss.cliff_bivariate),
        uniform=float(loss.cliff_uniform),
    )
    bandwidth = float(loss.cliff_bandwidth) or None

    def kernel(z):
        return losses.cliff_loss(z, bandwidth=bandwidth, weights=weights)

    return kernel


def regularizer_weight(loss: ml_collections.ConfigDict):
    """`loss.regularizer_weight`, as a schedule when `loss.warmup_steps`/`loss.ramp_steps` > 0.

    Weight 0 for the first `warmup_steps` updates (a plain autoencoder), then a linear ramp to
    the full weight over `ramp_steps` updates.
    """
    w, warm, ramp = float(loss.regularizer_weight), int(loss.warmup_steps), int(loss.ramp_steps)
    if warm == 0 and ramp == 0:
        return w

    def schedule(step):
        frac = (jnp.asarray(step, jnp.float32) - warm + 1.0) / max(ramp, 1)
        return w * jnp.clip(frac, 0.0, 1.0)

    return schedule


_REGULARIZERS = {
    "cliff": _cliff_kernel,
    "hfs": lambda loss: _offdiagonal_mean(losses.hfs_pairwise),
    "ioss": lambda loss: _offdiagonal_mean(losses.ioss_pairwise),
}


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks every value a user is likely to get wrong; errors name the flag."""
    require(config.method in METHODS, "method", f"must be one of {METHODS}; got {config.method!r}")
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
        d.mixing in ("mlp", "linear"), "data.mixing", f"must be 'mlp' or 'linear'; got {d.mixing!r}"
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


def make_model_and_objective(config: ml_collections.ConfigDict, obs_dim: int):
    """The model for `config.method` and its weighted objective."""
    variational = config.method == "betavae"
    rngs = nnx.Rngs(config.seed)
    hidden = tuple(config.model.hidden)
    if config.method == "qlae":
        model = nn.mlp_qlae(
            (obs_dim,),
            config.model.num_latents,
            hidden=hidden,
            num_values=config.model.num_values,
            rngs=rngs,
        )
    else:
        model = nn.mlp_autoencoder(
            (obs_dim,), config.model.num_latents, hidden=hidden, variational=variational, rngs=rngs
        )
    terms = [
        qtrain.reconstruction_term(config.loss.likelihood, weight=config.loss.reconstruction_weight)
    ]
    if config.method == "qlae":
        terms.extend(
            qtrain.quantization_terms(
                quantization=config.loss.quantization_weight,
                commitment=config.loss.commitment_weight,
            )
        )
    if variational:
        terms.append(qtrain.kl_term(weight=config.loss.beta))
    if config.method in _REGULARIZERS:
        kernel = _REGULARIZERS[config.method](config.loss)
        terms.append(
            qtrain.latent_term(config.method, kernel, weight=regularizer_weight(config.loss))
        )
    return model, qtrain.make_objective(*terms)


def quantized_cells(z: np.ndarray, cells_true: np.ndarray) -> metrics.CellAccuracyResult:
    """Grid cells recovered from the learned codes, scored against the true cells.

    Cliffs of every latent are detected with `qdjax.losses.find_cliffs`; the outermost
    two (the edges of the bounded support) are dropped and the interior ones are used as
    thresholds. Agreement is up to permutation of axes and reversal of each axis.
    """
    found = losses.find_cliffs(z)
    thresholds = []
    for pos, mask in zip(np.asarray(found.positions), np.asarray(found.mask)):
        p = np.sort(pos[mask])
        thresholds.append(p[1:-1] if len(p) > 2 else p[:0])
    pred = metrics.cells_from_thresholds(z, thresholds)
    return metrics.quantized_cell_accuracy(pred, cells_true)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains, evaluates MCC on held-out samples, writes `results.json` and plots."""
    validate(config)
    t0 = time.perf_counter()
    ds = make_dataset(config)
    n_train = config.data.num_train
    x_train, s_train = ds.x[:n_train], ds.z[:n_train]
    x_eval, s_eval, cells_eval = ds.x[n_train:], ds.z[n_train:], ds.cells[n_train:]
    source = data.ArraySource(
        x_train, s_train, batch_size=config.train.batch_size, seed=config.seed
    )
    model, objective = make_model_and_objective(config, ds.x.shape[1])
    tc = config.train
    optimizer = nnx.Optimizer(
        model,
        qtrain.make_optimizer(
            learning_rate=tc.learning_rate,
            weight_decay=tc.weight_decay,
            clip_value=tc.clip_value or None,
        ),
        wrt=nnx.Param,
    )

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

    result = qtrain.train(
        (model, optimizer),
        qtrain.make_train_step(objective),
        source,
        workdir=workdir,
        seed=config.seed,
        eval_fn=eval_fn,
        **_cli.loop_kwargs(tc),
    )
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
    }
    if config.eval.plot:
        title = f"{config.method}: MCC {pearson.score:.3f}"
        plots.plot_latents(
            os.path.join(workdir, "latents.png"), z, s_eval, cells_eval, pearson.assignment, title
        )
        plots.plot_marginals(os.path.join(workdir, "marginals.png"), z, pearson.assignment, title)
        results["plots"] = [os.path.join(workdir, n) for n in ("latents.png", "marginals.png")]
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

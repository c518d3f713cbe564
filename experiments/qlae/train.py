"""Train any registry method on Balls images; report PSNR, InfoMEC, MIG, MCC.

Methods (`--config.method`): every method of `qdjax.methods` that applies to image data,
`qdjax.methods.names("balls")` (ae, betavae, betatcvae, cliff, hfs, ioss, qlae, qlvae, tripod,
bioae, factorqvae, factorvae, qlinfowgan). The method brings its whole recipe (model family, loss
weights, optimizer, batch size) from the registry; `--config.<section>.<key>` overrides one
setting, and the resolved recipe is written into results.json under "recipe". The network
(`model.architecture`, `channels`, `dense`, `depth`, `num_latents`) is this experiment's.

`loss.cliff_weight > 0` adds the Cliff regularizer on `out.z` to the methods that offer it.
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

from experiments import _cli, _methods
from experiments._cli import ConfigError, require
from experiments.qlae import plots
from qdjax import methods, metrics, nn
from qdjax import train as qtrain
from qdjax.data import _balls as balls
from qdjax.train import evaluate

METHODS = methods.names("balls")
# Methods built on qdjax's conv autoencoder factories, which take a bfloat16 compute dtype.
BF16_METHODS = ("ae", "betavae", "betatcvae", "cliff", "hfs", "ioss", "bioae", "qlae", "qlvae")
IMAGE_SHAPE = (balls.IMAGE_SIZE, balls.IMAGE_SIZE, 3)
# Models with a discrete code (`encode_indices`): scored on the indices too.
DISCRETE = (nn.QuantizedAutoencoder, nn.QuantizedVAE, nn.TripodAutoencoder, nn.FactorQVAE)
DISCRETE += (nn.QLInfoWGAN,)


def decoder(model):
    """The network mapping codes to images (the GAN's generator)."""
    return model.generator if isinstance(model, nn.QLInfoWGAN) else model.decoder


def validate(config: ml_collections.ConfigDict, recipe: methods.Recipe) -> None:
    """Checks every value a user is likely to get wrong; errors name the flag."""
    d, m, t = config.data, config.model, config.train
    _cli.require_seed(config.seed)
    _cli.require_widths(m.channels, "model.channels", allow_empty=True)
    _cli.require_widths(m.dense, "model.dense", allow_empty=True)
    variants = tuple(sorted(balls.VARIANTS))
    require(d.variant in variants, "data.variant", f"must be one of {variants}; got {d.variant!r}")
    max_r = 0.4 * balls.IMAGE_SIZE
    require(0 <= d.radius <= max_r, "data.radius", f"must be in [0, {max_r}] px; got {d.radius}")
    require(d.num_eval >= 16, "data.num_eval", f"must be >= 16; got {d.num_eval}")
    require(
        1 <= d.num_eval_curve <= d.num_eval,
        "data.num_eval_curve",
        f"must be between 1 and data.num_eval ({d.num_eval}); got {d.num_eval_curve}",
    )
    require(m.num_latents >= 0, "model.num_latents", f"must be >= 0; got {m.num_latents}")
    archs = ("dlib", "qlae", "qlae_legacy")
    require(
        m.architecture in archs,
        "model.architecture",
        f"must be one of {archs}; got {m.architecture!r}",
    )
    precisions = ("float32", "bf16")
    require(
        t.precision in precisions,
        "train.precision",
        f"must be one of {precisions}; got {t.precision!r}",
    )
    require(
        t.precision == "float32" or config.method in BF16_METHODS,
        "train.precision",
        f"bf16 is available for {', '.join(BF16_METHODS)}; got method {config.method!r}",
    )
    require(m.depth >= 0, "model.depth", f"must be >= 0 (0 = default); got {m.depth}")
    lo = recipe.section("loss")
    if "likelihood" in lo:
        require(
            lo["likelihood"] in ("bernoulli", "gaussian"),
            "loss.likelihood",
            f"must be 'bernoulli' or 'gaussian'; got {lo['likelihood']!r}",
        )
        require(
            lo["reduction"] in ("mean", "sum"),
            "loss.reduction",
            f"must be 'mean' or 'sum'; got {lo['reduction']!r}",
        )
    for name, value in lo.items():  # weights, steps, betas: never negative
        if isinstance(value, int | float) and not isinstance(value, bool):
            require(value >= 0, f"loss.{name}", f"must be >= 0; got {value}")
    if "model.num_values" in recipe.values:
        nv = recipe["model.num_values"]
        require(nv >= 2, "model.num_values", f"must be >= 2; got {nv}")
    _cli.validate_train(t)
    require(t.weight_decay >= 0, "train.weight_decay", f"must be >= 0; got {t.weight_decay}")
    require(t.clip_value >= 0, "train.clip_value", f"must be >= 0 (0 = none); got {t.clip_value}")
    require(
        config.eval.factor_bins >= 2,
        "eval.factor_bins",
        f"must be >= 2; got {config.eval.factor_bins}",
    )


def make_source(config: ml_collections.ConfigDict) -> balls.BallsSource:
    d = config.data
    try:
        return balls.BallsSource(
            d.variant,
            radius=d.radius or None,
            num_balls=d.num_balls,
            batch_size=config.train.batch_size,
            seed=config.seed,
            cells_per_dim=d.cells_per_dim,
            empty_fraction=d.empty_fraction,
        )
    except ValueError as e:  # one-line message naming the data section
        require(False, "data", f"is invalid: {e}")
        raise


def num_latents(config: ml_collections.ConfigDict, num_factors: int) -> int:
    """`model.num_latents`, or twice the number of factors (the QLAE default) when 0."""
    return config.model.num_latents or nn.default_num_latents(num_factors)


def build(config: ml_collections.ConfigDict, recipe: methods.Recipe, num_factors: int):
    """The registry's model, modules and train step for `recipe` on this config's conv net."""
    m = config.model
    options = {
        "architecture": m.architecture,
        "channels": tuple(m.channels),
        "dense": tuple(m.dense),
        "depth": m.depth,
    }
    if config.train.precision != "float32":  # bf16 compute, float32 parameters and losses
        options["dtype"] = config.train.precision
    arch = methods.Architecture(
        IMAGE_SHAPE,
        num_latents(config, num_factors),
        "conv",
        options,
        dataset_size=10**6,  # Balls renders a fresh image per example: effectively unbounded
    )
    try:
        return methods.build(recipe, arch, config.seed)
    except ValueError as e:
        raise ConfigError(f"--config.method {config.method!r} cannot be built here: {e}") from None


def _host_fn(graphdef, fn, batch_size: int = 256):
    """`run(state, x) -> [n, k]` host array of `fn(model, x)` flattened per example.

    `fn` is jitted once; `x` is processed in padded chunks of `batch_size` rows, so every call
    has the same shape and compiles once.
    """
    jitted = jax.jit(lambda state, x: fn(nnx.merge(graphdef, state), x))

    def run(state, x):
        return evaluate.encode(
            lambda c: jitted(state, c).reshape(c.shape[0], -1), x, batch_size=batch_size
        )

    return run


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains, evaluates on held-out Balls images, writes `results.json` and plots."""
    config, recipe = _methods.apply_recipe(
        config, "balls", config.method, num_steps=config.train.num_steps
    )
    validate(config, recipe)
    t0 = time.perf_counter()
    source = make_source(config)
    eval_rng = np.random.default_rng([config.seed, 2])  # disjoint from the training batches
    if source.variant == "grid":
        held_out, cells = source.sample_with_cells(config.data.num_eval, eval_rng)
        factor_classes = cells  # the quantized ground truth: the true grid cell per factor
    else:
        held_out = source.sample(config.data.num_eval, eval_rng)
        factor_classes = metrics.discretize(held_out.s, num_bins=config.eval.factor_bins)
    x_eval, s_eval = held_out
    x_curve = x_eval[: config.data.num_eval_curve]

    built = build(config, recipe, source.num_factors)
    model = built.model
    bernoulli = recipe["loss.likelihood"] == "bernoulli"
    quantized = isinstance(model, DISCRETE)

    def image(model, x):  # reconstructions in [0, 1]
        x_hat = model(x).x_hat
        return jax.nn.sigmoid(x_hat) if bernoulli else jnp.clip(x_hat, 0.0, 1.0)

    graphdef = nnx.graphdef(model)
    recon_fn = _host_fn(graphdef, image)
    code_fn = _host_fn(graphdef, lambda m, x: m.encode(x))
    index_fn = _host_fn(graphdef, lambda m, x: m.encode_indices(x))

    def decode(state, z):
        x_hat = decoder(nnx.merge(graphdef, state))(z)
        return jax.nn.sigmoid(x_hat) if bernoulli else jnp.clip(x_hat, 0.0, 1.0)

    decode_fn = jax.jit(decode)

    def eval_fn(modules, step):
        x_hat = recon_fn(nnx.state(modules[0]), x_curve).reshape(x_curve.shape)
        return {"psnr": metrics.psnr(x_curve, x_hat)}

    tc = config.train
    result = qtrain.train(
        built.modules,
        built.step,
        source,
        workdir=workdir,
        seed=config.seed,
        eval_fn=eval_fn,
        **_cli.loop_kwargs(tc),
    )
    model = result.modules[0]
    state = nnx.state(model)
    x_hat = recon_fn(state, x_eval).reshape(x_eval.shape)
    z = code_fn(state, x_eval)
    info = metrics.infomec(z, factor_classes, seed=config.seed)
    results = {
        "method": config.method,
        "variant": source.variant,
        "radius_px": source.radius,
        "seed": config.seed,
        "steps": result.step,
        "num_latents": int(z.shape[1]),
        "num_params": nn.count_params(model),
        "recipe": recipe.to_json(),
        "psnr": metrics.psnr(x_eval, x_hat),
        "infom": info.infom,
        "infoc": info.infoc,
        "infoe": info.infoe,
        "mig": metrics.mig(z, s_eval).score,
        "mcc_pearson": metrics.mcc(z, s_eval).score,
        "mcc_spearman": metrics.mcc(z, s_eval, correlation="spearman").score,
    }
    if quantized:  # the discrete code: codebook indices, plug-in MI estimator
        idx = index_fn(state, x_eval)
        info_q = metrics.infomec(idx, factor_classes, discrete_latents=True, seed=config.seed)
        results.update(
            infom_quantized=info_q.infom,
            infoc_quantized=info_q.infoc,
            infoe_quantized=info_q.infoe,
            mig_quantized=metrics.mig(idx, s_eval).score,
        )
    rows = qtrain.read_metrics(workdir)
    results["psnr_curve"] = {t: r["eval/psnr"] for t, r in sorted(rows.items()) if "eval/psnr" in r}
    results["final_loss"] = result.last_metrics.get("loss", float("nan"))
    results["wall_time_s"] = time.perf_counter() - t0
    results["train_examples_per_sec"] = result.examples_per_sec
    if config.eval.plot and jax.process_index() == 0:  # host files: process 0 only
        results["plots"] = _plot(config, workdir, model, state, decode_fn, x_eval, x_hat, z)
    qtrain.write_results(workdir, results)
    print(format_table([results]))
    logging.info("results written to %s", os.path.join(workdir, "results.json"))
    return results


def _plot(config, workdir, model, state, decode_fn, x_eval, x_hat, z) -> list[str]:
    """Reconstructions and latent traversals of the first held-out image."""
    paths = [os.path.join(workdir, n) for n in ("reconstructions.png", "traversals.png")]
    title = f"{config.method}, {config.train.num_steps} steps"
    plots.plot_reconstructions(paths[0], x_eval[:8], x_hat[:8], title)
    if isinstance(getattr(model, "quantizer", None), nn.LatentQuantizer):
        # every codebook value of each latent, the others at their code
        codebook = np.asarray(model.quantizer.codebook[...])
        values = np.sort(codebook, axis=1)
        base = np.asarray(jax.jit(lambda x: model(x).z)(x_eval[:1]))[0]
    else:  # 2nd..98th percentile of each latent over the held-out set
        values = np.quantile(z, np.linspace(0.02, 0.98, 10), axis=0).T
        base = z[0]
    num_latents, k = values.shape
    codes = np.repeat(base[None, None], num_latents * k, axis=0).reshape(num_latents, k, -1)
    codes[np.arange(num_latents), :, np.arange(num_latents)] = values
    images = np.asarray(decode_fn(state, jnp.asarray(codes.reshape(num_latents * k, -1))))
    plots.plot_traversals(paths[1], images.reshape(num_latents, k, *x_eval.shape[1:]), title)
    return paths


def format_table(rows: list[dict]) -> str:
    """A markdown table of the main numbers of one or more runs."""

    def f(r, key):
        return f"{r[key]:.3f}" if key in r else "-"

    head = (
        "| method | steps | PSNR dB | InfoM | InfoC | InfoE | MIG | MCC | InfoM (q) | InfoC (q) "
        "| MIG (q) | wall s |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r.get('method', r.get('kind'))} | {r['steps']} | {r['psnr']:.2f} | "
            f"{f(r, 'infom')} | {f(r, 'infoc')} "
            f"| {f(r, 'infoe')} | {f(r, 'mig')} | {f(r, 'mcc_pearson')} | "
            f"{f(r, 'infom_quantized')} | {f(r, 'infoc_quantized')} | {f(r, 'mig_quantized')} | "
            f"{r['wall_time_s']:.0f} |"
        )
    return "\n".join(lines)

"""Train a QLAE (or an AE / VAE baseline) on Balls images; report PSNR, InfoMEC, MIG, MCC.

Kinds (`--config.model.kind`):
  ae     deterministic conv autoencoder, AdamW with a small weight decay
  vae    Gaussian conv VAE (β = `loss.beta`)
  qlae   quantized-latent autoencoder (Hsu et al. 2023): reconstruction + 0.01 quantization
         + 0.01 commitment, AdamW with weight decay 0.1 and element-wise clipping at 1.0
  qlvae  QLAE with a Gaussian posterior (adds the KL term)

`loss.cliff_weight > 0` adds the Cliff regularizer on `out.z` to any kind.
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
from experiments.qlae import plots
from qdjax import losses, metrics, nn
from qdjax import train as qtrain
from qdjax.data import _balls as balls
from qdjax.train import evaluate

KINDS = ("ae", "vae", "qlae", "qlvae")
QUANTIZED = ("qlae", "qlvae")
# kind -> (weight decay, element-wise gradient clip or None) used when the config says < 0.
OPTIMIZER_DEFAULTS = {
    "ae": (1e-4, None),
    "vae": (1e-4, None),
    "qlae": (0.1, 1.0),
    "qlvae": (0.1, 1.0),
}
IMAGE_SHAPE = (balls.IMAGE_SIZE, balls.IMAGE_SIZE, 3)


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks every value a user is likely to get wrong; errors name the flag."""
    d, m, lo, t = config.data, config.model, config.loss, config.train
    require(m.kind in KINDS, "model.kind", f"must be one of {KINDS}; got {m.kind!r}")
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
    require(m.num_values >= 2, "model.num_values", f"must be >= 2; got {m.num_values}")
    archs = ("dlib", "qlae", "qlae_legacy")
    require(
        m.architecture in archs,
        "model.architecture",
        f"must be one of {archs}; got {m.architecture!r}",
    )
    precisions = ("float32", "bf16")
    require(
        t.get("precision", "float32") in precisions,
        "train.precision",
        f"must be one of {precisions}; got {t.get('precision')!r}",
    )
    require(m.depth >= 0, "model.depth", f"must be >= 0 (0 = default); got {m.depth}")
    require(
        lo.likelihood in ("bernoulli", "gaussian"),
        "loss.likelihood",
        f"must be 'bernoulli' or 'gaussian'; got {lo.likelihood!r}",
    )
    require(
        lo.reduction in ("mean", "sum"),
        "loss.reduction",
        f"must be 'mean' or 'sum'; got {lo.reduction!r}",
    )
    for name in ("quantization_weight", "commitment_weight", "beta", "cliff_weight"):
        require(lo[name] >= 0, f"loss.{name}", f"must be >= 0; got {lo[name]}")
    _cli.validate_train(t)
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


def make_model(config: ml_collections.ConfigDict, num_factors: int):
    m = config.model
    width = num_latents(config, num_factors)
    arch = dict(
        architecture=m.architecture,
        channels=tuple(m.channels) or None,
        dense=tuple(m.dense) or None,
        depth=m.depth or None,
        dtype=config.train.get("precision", "float32"),  # "bf16": bf16 compute, f32 params/loss
    )
    if m.kind in QUANTIZED:
        arch["num_values"] = m.num_values
    factory = {
        "ae": nn.conv_autoencoder,
        "vae": nn.conv_vae,
        "qlae": nn.qlae,
        "qlvae": nn.qlvae,
    }[m.kind]
    # One compiled initializer instead of one eager dispatch (and compile) per parameter.
    create = nnx.jit(lambda: factory(IMAGE_SHAPE, width, **arch, rngs=nnx.Rngs(config.seed)))
    return create()


def make_objective(config: ml_collections.ConfigDict, num_latents: int):
    """Weighted terms of `config.model.kind`.

    With `loss.reduction="mean"` (the QLAE reference) the reconstruction is the mean over
    pixels (`reconstruction_term(per_element=True)`) and the quantization/commitment losses
    the mean over latents (the engine's per-example sums weighted `0.01 / num_latents`). This
    keeps the reference's balance (0.01 of a per-latent mean against a per-pixel mean) and its
    element-wise gradient clipping scale; with `"sum"` the 0.01 terms are ~10^3 times weaker
    relative to the reconstruction and the codes run away from the codebook.
    """
    lo, kind = config.loss, config.model.kind
    mean = lo.reduction == "mean"
    terms = [qtrain.reconstruction_term(lo.likelihood, per_element=mean)]
    if kind in ("vae", "qlvae"):  # β relative to the summed reconstruction, as in a β-VAE
        terms.append(
            qtrain.kl_term(weight=lo.beta / (float(np.prod(IMAGE_SHAPE)) if mean else 1.0))
        )
    if kind in QUANTIZED:
        latent_scale = 1.0 / num_latents if mean else 1.0
        terms.extend(
            qtrain.quantization_terms(
                quantization=lo.quantization_weight * latent_scale,
                commitment=lo.commitment_weight * latent_scale,
            )
        )
    if lo.cliff_weight > 0:
        terms.append(qtrain.latent_term("cliff", losses.cliff_loss, weight=lo.cliff_weight))
    return qtrain.make_objective(*terms)


def optimizer_settings(config: ml_collections.ConfigDict) -> tuple[float, float | None]:
    """`(weight_decay, clip_value)` with the kind's defaults filled in for negative values."""
    wd, clip = OPTIMIZER_DEFAULTS[config.model.kind]
    t = config.train
    wd = wd if t.weight_decay < 0 else float(t.weight_decay)
    clip = clip if t.clip_value < 0 else (float(t.clip_value) or None)
    return wd, clip


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
    validate(config)
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

    model = make_model(config, source.num_factors)
    wd, clip = optimizer_settings(config)
    tx = qtrain.make_optimizer(
        learning_rate=config.train.learning_rate, weight_decay=wd, clip_value=clip
    )
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    bernoulli = config.loss.likelihood == "bernoulli"
    quantized = config.model.kind in QUANTIZED

    def image(model, x):  # reconstructions in [0, 1]
        x_hat = model(x).x_hat
        return jax.nn.sigmoid(x_hat) if bernoulli else jnp.clip(x_hat, 0.0, 1.0)

    graphdef = nnx.graphdef(model)
    recon_fn = _host_fn(graphdef, image)
    code_fn = _host_fn(graphdef, lambda m, x: m.encode(x))
    index_fn = _host_fn(graphdef, lambda m, x: m.encode_indices(x))
    decode_fn = jax.jit(
        lambda state, z: (
            jax.nn.sigmoid(nnx.merge(graphdef, state).decoder(z))
            if bernoulli
            else jnp.clip(nnx.merge(graphdef, state).decoder(z), 0.0, 1.0)
        )
    )

    def eval_fn(modules, step):
        x_hat = recon_fn(nnx.state(modules[0]), x_curve).reshape(x_curve.shape)
        return {"psnr": metrics.psnr(x_curve, x_hat)}

    tc = config.train
    result = qtrain.train(
        (model, optimizer),
        qtrain.make_train_step(make_objective(config, num_latents(config, source.num_factors))),
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
        "kind": config.model.kind,
        "variant": source.variant,
        "radius_px": source.radius,
        "seed": config.seed,
        "steps": result.step,
        "num_latents": int(z.shape[1]),
        "num_params": nn.count_params(model),
        "weight_decay": wd,
        "clip_value": clip,
        "reduction": config.loss.reduction,
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
    kind = config.model.kind
    title = f"{kind}, {config.train.num_steps} steps"
    plots.plot_reconstructions(paths[0], x_eval[:8], x_hat[:8], title)
    if kind in QUANTIZED:  # every codebook value of each latent, the others at their code
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
        "| kind | steps | PSNR dB | InfoM | InfoC | InfoE | MIG | MCC | InfoM (q) | InfoC (q) "
        "| MIG (q) | wall s |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['steps']} | {r['psnr']:.2f} | {f(r, 'infom')} | {f(r, 'infoc')} "
            f"| {f(r, 'infoe')} | {f(r, 'mig')} | {f(r, 'mcc_pearson')} | "
            f"{f(r, 'infom_quantized')} | {f(r, 'infoc_quantized')} | {f(r, 'mig_quantized')} | "
            f"{r['wall_time_s']:.0f} |"
        )
    return "\n".join(lines)

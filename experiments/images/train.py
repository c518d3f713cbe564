"""Train one method on an image disentanglement benchmark; report InfoMEC, DCI, MIG and PSNR.

Shared by `python -m experiments.{shapes3d,mpi3d,dsprites,falcor3d,isaac3d}`. Methods come
from the registry by name (`qdjax.methods.names("shapes3d")`: ae, betavae, betatcvae, cliff,
hfs, ioss, qlae, qlvae, qlinfowgan, factorqvae, factorvae, tripod, bioae): the method brings
its recipe (objective weights and schedule, optimizer, batch size, per-dataset values from the
authors' configs); `--config.<section>.<key>` overrides one setting; the resolved recipe is
written into results.json under "recipe". The network (`model.architecture` qlae | dlib,
widths) is this experiment's. Data sources
(`--config.data.source`): `auto` uses the dataset's file under `$QDJAX_DATA_DIR` and, for
Shapes3D only, falls back to the procedural stand-in (`qdjax.data.Shapes3DRenderer`) when no
file is there; `procedural`, `h5`, `npz`, `tfds` ask for one source and a missing file is a
one-line error before anything compiles. Datasets up to `data.device_budget_gb` live on the
device as uint8 (`qdjax.data.DeviceSource`); larger ones stream from host memory with the
loop's prefetch. Every result and plot title of a stand-in run says "procedural stand-in".
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import threadpoolctl
from absl import logging
from flax import nnx

from experiments import _cli, _methods
from experiments._cli import require
from experiments.images import plots
from qdjax import data as qdata
from qdjax import losses, metrics, nn
from qdjax import methods as qmethods
from qdjax import train as qtrain
from qdjax.train import evaluate

DATASETS = ("shapes3d", "mpi3d", "dsprites", "falcor3d", "isaac3d")
SOURCES = ("auto", "procedural", "h5", "npz", "tfds")
STAND_IN = "procedural stand-in"
METHODS = qmethods.names("shapes3d")  # every registry method for image data
# models with a discrete code (`encode_indices`): InfoMEC is also reported on the indices
_QUANTIZED_MODELS = (nn.QuantizedAutoencoder, nn.QuantizedVAE, nn.QLInfoWGAN, nn.FactorQVAE)


class Data(NamedTuple):
    source: Any  # the training BatchSource
    x_eval: np.ndarray
    s_eval: np.ndarray
    factor_names: tuple[str, ...]
    label: str  # "procedural stand-in" or "<dataset> (<file>)"
    pipeline: str  # "procedural-device" | "device-resident" | "host-stream"
    size: int


def resolve(config: ml_collections.ConfigDict):
    """`(config with the method's recipe filled in, recipe)`; one-line ConfigError otherwise."""
    require(
        config.dataset in DATASETS, "dataset", f"must be one of {DATASETS}; got {config.dataset!r}"
    )
    return _methods.apply_recipe(
        config, config.dataset, config.method, num_steps=config.train.num_steps
    )


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks a config whose recipe is filled in (:func:`resolve`)."""
    d, m, lo = config.data, config.model, config.loss
    _cli.require_seed(config.seed)
    _cli.require_widths(m.channels, "model.channels", allow_empty=True)
    _cli.require_widths(m.dense, "model.dense", allow_empty=True)
    require(d.source in SOURCES, "data.source", f"must be one of {SOURCES}; got {d.source!r}")
    require(
        d.source != "procedural" or config.dataset == "shapes3d",
        "data.source",
        f"'procedural' exists only for shapes3d (a stand-in); {config.dataset} needs its file",
    )
    require(d.num_eval >= 64, "data.num_eval", f"must be >= 64; got {d.num_eval}")
    require(
        1 <= d.num_eval_curve <= d.num_eval,
        "data.num_eval_curve",
        f"must be between 1 and data.num_eval ({d.num_eval}); got {d.num_eval_curve}",
    )
    require(d.render_supersample >= 1, "data.render_supersample", "must be >= 1")
    require(
        d.render_size >= 16 and d.render_size % 16 == 0,
        "data.render_size",
        f"must be a multiple of 16 (64 = Shapes3D); got {d.render_size}",
    )
    require(m.num_latents >= 0, "model.num_latents", f"must be >= 0; got {m.num_latents}")
    require(m.num_values >= 2, "model.num_values", f"must be >= 2; got {m.num_values}")
    archs = ("dlib", "qlae")
    require(m.architecture in archs, "model.architecture", f"must be one of {archs}")
    require(lo.likelihood in ("bernoulli", "gaussian"), "loss.likelihood", "bernoulli|gaussian")
    require(lo.reduction in ("mean", "sum"), "loss.reduction", "must be 'mean' or 'sum'")
    for name in ("quantization_weight", "commitment_weight", "beta", "regularizer_weight"):
        require(lo[name] >= 0, f"loss.{name}", f"must be >= 0; got {lo[name]}")
    n_critic = lo.get("n_critic") if config.method == "qlinfowgan" else None
    require(
        not n_critic or config.train.batch_size % n_critic == 0,
        "train.batch_size",
        f"({config.train.batch_size}) must be a multiple of loss.n_critic ({n_critic}) for "
        f"{config.method}: the batch is split into one micro-batch per critic update",
    )
    require(config.eval.dci_backend in ("gbt", "forest"), "eval.dci_backend", "must be gbt|forest")
    require(config.eval.metric_threads >= 0, "eval.metric_threads", "must be >= 0 (0 = all)")
    _cli.validate_train(config.train)


def _file_dataset(config, batch_size: int):
    """The real dataset of `config` (FactorImageDataset) or a one-line ConfigError."""
    d, name = config.data, config.dataset
    path = d.path or None
    kw = dict(batch_size=batch_size, seed=config.seed)
    try:
        if d.source == "tfds":
            tfds_name = {"mpi3d": "mpi3d"}.get(name, name)
            data_dir = path or os.path.join(qdata.data_dir(), "tensorflow_datasets")
            return qdata.tfds_dataset(tfds_name, data_dir=data_dir, **kw)
        key = f"mpi3d_{d.variant}" if name == "mpi3d" else name
        if key not in qdata.IMAGE_DATASETS:
            require(False, "data.variant", f"must be toy|realistic|real|complex; got {d.variant!r}")
        want = {"h5": ".h5", "npz": ".npz"}.get(d.source)
        file = path or os.path.join(qdata.data_dir(), qdata.IMAGE_DATASETS[key].file)
        if want and not file.endswith(want) and name not in ("falcor3d", "isaac3d"):
            require(False, "data.path", f"must name a {want} file for source {d.source}: {file}")
        return qdata.load_image_dataset(key, path, **kw)
    except (FileNotFoundError, ValueError, KeyError, TypeError) as e:
        if isinstance(e, _cli.ConfigError):
            raise
        msg = str(e).strip("'\"")
        require(False, "data.source", f"({d.source}) cannot load {name}: {msg}")
        raise


def _has_file(config) -> bool:
    name = "mpi3d_" + config.data.variant if config.dataset == "mpi3d" else config.dataset
    spec = qdata.IMAGE_DATASETS.get(name)
    return bool(config.data.path) or (
        spec is not None and os.path.exists(os.path.join(qdata.data_dir(), spec.file))
    )


@functools.cache
def _renderer(size: int, supersample: int) -> qdata.Shapes3DRenderer:
    """One ray-marched geometry table per process and size (sweeps and tests reuse it)."""
    return qdata.Shapes3DRenderer(size=size, supersample=supersample)


def make_data(config: ml_collections.ConfigDict) -> Data:
    """The training source and the held-out evaluation set (rng `[seed, 2]`)."""
    d, b = config.data, config.train.batch_size
    rng = np.random.default_rng([config.seed, 2])
    procedural = d.source == "procedural" or (
        d.source == "auto" and config.dataset == "shapes3d" and not _has_file(config)
    )
    if procedural:
        renderer = _renderer(int(d.render_size), int(d.render_supersample))
        source = qdata.ProceduralSource(renderer, batch_size=b, seed=config.seed)
        s_eval = source.sample_factors(d.num_eval, rng)
        x_eval = source.images(s_eval)
        names = renderer.factor_names
        return Data(source, x_eval, s_eval, names, STAND_IN, "procedural-device", len(source))
    ds = _file_dataset(config, b)
    rows = rng.choice(len(ds), size=min(d.num_eval, len(ds)), replace=False)
    x_eval, s_eval = ds.images(rows), ds.factors[rows]
    nbytes = len(ds) * int(np.prod(x_eval.shape[1:]))
    label = f"{config.dataset} ({ds.path})"
    if nbytes <= d.device_budget_gb * 2**30:
        source = qdata.DeviceSource(ds.uint8_images(), ds.factors, batch_size=b, seed=config.seed)
        return Data(source, x_eval, s_eval, ds.factor_names, label, "device-resident", len(ds))
    return Data(ds, x_eval, s_eval, ds.factor_names, label, "host-stream", len(ds))


def _host_fn(graphdef, fn, batch_size: int = 256):
    jitted = jax.jit(lambda state, x: fn(nnx.merge(graphdef, state), x))

    def run(state, x):
        return evaluate.encode(
            lambda c: jitted(state, c).reshape(c.shape[0], -1), x, batch_size=batch_size
        )

    return run


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains `config.method` on `config.dataset`; writes results.json and plots."""
    config, recipe = resolve(config)  # unknown method / bad setting: one line, nothing built
    validate(config)
    t0 = time.perf_counter()
    data = make_data(config)  # every data error is raised here, before any compilation
    method = config.method
    num_factors = len(data.factor_names)
    width = config.model.num_latents or nn.default_num_latents(num_factors)
    image_shape = tuple(int(n) for n in data.x_eval.shape[1:])
    arch = qmethods.Architecture(
        image_shape,
        width,
        "conv",
        {
            "architecture": config.model.architecture,
            "channels": tuple(config.model.channels),
            "dense": tuple(config.model.dense),
            "depth": config.model.depth,
        },
        dataset_size=data.size,
    )
    built = qmethods.build(recipe, arch, config.seed)
    model = built.model
    bernoulli = config.loss.likelihood == "bernoulli"

    def squash(logits):
        return jax.nn.sigmoid(logits) if bernoulli else jnp.clip(logits, 0.0, 1.0)

    graphdef = nnx.graphdef(model)
    recon_fn = _host_fn(graphdef, lambda m, x: squash(m(x).x_hat))
    code_fn = _host_fn(graphdef, lambda m, x: m.encode(x))
    x_curve = data.x_eval[: config.data.num_eval_curve]

    def eval_fn(modules, step):
        x_hat = recon_fn(nnx.state(modules[0]), x_curve).reshape(x_curve.shape)
        return {"psnr": metrics.psnr(x_curve, x_hat)}

    result = qtrain.train(
        built.modules,
        built.step,
        data.source,
        workdir=workdir,
        seed=config.seed,
        eval_fn=eval_fn,
        **_cli.loop_kwargs(config.train),
    )
    model = result.modules[0]
    state = nnx.state(model)
    x_eval, s_eval = data.x_eval, data.s_eval
    x_hat = recon_fn(state, x_eval).reshape(x_eval.shape)
    z = code_fn(state, x_eval)
    # BLAS/OpenMP threads of the metrics (KSG neighbours, regressions): on a loaded CPU,
    # oversubscribed spinning threads made InfoMEC ~20x slower than one thread
    with threadpoolctl.threadpool_limits(limits=config.eval.metric_threads or None):
        info = metrics.infomec(z, s_eval, seed=config.seed)
        n_train = min(config.eval.dci_train_size, int(0.8 * len(z)))
        dci = metrics.dci(
            z[:n_train],
            s_eval[:n_train],
            z_test=z[n_train:],
            s_test=s_eval[n_train:],
            backend=config.eval.dci_backend,
            seed=config.seed,
        )
        results = {
            "dataset": config.dataset,
            "data": data.label,
            "pipeline": data.pipeline,
            "method": method,
            "seed": config.seed,
            "steps": result.step,
            "batch_size": config.train.batch_size,
            "architecture": config.model.architecture,
            "num_latents": int(z.shape[1]),
            "num_params": nn.count_params(model),
            "recipe": recipe.to_json(),
            "num_eval": int(len(z)),
            "psnr": metrics.psnr(x_eval, x_hat),
            "infom": info.infom,
            "infoc": info.infoc,
            "infoe": info.infoe,
            "dci_d": dci.disentanglement,
            "dci_c": dci.completeness,
            "dci_i": dci.informativeness_test,
            "mig": metrics.mig(z, s_eval).score,
        }
        if isinstance(model, _QUANTIZED_MODELS):
            idx = _host_fn(graphdef, lambda m, x: m.encode_indices(x))(state, x_eval)
            info_q = metrics.infomec(idx, s_eval, discrete_latents=True, seed=config.seed)
            results.update(infom_quantized=info_q.infom, infoc_quantized=info_q.infoc)
            results["infoe_quantized"] = info_q.infoe
    rows = qtrain.read_metrics(workdir)
    results["psnr_curve"] = {t: r["eval/psnr"] for t, r in sorted(rows.items()) if "eval/psnr" in r}
    results["final_loss"] = result.last_metrics.get("loss", float("nan"))
    results["wall_time_s"] = time.perf_counter() - t0
    results["train_examples_per_sec"] = result.examples_per_sec
    results["devices"] = f"{jax.device_count()} x {jax.devices()[0].device_kind}"
    results["commit"] = _commit()
    if config.eval.plot:
        results["plots"] = _plot(config, workdir, data, model, state, z, x_hat, info, dci)
    qtrain.write_results(workdir, results)
    print(format_row_table([results]))
    if jax.process_index() == 0:  # the only process that writes it
        logging.info("results written to %s", os.path.join(workdir, "results.json"))
    return results


def _plot(config, workdir, data, model, state, z, x_hat, info, dci) -> list[str]:
    names = ("reconstructions", "traversals", "nmi", "dci_importance", "marginals")
    paths = [os.path.join(workdir, f"{n}.png") for n in names]
    title = f"{config.dataset} [{data.label}], {config.method}, {config.train.num_steps} steps"
    x_eval = data.x_eval
    plots.plot_reconstructions(paths[0], x_eval[:8], x_hat[:8], title)
    graphdef = nnx.graphdef(model)
    decode = jax.jit(lambda st, c: _decoder(nnx.merge(graphdef, st))(c))
    # each latent from its 2nd to its 98th percentile over the held-out codes (for quantized
    # models these are codebook values), the others at the first example's code
    values = np.quantile(z, np.linspace(0.02, 0.98, 10), axis=0).T
    base = z[0]
    d, k = values.shape
    codes = np.repeat(base[None, None], d * k, axis=0).reshape(d, k, -1)
    codes[np.arange(d), :, np.arange(d)] = values
    logits = np.asarray(decode(state, jnp.asarray(codes.reshape(d * k, -1))))
    images = 1 / (1 + np.exp(-logits)) if config.loss.likelihood == "bernoulli" else logits
    plots.plot_traversals(paths[1], images.reshape(d, k, *x_eval.shape[1:]), title)
    latents = [f"z{i}" for i in range(z.shape[1])]
    plots.plot_matrix(paths[2], np.asarray(info.nmi), data.factor_names, latents, title, "NMI")
    plots.plot_matrix(
        paths[3], np.asarray(dci.importance_matrix), latents, data.factor_names, title, "R"
    )
    plots.plot_marginals(paths[4], z, losses.find_cliffs(jnp.asarray(z)), title)
    return paths


def _decoder(model):
    """The code -> image-logits module of a registry model (a GAN's generator)."""
    return model.generator if isinstance(model, nn.QLInfoWGAN) else model.decoder


def _commit() -> str:
    """The repository's short commit (with `+dirty` for uncommitted changes), or "unknown"."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "experiments/images", "qdjax"],
            cwd=os.path.dirname(os.path.dirname(here)),
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head + ("+dirty" if dirty else "")) or "unknown"


def format_row_table(rows: list[dict]) -> str:
    """One markdown row per run (the sweep's `results.py` aggregates over seeds)."""
    head = "| data | method | seed | steps | InfoM | InfoC | InfoE | D | C | I | MIG | PSNR |"
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        vals = " | ".join(
            f"{r[k]:.3f}" for k in ("infom", "infoc", "infoe", "dci_d", "dci_c", "dci_i", "mig")
        )
        lines.append(
            f"| {r['data']} | {r['method']} | {r['seed']} | {r['steps']} | {vals} | "
            f"{r['psnr']:.2f} |"
        )
    return "\n".join(lines)

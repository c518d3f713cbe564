"""Train SAEs (every kind) and check what identifiability guarantee they carry.

Synthetic mode: for each data condition (``incoherent``: the k-sparse class's spark
condition is certified on the true dictionary; ``dependent``: planted dependent atom
triples violate it) and each evaluation seed, train every SAE kind with the engine
(:func:`qdjax.train.train`), then report atom MCC against the true dictionary, support
F1 of the codes, L0, FVU, dead fraction, the k-sparse verdict on the *learned* dictionary
and measured L0, and the seed-consistency verdict across seeds. ICA (qdjax vs
scikit-learn FastICA) runs in :mod:`experiments.concepts.ica`.

Features mode (``--features=acts.npy``): the same SAEs on a memory-mapped user file,
reporting L0, FVU, dead fraction, the k-sparse verdict and seed consistency.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
from flax import nnx

from experiments import _cli
from experiments._cli import require
from experiments.concepts import ica, report
from qdjax import data, identifiability, losses, nn
from qdjax import train as qtrain
from qdjax.train import Term

KINDS = ("relu", "topk", "batchtopk", "jumprelu", "ista")  # qdjax.nn.SparseAutoencoder kinds
# Config keys that only select which sub-runs (each in its own sub-workdir) are trained and
# reported: they may change between runs in one workdir (`_cli.run(may_change=...)`).
MAY_CHANGE = ("eval_seeds", "tuning_seeds", "sae.kinds", "data.conditions", "ica.*")


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise _cli.ConfigError(f"--config.{flag} must be comma-separated integers; got {text!r}")
    require(bool(values), flag, "must name at least one seed")
    return values


def _names(text: str, allowed, flag: str) -> list[str]:
    names = [v.strip() for v in str(text).split(",") if v.strip()]
    bad = [n for n in names if n not in allowed]
    require(
        bool(names) and not bad, flag, f"must be a comma list from {list(allowed)}; got {text!r}"
    )
    return names


def features_as_config(argv: list[str]) -> list[str]:
    """Rewrites `--features=PATH` / `--features PATH` into `--config.features=PATH`."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--features="):
            out.append("--config.features=" + arg.split("=", 1)[1])
        elif arg == "--features" and i + 1 < len(argv):
            out.append("--config.features=" + argv[i + 1])
            i += 1
        else:
            out.append(arg)
        i += 1
    return out


def validate(config) -> None:
    _cli.validate_train(config.train)
    s = config.sae
    for name in ("l1_weight", "ista_penalty", "l0_weight", "auxk_weight"):
        require(s[name] >= 0, f"sae.{name}", f"must be >= 0; got {s[name]}")
    require(s.jump_bandwidth > 0, "sae.jump_bandwidth", f"must be > 0; got {s.jump_bandwidth}")
    require(s.init_threshold > 0, "sae.init_threshold", f"must be > 0; got {s.init_threshold}")
    require(s.ista_steps >= 1, "sae.ista_steps", f"must be >= 1; got {s.ista_steps}")
    require(0 < config.eval.match_cosine < 1, "eval.match_cosine", "must be in (0, 1)")


def objective_terms(kind: str, sae) -> list[Term]:
    """Reconstruction + the kind's sparsity term (L1, L0) or AuxK."""
    terms = [
        Term(
            "reconstruction",
            lambda out, b: jnp.mean(losses.sae_reconstruction_error(out.x_hat, b.x)),
        )
    ]
    if kind in ("relu", "ista"):
        weight = sae.l1_weight if kind == "relu" else sae.ista_penalty
        terms.append(Term("l1", lambda out, b: jnp.mean(losses.l1_sparsity(out.z)), weight))
    if kind == "jumprelu":
        bw = float(sae.jump_bandwidth)
        l0 = lambda out, b: jnp.mean(losses.l0_sparsity(out.pre, out.threshold, bandwidth=bw))  # noqa: E731
        terms.append(Term("l0", l0, sae.l0_weight))
    if kind in ("topk", "batchtopk") and sae.auxk_weight > 0:
        terms.append(
            Term(
                "auxk",
                lambda out, b: losses.auxk_loss(b.x - out.x_hat, out.aux_x_hat),
                sae.auxk_weight,
            )
        )
    return terms


def train_sae(
    config,
    kind: str,
    source,
    x_init: np.ndarray,
    d_in: int,
    width: int,
    k: int,
    seed: int,
    workdir: str,
):
    """Builds, initialises (geometric-median bias) and trains one SAE; returns the model."""
    s = config.sae
    model = nn.SparseAutoencoder(
        d_in,
        width,
        kind=kind,
        k=k,
        dead_after=s.dead_after,
        jump_bandwidth=s.jump_bandwidth,
        init_threshold=s.init_threshold,
        ista_steps=s.ista_steps,
        ista_penalty=s.ista_penalty,
        rngs=nnx.Rngs(seed),
    )
    model.init_decoder_bias(x_init)
    tx = nn.unit_norm_decoder(qtrain.make_optimizer(learning_rate=config.train.learning_rate))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    step = qtrain.make_train_step(qtrain.make_objective(*objective_terms(kind, s)))
    result = qtrain.train(
        (model, optimizer),
        step,
        source,
        workdir=workdir,
        seed=seed,
        **_cli.loop_kwargs(config.train),
    )
    return result.modules[0], result


def evaluate_sae(model, x: np.ndarray, active_tol: float) -> dict:
    """L0, FVU, dead fraction, density histogram and the codes of one SAE on ``x``."""
    encode = nnx.jit(lambda m, v: m.encode(v))
    codes = np.concatenate(
        [np.asarray(encode(model, x[i : i + 2048])) for i in range(0, len(x), 2048)]
    )
    x_hat = codes @ np.asarray(model.W_dec[...]) + np.asarray(model.b_dec[...])
    active = np.abs(codes) > active_tol
    density = active.mean(axis=0)
    return {
        "codes": codes,
        "l0": float(active.sum(1).mean()),
        "fvu": float(losses.fraction_variance_unexplained(x_hat, x)),
        "dead_fraction": float(np.mean(density == 0)),
        "density_hist": np.histogram(np.log10(density + 1e-7), bins=20, range=(-7, 0))[0].tolist(),
    }


def support_f1(codes: np.ndarray, truth: np.ndarray, rows, cols, active_tol: float) -> float:
    """Micro F1 of active supports after mapping learned latents ``rows`` to true ``cols``."""
    pred = np.zeros(truth.shape, bool)
    pred[:, cols] = np.abs(codes[:, rows]) > active_tol
    true = truth > 0
    tp = np.sum(pred & true)
    return float(2 * tp / max(pred.sum() + true.sum(), 1))


def main(config, workdir: str, features: str | None = None) -> dict:
    """Entry point of `python -m experiments.concepts` (synthetic or features mode)."""
    path = features or config.features
    validate(config)
    os.makedirs(workdir, exist_ok=True)
    if path:
        return run_features(config, workdir, path)
    return run_synthetic(config, workdir)


def _dataset(config, condition: str, seed: int):
    d = config.data
    return data.make_sparse_coding(
        seed,
        num_samples=d.num_train + d.num_eval,
        d_in=d.d_in,
        width=d.width,
        k=d.k,
        plant_dependent=d.num_dependent if condition == "dependent" else 0,
        zipf_exponent=d.zipf_exponent,
        num_parents=d.num_parents,
        noise_std=d.noise_std,
    )


def run_synthetic(config, workdir: str) -> dict:
    d = config.data
    conditions = _names(d.conditions, ("incoherent", "dependent"), "data.conditions")
    kinds = _names(config.sae.kinds, KINDS, "sae.kinds")
    seeds = _ints(config.eval_seeds, "eval_seeds")
    require(
        d.d_in & (d.d_in - 1) == 0 and d.width <= 2 * d.d_in,
        "data.d_in",
        f"must be a power of two with data.width <= 2 * d_in (incoherent dictionary); got {d.d_in}",
    )
    require(
        1 <= d.k < d.width, "data.k", f"must satisfy 1 <= k < data.width ({d.width}); got {d.k}"
    )
    require(
        config.train.batch_size <= d.num_train,
        "train.batch_size",
        f"must be <= data.num_train ({d.num_train}); got {config.train.batch_size}",
    )
    width, k = config.sae.width or d.width, config.sae.k or d.k
    require(1 <= k < width, "sae.k", f"must satisfy 1 <= k < sae.width ({width}); got {k}")
    tol, rows_out, consistency, truth_verdicts = config.eval.active_tol, [], {}, {}
    for condition in conditions:
        ds = _dataset(config, condition, d.seed)
        x_tr, x_ev = ds.x[: d.num_train], ds.x[d.num_train :]
        codes_ev = ds.codes[d.num_train :]
        truth = identifiability.k_sparse_verdict(ds.dictionary, codes_ev, active_tol=tol)
        truth_verdicts[condition] = truth.to_json()
        for kind in kinds:
            runs = []
            for seed in seeds:
                source = data.ArraySource(
                    x_tr,
                    np.zeros((len(x_tr), 1), np.float32),
                    batch_size=config.train.batch_size,
                    seed=seed,
                )
                run_dir = os.path.join(workdir, condition, kind, f"seed_{seed}")
                model, result = train_sae(
                    config, kind, source, x_tr[:4096], d.d_in, width, k, seed, run_dir
                )
                ev = evaluate_sae(model, x_ev, tol)
                learned = np.asarray(model.dictionary)
                match = identifiability.dictionary_mcc(learned, ds.dictionary)
                verdict = identifiability.k_sparse_verdict(
                    learned, ev["codes"], active_tol=tol, l0_quantile=config.eval.l0_quantile
                )
                row = {
                    "condition": condition,
                    "kind": kind,
                    "seed": seed,
                    "steps": result.step,
                    "atom_mcc": match.mcc,
                    "atoms_recovered": float(np.mean(match.cosines >= config.eval.match_cosine)),
                    "support_f1": support_f1(ev["codes"], codes_ev, match.rows, match.cols, tol),
                    "l0": ev["l0"],
                    "fvu": ev["fvu"],
                    "dead_fraction": ev["dead_fraction"],
                    "density_hist": ev["density_hist"],
                    "verdict": verdict.to_json(),
                    "verdict_summary": verdict.summary(),
                }
                rows_out.append(row)
                runs.append((learned, np.asarray(model.W_enc[...]), verdict, ev))
                print(
                    f"{condition:10s} {kind:9s} seed {seed}: MCC {match.mcc:.3f} "
                    f"F1 {row['support_f1']:.3f} L0 {ev['l0']:.2f} FVU {ev['fvu']:.4f} | "
                    f"{verdict.answer} ({verdict.rule})",
                    flush=True,
                )
            if len(runs) >= 2:
                cons = identifiability.seed_consistency(
                    [r[0] for r in runs],
                    encoders=[r[1] for r in runs],
                    num_bootstrap=config.eval.num_bootstrap,
                )
                consistency[f"{condition}/{kind}"] = cons.to_json()
            if config.eval.plot:
                report.plot_run(
                    runs[0][2], runs[0][3], os.path.join(workdir, condition, kind, "verdict.png")
                )
    ica_rows = ica.run(config, workdir) if config.ica.enabled else []
    results = {
        "mode": "synthetic",
        "config": _cli.config_record(config),
        "sae": rows_out,
        "truth_verdicts": truth_verdicts,
        "consistency": consistency,
        "ica": ica_rows,
    }
    qtrain.write_results(workdir, results)
    report.write_tables(workdir, results)
    return results


def run_features(config, workdir: str, path: str) -> dict:
    """SAEs and their verdicts on a user's ``[samples, d_in]`` activations (memory-mapped)."""
    try:
        source0 = data.NpyFeatureSource(path, batch_size=1, seed=0)  # validates the file
    except ValueError as e:
        raise _cli.ConfigError(f"--features {e}") from None
    n, d_in = source0.x.shape
    require(
        config.train.batch_size <= n,
        "train.batch_size",
        f"must be <= the {n} rows of --features {path}; got {config.train.batch_size}",
    )
    width, k = config.sae.width or 4 * d_in, config.sae.k or min(32, max(1, d_in // 2))
    require(1 <= k < width, "sae.k", f"must satisfy 1 <= k < sae.width ({width}); got {k}")
    kinds = _names(config.sae.kinds, KINDS, "sae.kinds")
    seeds = _ints(config.eval_seeds, "eval_seeds")
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(n, size=min(n, config.data.num_eval), replace=False))
    x_ev = np.asarray(source0.x[idx], np.float32)
    tol, rows_out, consistency = config.eval.active_tol, [], {}
    for kind in kinds:
        runs = []
        for seed in seeds:
            source = data.NpyFeatureSource(
                path, batch_size=config.train.batch_size, seed=seed, validate=False
            )
            run_dir = os.path.join(workdir, kind, f"seed_{seed}")
            model, result = train_sae(config, kind, source, x_ev, d_in, width, k, seed, run_dir)
            ev = evaluate_sae(model, x_ev, tol)
            learned = np.asarray(model.dictionary)
            verdict = identifiability.k_sparse_verdict(
                learned, ev["codes"], active_tol=tol, l0_quantile=config.eval.l0_quantile
            )
            rows_out.append(
                {
                    "kind": kind,
                    "seed": seed,
                    "steps": result.step,
                    "l0": ev["l0"],
                    "fvu": ev["fvu"],
                    "dead_fraction": ev["dead_fraction"],
                    "density_hist": ev["density_hist"],
                    "verdict": verdict.to_json(),
                    "verdict_summary": verdict.summary(),
                }
            )
            runs.append((learned, np.asarray(model.W_enc[...]), verdict, ev))
            print(
                f"{kind:9s} seed {seed}: L0 {ev['l0']:.2f} FVU {ev['fvu']:.4f} "
                f"dead {ev['dead_fraction']:.3f} | {verdict.summary()}",
                flush=True,
            )
        if len(runs) >= 2:
            cons = identifiability.seed_consistency(
                [r[0] for r in runs],
                encoders=[r[1] for r in runs],
                num_bootstrap=config.eval.num_bootstrap,
            )
            consistency[kind] = cons.to_json()
        if config.eval.plot:
            report.plot_run(runs[0][2], runs[0][3], os.path.join(workdir, kind, "verdict.png"))
    results = {
        "mode": "features",
        "features": path,
        "shape": [n, d_in],
        "config": _cli.config_record(config),
        "sae": rows_out,
        "consistency": consistency,
        "ica": [],
    }
    qtrain.write_results(workdir, results)
    report.write_tables(workdir, results)
    return results

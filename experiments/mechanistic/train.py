"""Support-overlap sweep: compositional contrast vs a scale-invariant surrogate vs none.

For every overlap ratio x K x seed x method (config `sweep`), trains an MLP autoencoder
on data from `qdjax.data.make_mechanistic` and reports

- slot identifiability (Brady et al. 2023): kernel-ridge R² from each inferred latent
  block to each true group on held-out data, Hungarian-matched, averaged over groups;
- block-MCC: mean canonical correlation between matched blocks (linear block recovery);
- `qdjax.identifiability.jacobian_groups` on the true generator (recovered grouping and
  the Type D/M/S/H verdicts of the planted groups) and on the trained decoder (verdicts of
  its latent blocks, and the components of its G_D).

Methods: `ae` (reconstruction only), `ccomp` (+ λ·C_comp, `loss.ccomp_weight`), `ratio`
(+ λ·block-sparsity ratio, `loss.ratio_weight`). Both regularizers act on the decoder
Jacobian at the batch's codes, computed in forward mode inside the train step.
"""

from __future__ import annotations

import json
import os
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from scipy.optimize import linear_sum_assignment

from experiments import _cli
from experiments._cli import require
from experiments.mechanistic.configs.default import METHODS
from qdjax import data, losses, nn
from qdjax import identifiability as qi
from qdjax import train as qtrain

_KERNELS = {"ccomp": losses.compositional_contrast, "ratio": losses.block_sparsity_ratio}


def validate(config: ml_collections.ConfigDict) -> None:
    s, d = config.sweep, config.data
    _cli.require_widths(config.model.hidden, "model.hidden")
    require(len(s.seeds) > 0, "sweep.seeds", "must list at least one seed")
    for seed in s.seeds:
        require(
            isinstance(seed, int) and seed >= 0, "sweep.seeds", f"must be ints >= 0; got {seed!r}"
        )
    require(
        len(set(s.seeds)) == len(s.seeds),
        "sweep.seeds",
        f"lists a seed more than once ({list(s.seeds)}); each seed counts once in the table",
    )
    require(len(s.overlaps) > 0, "sweep.overlaps", "must list at least one ratio")
    for r in s.overlaps:
        require(0 <= r < 1, "sweep.overlaps", f"ratios must be in [0, 1); got {r}")
    for k in s.num_groups:
        require(k >= 2, "sweep.num_groups", f"each K must be >= 2; got {k}")
    for m in s.methods:
        require(m in METHODS, "sweep.methods", f"must be among {METHODS}; got {m!r}")
    require(len(s.seeds) > 0, "sweep.seeds", "must list at least one seed")
    require(d.group_dim >= 1, "data.group_dim", f"must be >= 1; got {d.group_dim}")
    need = max(s.num_groups) * d.group_dim
    worst = max(s.overlaps)
    require(
        d.obs_dim - round(worst * d.obs_dim) >= need,
        "data.obs_dim",
        f"leaves too few private outputs at overlap {worst} for K={max(s.num_groups)} groups "
        f"of {d.group_dim}; got {d.obs_dim}",
    )
    require(
        d.combine in ("tanh", "sum"), "data.combine", f"must be 'tanh' or 'sum'; got {d.combine!r}"
    )
    require(
        d.latents in ("normal", "wishart"),
        "data.latents",
        f"must be 'normal' or 'wishart'; got {d.latents!r}",
    )
    require(
        1 <= config.train.batch_size <= d.num_train,
        "train.batch_size",
        f"must be between 1 and data.num_train ({d.num_train}); got {config.train.batch_size}",
    )
    _cli.validate_train(config.train)
    require(config.train.weight_decay >= 0, "train.weight_decay", "must be >= 0")
    for name in ("ccomp_weight", "ratio_weight"):
        require(config.loss[name] >= 0, f"loss.{name}", f"must be >= 0; got {config.loss[name]}")
    e = config.eval
    require(e.check_points >= 2, "eval.check_points", f"must be >= 2; got {e.check_points}")
    require(0 < e.tol < 1, "eval.tol", f"must be in (0, 1); got {e.tol}")
    require(e.krr_alpha > 0, "eval.krr_alpha", f"must be > 0; got {e.krr_alpha}")


class JacobianOutput(NamedTuple):
    """Autoencoder output plus the decoder Jacobian at the codes, `[batch, d_x, d_z]`."""

    x_hat: jax.Array
    z: jax.Array
    jacobian: jax.Array


def jacobian_forward(model, batch, key):
    """`model(x)` and `vmap(jacfwd(decoder))(z)`: what a Jacobian regularizer term reads."""
    out = model(batch.x, key=key)
    jac = jax.vmap(jax.jacfwd(lambda z: model.decoder(z[None])[0]))(out.z)
    return JacobianOutput(out.x_hat, out.z, jac)


def blocks(num_groups: int, group_dim: int) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(range(k * group_dim, (k + 1) * group_dim)) for k in range(num_groups))


def make_model_and_objective(config, method: str, num_groups: int, seed: int):
    d = config.data
    model = nn.mlp_autoencoder(
        (d.obs_dim,),
        num_groups * d.group_dim,
        hidden=tuple(config.model.hidden),
        rngs=nnx.Rngs(seed),
    )
    terms = [qtrain.reconstruction_term("gaussian")]
    if method == "ae":
        return model, qtrain.make_objective(*terms)
    groups = blocks(num_groups, d.group_dim)
    kernel = _KERNELS[method]
    weight = config.loss.ccomp_weight if method == "ccomp" else config.loss.ratio_weight
    terms.append(
        qtrain.Term(method, lambda out, batch: jnp.mean(kernel(out.jacobian, groups)), weight)
    )
    return model, qtrain.make_objective(*terms, forward=jacobian_forward)


def _standardize(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(0)) / (a.std(0) + 1e-8)


def slot_scores(z_hat, z_true, groups, *, alpha: float) -> dict:
    """Hungarian-matched kernel-ridge R² (inferred block -> true group) and block-MCC."""
    from sklearn.kernel_ridge import KernelRidge  # here: ~1 s at every CLI start otherwise

    n = len(z_true) // 2
    k = len(groups)
    r2 = np.zeros((k, k))
    cca = np.zeros((k, k))
    for i, gi in enumerate(groups):
        x = _standardize(z_hat[:, list(gi)])
        for j, gj in enumerate(groups):
            y = _standardize(z_true[:, list(gj)])
            krr = KernelRidge(kernel="rbf", alpha=alpha, gamma=1.0 / (2 * len(gi)))
            krr.fit(x[:n], y[:n])
            res = y[n:] - krr.predict(x[n:])
            r2[i, j] = 1.0 - np.sum(res**2) / np.sum((y[n:] - y[n:].mean(0)) ** 2)
            qx, qy = np.linalg.qr(x)[0], np.linalg.qr(y)[0]
            cca[i, j] = np.mean(np.linalg.svd(qx.T @ qy, compute_uv=False))
    rows, cols = linear_sum_assignment(-r2)
    rows_c, cols_c = linear_sum_assignment(-cca)
    return {
        "slot_r2": float(r2[rows, cols].mean()),
        "slot_r2_matrix": r2.tolist(),
        "slot_assignment": cols.tolist(),
        "block_mcc": float(cca[rows_c, cols_c].mean()),
    }


def _verdict_row(v: qi.JacobianVerdict) -> dict:
    return {
        "holds": v.holds,
        "criteria": list(v.criteria),
        "recovered_groups": [list(g) for g in v.groups],
        "num_components": len(v.groups),
        "type_d": v.type_d.holds,
        "type_m": v.type_m.holds,
        "type_s": v.type_s.holds,
        "type_h": None if v.type_h is None else v.type_h.holds,
        "max_overlap": float(np.max(v.type_d.overlap - np.diag(np.diag(v.type_d.overlap)))),
        "l0_gap_worst": v.type_s.l0_gap_worst,
        "proxy_gap_worst": v.type_s.proxy_gap_worst,
        # Tolerance-free: mean over outputs of 1 - (largest group's share of the output's
        # Jacobian energy); 0 for disjoint supports, 1 - 1/K when every output is shared evenly.
        "energy_leakage": float(np.mean(1.0 - np.asarray(v.energy_share).max(0))),
        "full_rank": v.full_rank.holds,
        "stable": v.stability.holds,
        "tolerances": list(v.stability.tolerances),
        "components_per_tolerance": [len(g) for g in v.stability.groups_per_tolerance],
        "planted_at_tolerance": [g == v.checked_groups for g in v.stability.groups_per_tolerance],
        "reason": v.reason,
    }


def check_generator(ds, config) -> tuple[dict, qi.JacobianVerdict]:
    """Checks on the true generator: the recovered grouping, then the planted one's verdicts."""
    e = config.eval
    z = ds.z[-e.check_points :]
    kw = dict(tol=e.tol, type_h_points=e.type_h_points, num_rotations=e.num_rotations)
    v = qi.jacobian_groups(ds.generator.decode, z, **kw)
    recovered = v.groups
    if v.checked_groups != ds.generator.groups:
        v = qi.jacobian_groups(ds.generator.decode, z, groups=ds.generator.groups, **kw)
    row = _verdict_row(v)
    row["recovered_groups"] = [list(g) for g in recovered]
    row["num_components"] = len(recovered)
    row["recovers_planted"] = recovered == ds.generator.groups
    return row, v


def run_one(config, workdir: str, method: str, num_groups: int, overlap: float, seed: int, ds):
    """Trains one model in `workdir` (resumable) and evaluates it."""
    t0 = time.perf_counter()
    d = config.data
    x_train, z_train = ds.x[: d.num_train], ds.z[: d.num_train]
    x_eval, z_eval = ds.x[d.num_train :], ds.z[d.num_train :]
    source = data.ArraySource(x_train, z_train, batch_size=config.train.batch_size, seed=seed)
    model, objective = make_model_and_objective(config, method, num_groups, seed)
    optimizer = nnx.Optimizer(
        model,
        qtrain.make_optimizer(
            learning_rate=config.train.learning_rate, weight_decay=config.train.weight_decay
        ),
        wrt=nnx.Param,
    )
    result = qtrain.train(
        (model, optimizer),
        qtrain.make_train_step(objective),
        source,
        workdir=workdir,
        seed=seed,
        tensorboard=False,
        **_cli.loop_kwargs(config.train),
    )
    model = result.modules[0]
    graphdef, state = nnx.split(model)
    enc = jax.jit(lambda x: nnx.merge(graphdef, state)(x))
    out = enc(jnp.asarray(x_eval))
    z_hat = np.asarray(out.z, np.float64)
    groups = blocks(num_groups, d.group_dim)
    row = {
        "method": method,
        "num_groups": num_groups,
        "overlap": overlap,
        "seed": seed,
        "steps": result.step,
        "reconstruction_mse": float(np.mean(np.sum((np.asarray(out.x_hat) - x_eval) ** 2, 1))),
        **slot_scores(z_hat, np.asarray(z_eval, np.float64), groups, alpha=config.eval.krr_alpha),
    }
    decoder = nnx.merge(*nnx.split(model.decoder))
    decode = lambda z: decoder(z[None])[0]  # noqa: E731
    e = config.eval
    v = qi.jacobian_groups(
        decode,
        z_hat[: e.check_points].astype(np.float32),
        groups=groups,
        tol=e.tol,
        type_h_points=e.decoder_type_h_points,
        num_rotations=e.num_rotations,
    )
    row["decoder"] = _verdict_row(v)
    row["wall_time_s"] = time.perf_counter() - t0
    return row, v


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Runs the whole sweep (each run resumes from its own checkpoint), writes
    `results.json`, `table.md` and plots to `workdir`."""
    validate(config)
    t0 = time.perf_counter()
    d = config.data
    rows, generators = [], []
    for num_groups in config.sweep.num_groups:
        for overlap in config.sweep.overlaps:
            for seed in config.sweep.seeds:
                ds = data.make_mechanistic(
                    seed,
                    d.num_train + d.num_eval,
                    num_groups=num_groups,
                    group_dim=d.group_dim,
                    obs_dim=d.obs_dim,
                    overlap=overlap,
                    num_layers=d.num_layers,
                    combine=d.combine,
                    latents=d.latents,
                )
                gen_row, gen_v = check_generator(ds, config)
                gen_row.update(num_groups=num_groups, overlap=overlap, seed=seed)
                generators.append(gen_row)
                name = f"K{num_groups}_overlap{round(100 * overlap)}"
                for method in config.sweep.methods:
                    run_dir = os.path.join(workdir, name, method, f"seed_{seed}")
                    row, v = run_one(config, run_dir, method, num_groups, overlap, seed, ds)
                    rows.append(row)
                    print(
                        f"{name} {method} seed {seed}: slot R² {row['slot_r2']:.3f} block-MCC "
                        f"{row['block_mcc']:.3f} decoder {v.answer} ({'/'.join(v.criteria)}) "
                        f"[{row['wall_time_s']:.0f}s]",
                        flush=True,
                    )
                    if config.eval.plot and seed == config.sweep.seeds[0] and method != "ae":
                        _plots(workdir, f"{name}_{method}", v)
                if config.eval.plot and seed == config.sweep.seeds[0]:
                    _plots(workdir, f"{name}_generator", gen_v)
    summary = summarize(rows, generators)
    results = {
        "rows": rows,
        "generators": generators,
        "summary": summary,
        "wall_time_s": time.perf_counter() - t0,
        "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
    }
    qtrain.write_results(workdir, results)
    table = format_table(summary)
    with open(os.path.join(workdir, "table.md"), "w") as f:
        f.write(f"<!-- {_cli.provenance('experiments.mechanistic')} -->\n\n{table}\n")
    print(table)
    return results


def _plots(workdir: str, name: str, v: qi.JacobianVerdict) -> None:
    out = os.path.join(workdir, "plots")
    os.makedirs(out, exist_ok=True)
    qi.plot_support(v, os.path.join(out, f"{name}_support.png"), title=name)
    qi.plot_support_graph(v, os.path.join(out, f"{name}_graph.png"), title=f"{name}: G_D")


def _mean_std(values) -> list[float]:
    a = np.asarray(values, np.float64)
    return [float(a.mean()), float(a.std())]


def summarize(rows: list[dict], generators: list[dict]) -> dict:
    """Per (K, overlap, method): mean ± std over seeds, and the checks' counts."""
    out = {}
    for r in rows:
        out.setdefault((r["num_groups"], r["overlap"], r["method"]), []).append(r)
    summary = {}
    for (k, ov, m), rs in sorted(out.items()):
        gens = [g for g in generators if g["num_groups"] == k and g["overlap"] == ov]
        summary[f"K{k}/overlap{ov}/{m}"] = {
            "num_groups": k,
            "overlap": ov,
            "method": m,
            "seeds": [r["seed"] for r in rs],
            "slot_r2": _mean_std([r["slot_r2"] for r in rs]),
            "block_mcc": _mean_std([r["block_mcc"] for r in rs]),
            "reconstruction_mse": _mean_std([r["reconstruction_mse"] for r in rs]),
            "decoder_identifiable": sum(r["decoder"]["holds"] is True for r in rs),
            "decoder_type_d": sum(r["decoder"]["type_d"] is True for r in rs),
            "decoder_components": _mean_std([r["decoder"]["num_components"] for r in rs]),
            "decoder_energy_leakage": _mean_std([r["decoder"]["energy_leakage"] for r in rs]),
            "generator_energy_leakage": _mean_std([g["energy_leakage"] for g in gens]),
            # Seeds whose decoder's G_D components equal its latent blocks at the loosest
            # tolerance of the stability range (10x the check's tolerance).
            "decoder_blocks_at_loose_tol": sum(
                r["decoder"]["planted_at_tolerance"][-1] for r in rs
            ),
            "generator_recovers_planted": sum(g["recovers_planted"] for g in gens),
            "generator_criteria": sorted({c for g in gens for c in g["criteria"]}),
            "num_seeds": len(rs),
        }
    return summary


def format_table(summary: dict) -> str:
    head = (
        "| K | overlap | method | slot R² | block-MCC | recon MSE | true gen.: planted groups "
        "recovered | true gen.: criteria | decoder: identifiable (blocks) | decoder: G_D "
        "components | decoder: G_D = blocks at 10x tol | leakage: true gen. / decoder |"
    )
    lines = [head, "|" + "---|" * 12]
    for s in summary.values():
        n = s["num_seeds"]
        lines.append(
            f"| {s['num_groups']} | {round(100 * s['overlap'])} % | {s['method']} | "
            f"{s['slot_r2'][0]:.3f} ± {s['slot_r2'][1]:.3f} | "
            f"{s['block_mcc'][0]:.3f} ± {s['block_mcc'][1]:.3f} | "
            f"{s['reconstruction_mse'][0]:.3g} | {s['generator_recovers_planted']}/{n} | "
            f"{'/'.join(s['generator_criteria']) or '-'} | {s['decoder_identifiable']}/{n} | "
            f"{s['decoder_components'][0]:.1f} | {s['decoder_blocks_at_loose_tol']}/{n} | "
            f"{s['generator_energy_leakage'][0]:.3f} / {s['decoder_energy_leakage'][0]:.3f} |"
        )
    return "\n".join(lines)


def load_results(workdir: str) -> dict:
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f)

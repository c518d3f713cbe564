"""Seed-000 linear reference: linear mixing, linear unmixing trained with the criterion.

`python -m experiments.axis_alignment.linear --seeds=0,1,2` trains `z = x W` (a 2x2
matrix, no decoder) with `qdjax.losses.axis_alignment_loss` (alpha from
the observations' KDE gradients, computed once), on the two seed-000 reference datasets
(`make_manhattan_reference`, non-factorized and factorized support), and compares the MCC
with scikit-learn FastICA and with the same linear model trained with HFS
(`qdjax.losses.hfs_pairwise`), all on the same data. Writes `<out>.md` and `<out>.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import sklearn.decomposition

from experiments import _cli
from qdjax import losses, metrics
from qdjax.data._synthetic import make_manhattan_reference
from qdjax.losses._axis_alignment import axis_alignment_loss, observation_weights


def _fit_linear(
    x,
    loss_fn,
    *,
    seed,
    steps,
    batch_size,
    learning_rate,
    restarts=1,
    schedule="constant",
    select_fn=None,
    log=None,
):
    """Adam on a 2x2 unmixing matrix from `restarts` rotations; the lowest loss wins.

    The loss that picks the restart is the mean minibatch loss of the last 20 steps, or
    `select_fn(w)` (e.g. the criterion on one fixed large batch) if given. `schedule`:
    "constant" learning rate, or "cosine" decay to 0 over `steps`. `log(r, w, loss)` is called
    for every restart.
    """
    best, best_loss = None, np.inf
    for r in range(restarts):
        angle = np.pi / 2 * (r / restarts + np.random.default_rng(seed).random() / restarts)
        w0 = jnp.asarray([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        w, loss = _fit_from(
            x,
            loss_fn,
            w0,
            seed=seed + 1000 * r,
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            schedule=schedule,
        )
        if select_fn is not None:
            loss = float(select_fn(jnp.asarray(w)))
        if log is not None:
            log(r, w, loss)
        if loss < best_loss:
            best, best_loss = w, loss
    return best


def _fit_from(x, loss_fn, w0, *, seed, steps, batch_size, learning_rate, schedule="constant"):
    if schedule == "cosine":
        learning_rate = optax.cosine_decay_schedule(learning_rate, steps)
    opt = optax.adam(learning_rate)
    x = jnp.asarray(x)

    @jax.jit
    def step(w, state, idx):
        loss, g = jax.value_and_grad(loss_fn)(w, x[idx], idx)
        updates, state = opt.update(g, state, w)
        return optax.apply_updates(w, updates), state, loss

    w, state = w0, opt.init(w0)
    rng = np.random.default_rng(seed)
    tail = []
    for k in range(steps):
        idx = jnp.asarray(rng.choice(x.shape[0], size=batch_size, replace=False))
        w, state, loss = step(w, state, idx)
        if k >= steps - 20:
            tail.append(float(loss))
    return np.asarray(w), float(np.mean(tail))


def run(seed, factorized, args):
    ds = make_manhattan_reference(seed, factorized=factorized, num_samples=args.num_samples)
    x, s = ds.x.astype(np.float32), ds.z
    out = {}
    t0 = time.perf_counter()
    alpha = observation_weights(jnp.asarray(x), sigma=args.sigma, chunk_size=1024)

    def aa_loss(w, xb, idx):
        a = alpha[idx] / jnp.sum(alpha[idx])
        return jnp.sum(axis_alignment_loss(xb @ w, a, sigma=args.sigma, chunk_size=1024))

    select_fn = None
    if args.select == "heldout":  # the criterion on one fixed batch (full-data alpha)
        rows = np.random.default_rng(seed + 7).choice(x.shape[0], args.select_size, replace=False)
        xs, a_s = jnp.asarray(x[rows]), alpha[rows] / jnp.sum(alpha[rows])

        @jax.jit
        def select_fn(w):
            return jnp.sum(axis_alignment_loss(xs @ w, a_s, sigma=args.sigma, chunk_size=1024))

    restarts = []

    def log(r, w, loss):
        restarts.append({"loss": loss, "mcc": metrics.mcc(x @ w, s).score})

    w = _fit_linear(
        x,
        aa_loss,
        seed=seed,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=1e-2,
        restarts=args.restarts,
        schedule=args.schedule,
        select_fn=select_fn,
        log=log,
    )
    out["axis_alignment"] = metrics.mcc(x @ w, s).score
    out["restarts"] = restarts  # every restart's selection loss and MCC (diagnostics)
    out["axis_alignment_s"] = time.perf_counter() - t0
    ica = sklearn.decomposition.FastICA(n_components=2, random_state=seed, max_iter=1000)
    out["fastica"] = metrics.mcc(ica.fit_transform(x), s).score

    def hfs_loss(w, xb, idx):
        return jnp.sum(losses.hfs_pairwise(xb @ w)) / 2

    w = _fit_linear(
        x, hfs_loss, seed=seed, steps=args.hfs_steps, batch_size=args.hfs_batch, learning_rate=1e-2
    )
    out["hfs"] = metrics.mcc(x @ w, s).score
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--num_samples", type=int, default=50_000)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch_size", type=int, default=2000)
    p.add_argument("--sigma", type=float, default=0.1)
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument(
        "--schedule", choices=("constant", "cosine"), default="constant", help="learning rate"
    )
    p.add_argument(
        "--select",
        choices=("tail", "heldout"),
        default="tail",
        help="restart chosen by the last 20 minibatch losses, or by the criterion on one "
        "fixed batch of --select_size samples",
    )
    p.add_argument("--select_size", type=int, default=5000)
    p.add_argument("--supports", default="non-factorized,factorized")
    p.add_argument("--hfs_steps", type=int, default=300)
    p.add_argument("--hfs_batch", type=int, default=128)
    p.add_argument("--out", default="experiments/axis_alignment/results/linear")
    args = p.parse_args(argv)
    try:
        seeds = [int(v) for v in args.seeds.split(",")]
    except ValueError:
        sys.exit(f"error: --seeds must be comma-separated integers; got {args.seeds!r}")
    if args.batch_size > args.num_samples or args.batch_size < 2:
        sys.exit(f"error: --batch_size must be in [2, num_samples]; got {args.batch_size}")
    if args.select == "heldout" and not 2 <= args.select_size <= args.num_samples:
        sys.exit(f"error: --select_size must be in [2, num_samples]; got {args.select_size}")
    rows = {}
    supports = args.supports.split(",")
    if not supports or set(supports) - {"non-factorized", "factorized"}:
        sys.exit(f"error: --supports must list non-factorized and/or factorized; got {supports}")
    for name in supports:
        factorized = name == "factorized"
        rows[name] = [run(seed, factorized, args) for seed in seeds]
        print(name, rows[name], flush=True)
    head = _cli.provenance("experiments.axis_alignment.linear", argv)
    lines = [
        f"Data seeds {seeds}, n = {args.num_samples}, {head}. "
        "MCC (Pearson), mean ± std over seeds.",
        "",
        "| support | axis alignment (linear) | FastICA | HFS (linear) |",
        "|---|---|---|---|",
    ]
    for name, rs in rows.items():
        cells = []
        for key in ("axis_alignment", "fastica", "hfs"):
            v = np.array([r[key] for r in rs])
            cells.append(f"{v.mean():.4f} ± {v.std():.4f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(args.out + ".json", "w") as f:
        json.dump({"seeds": seeds, "provenance": head, "rows": rows, "args": vars(args)}, f)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

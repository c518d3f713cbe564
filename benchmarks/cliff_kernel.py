"""Cliff kernel benchmark: fwd+bwd time and memory of the fast kernel vs a naive JAX port.

Run:
    python -m benchmarks.cliff_kernel --out benchmarks/results/cliff_kernel_cpu.json [--quick]
    python -m benchmarks.cliff_kernel --vs-dense --out benchmarks/results/cliff_diag_skip_cpu.json

For every (B, d) it jits `value_and_grad(cliff_loss(z).total)`, times compilation
(`.lower(z).compile()`) separately from execution (median of repeats, `block_until_ready`),
and records `compiled.memory_analysis()` (temp / argument / output bytes). The same code runs
on GPU; the JSON records `jax.devices()[0].device_kind`.

The naive kernel computes the same loss the way a direct port does: for every ordered pair
`(i, j)` (vmapped) it materializes the `[M, B, T]` product of conditioning weights and kernel
derivatives and sums over the batch (`O(d^2 M B T)` memory), and evaluates each marginal
density on the grid from the `[B, T]` kernel matrix. Configurations whose naive kernel would
need more than `--naive-budget-mb` are recorded as skipped. The memory is XLA's own figure:
the naive kernel is compiled first (compiling allocates nothing) and its
`memory_analysis()` temp + argument + output bytes are compared with the budget; where a
backend has no memory analysis, the estimate is 4 live `[d (d - 1), M, B, T]` float32
arrays (the forward product, the broadcast cotangent and the two backward products), which
matches XLA's 14.8 GB at B = 1024, d = 32 (the earlier one-copy estimate said 4.2 GB).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from qdjax.losses import _cliff

FULL_BATCHES = (256, 1024, 4096, 16384)
FULL_LATENTS = (2, 10, 32)
QUICK_BATCHES = (256, 1024, 4096)
QUICK_LATENTS = (2, 10)
GRID, RANGE, COND = 100, 5.0, 10


def naive_cliff_total(z: jax.Array, *, eps: float = 1e-6) -> jax.Array:
    """Same value as `cliff_loss(z).total`, computed pair by pair with broadcasting."""
    num, d = z.shape
    h = _cliff.silverman_bandwidth(num, grid_size=GRID, grid_range=RANGE)
    zs = (z - jnp.mean(z, axis=0, keepdims=True)) / jnp.sqrt(
        jnp.var(z, axis=0, keepdims=True) + eps
    )
    t = jnp.asarray(np.linspace(-RANGE, RANGE, GRID), z.dtype)
    edges = np.linspace(-math.sqrt(3.0), math.sqrt(3.0), COND + 1)
    u = jnp.asarray(0.5 * (edges[:-1] + edges[1:]), z.dtype)
    c = 1.0 / math.sqrt(2.0 * math.pi)

    def entropy(p):
        return -jnp.sum(p * jnp.log(p + eps), axis=-1)

    def marginal(col):  # col: [B]
        x = (t[None, :] - col[:, None]) / h  # [B, T]
        kern = c * jnp.exp(-0.5 * x * x)
        deriv = jnp.sum(-x * kern, axis=0) / (num * h * h)
        s = jnp.abs(deriv) / (jnp.sum(jnp.abs(deriv)) + eps)
        inside = jnp.abs(t) <= math.sqrt(3.0)
        logp = jnp.log(jnp.sum(kern, axis=0) / (num * h) + eps)
        kl = -math.log(2.0 * math.sqrt(3.0)) - jnp.sum(jnp.where(inside, logp, 0.0)) / jnp.sum(
            inside
        )
        return entropy(s), kl

    def pair(col_i, col_j):
        x = (t[None, :] - col_i[:, None]) / h  # [B, T]
        dk = c * -x * jnp.exp(-0.5 * x * x)
        w = c * jnp.exp(-0.5 * ((col_j[None, :] - u[:, None]) / h) ** 2)  # [M, B]
        prod = w[:, :, None] * dk[None, :, :]  # [M, B, T]: the naive intermediate
        deriv = jnp.sum(prod, axis=1) / (h * h * jnp.sum(w, axis=1, keepdims=True))
        q = jnp.abs(deriv) / (jnp.sum(jnp.abs(deriv), axis=1, keepdims=True) + eps)
        pi = jnp.sum(w, axis=1) / jnp.sum(w)
        return entropy(pi @ q) - jnp.sum(pi * entropy(q))

    uni, kl = jax.vmap(marginal, in_axes=1)(zs)
    ii, jj = np.nonzero(~np.eye(d, dtype=bool))
    biv = jax.vmap(pair)(zs[:, ii].T, zs[:, jj].T) if d > 1 else jnp.zeros((1,), z.dtype)
    biv_mean = jnp.sum(biv) / max(d * (d - 1), 1)
    return jnp.mean(uni) + biv_mean + jnp.mean(kl)


def dense_cliff_total(z: jax.Array, *, eps: float = 1e-6) -> jax.Array:
    """`cliff_loss(z).total` with the previous bivariate contraction (commit 52551a2): all
    `d^2` pairs in one `[d M, B] x [B, T d]` matmul, the diagonal masked afterwards."""
    num, d = z.shape
    h = _cliff.silverman_bandwidth(num, grid_size=GRID, grid_range=RANGE)
    zs, _, _, _, h, x = _cliff._setup(z, h, GRID, RANGE, eps)
    dkernel = -x * jnp.exp(-0.5 * jnp.square(x))
    u = _cliff._conditioning_values(COND, math.sqrt(3.0), z.dtype)
    w = jnp.exp(-0.5 * jnp.square((zs[:, None, :] - u[None, :, None]) / h))
    deriv = jnp.einsum("bmj,bti->ijmt", w, dkernel)
    mass = jnp.sum(w, axis=0)
    norm = jnp.square(h) * math.sqrt(2.0 * math.pi) * jnp.maximum(mass, eps)
    q = _cliff._normalize(jnp.abs(deriv / norm.T[None, :, :, None]), eps, axis=-1)
    pi = (mass / jnp.maximum(jnp.sum(mass, axis=0, keepdims=True), eps)).T
    mixture = jnp.einsum("jm,ijmt->ijt", pi, q)
    jsd = _cliff._entropy(mixture, eps) - jnp.einsum("jm,ijm->ij", pi, _cliff._entropy(q, eps))
    biv = jnp.sum(jsd * (1.0 - jnp.eye(d, dtype=jsd.dtype))) / (d * (d - 1))
    terms = _cliff.cliff_loss(
        z, grid_size=GRID, grid_range=RANGE, num_conditioning=COND, weights=_NO_BIVARIATE
    )
    return terms.total + biv


_NO_BIVARIATE = _cliff.CliffWeights(bivariate=0.0)


def vs_dense(batches, latents, repeats: int) -> list[dict]:
    """Diagonal-skipping kernel vs the previous dense contraction, interleaved."""
    rows = []
    for d in latents:
        for num in batches:
            z = jax.random.uniform(jax.random.key(num + d), (num, d), jnp.float32)
            fns = {n: _compile(f, z)[0] for n, f in (("diag_skip", fast_cliff_total),
                                                     ("dense", dense_cliff_total))}  # fmt: skip
            vals = {n: float(jax.block_until_ready(f(z))[0]) for n, f in fns.items()}
            times = {n: [] for n in fns}
            for r in range(repeats):
                for n in sorted(fns, reverse=r % 2 == 1):
                    t = time.perf_counter()
                    jax.block_until_ready(fns[n](z))
                    times[n].append(1e3 * (time.perf_counter() - t))
            med = {n: statistics.median(v) for n, v in times.items()}
            row = {"batch": num, "latents": d, "fwd_bwd_ms": med, "values": vals,
                   "ratio_dense_over_diag_skip": med["dense"] / med["diag_skip"],
                   "load_average_1m": os.getloadavg()[0]}  # fmt: skip
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def fast_cliff_total(z: jax.Array) -> jax.Array:
    return _cliff.cliff_loss(z, grid_size=GRID, grid_range=RANGE, num_conditioning=COND).total


def _memory(compiled) -> dict:
    try:
        stats = compiled.memory_analysis()
    except Exception as err:  # backend without memory analysis
        return {"error": repr(err)}
    if stats is None:
        return {"error": "memory_analysis() returned None"}
    fields = ("temp_size_in_bytes", "argument_size_in_bytes", "output_size_in_bytes")
    return {f: int(getattr(stats, f, -1)) for f in fields}


def naive_bytes_estimate(num: int, d: int) -> int:
    """Fallback estimate: 4 live `[d (d - 1), M, B, T]` float32 arrays (see module doc)."""
    return 4 * 4 * d * (d - 1) * COND * num * GRID


def _compile(fn, z: jax.Array):
    step = jax.jit(jax.value_and_grad(fn))
    start = time.perf_counter()
    compiled = step.lower(z).compile()
    return compiled, time.perf_counter() - start


def _total_bytes(memory: dict) -> int | None:
    fields = ("temp_size_in_bytes", "argument_size_in_bytes", "output_size_in_bytes")
    if any(memory.get(f, -1) < 0 for f in fields):
        return None
    return sum(memory[f] for f in fields)


def bench(fn, z: jax.Array, repeats: int, compiled=None, compile_s=None) -> dict:
    if compiled is None:
        compiled, compile_s = _compile(fn, z)
    jax.block_until_ready(compiled(z))  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(z))
        times.append(time.perf_counter() - start)
    value = float(compiled(z)[0])
    return {
        "compile_s": compile_s,
        "fwd_bwd_ms_median": 1e3 * statistics.median(times),
        "fwd_bwd_ms_min": 1e3 * min(times),
        "repeats": repeats,
        "value": value,
        "memory": _memory(compiled),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="reduced grid (CPU)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--naive-budget-mb", type=float, default=1024.0)
    parser.add_argument("--fast-budget-mb", type=float, default=8192.0)
    parser.add_argument(
        "--vs-dense", action="store_true", help="only time diag-skip vs the previous contraction"
    )
    args = parser.parse_args(argv)
    if args.vs_dense:
        rows = vs_dense((1024, 4096), (10, 32), args.repeats or 7)
        report = {
            "benchmark": "cliff_kernel diag-skip vs dense bivariate contraction (fwd+bwd)",
            "command": "python -m benchmarks.cliff_kernel " + " ".join(sys.argv[1:]),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "device_kind": jax.devices()[0].device_kind,
            "platform": jax.devices()[0].platform,
            "host": {"cpu_count": os.cpu_count(), "python": platform.python_version()},
            "jax_version": jax.__version__,
            "results": rows,
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.out}")
        return

    batches = QUICK_BATCHES if args.quick else FULL_BATCHES
    latents = QUICK_LATENTS if args.quick else FULL_LATENTS
    repeats = args.repeats or (5 if args.quick else 20)
    device = jax.devices()[0]
    results = []
    for d in latents:
        for num in batches:
            key = jax.random.fold_in(jax.random.key(0), num * 100 + d)
            z = jax.random.uniform(key, (num, d), jnp.float32)
            row = {"batch": num, "latents": d}
            fast_bytes = 4 * num * GRID * d * 4  # a few live [B, T, d] float32 arrays
            if fast_bytes / 2**20 > args.fast_budget_mb:
                row["fast"] = {"skipped": f"estimated {fast_bytes / 2**20:.0f} MiB > budget"}
            else:
                row["fast"] = bench(fast_cliff_total, z, repeats)
            if d < 2:
                row["naive"] = bench(naive_cliff_total, z, max(1, repeats // 2))
            else:
                compiled, compile_s = _compile(naive_cliff_total, z)
                memory = _memory(compiled)
                naive_bytes = _total_bytes(memory)
                source = "xla memory_analysis"
                if naive_bytes is None:
                    naive_bytes, source = naive_bytes_estimate(num, d), "estimate (4 copies)"
                if naive_bytes / 2**20 > args.naive_budget_mb:
                    row["naive"] = {
                        "skipped": f"needs {naive_bytes / 2**20:.0f} MiB ({source}) "
                        f"> budget {args.naive_budget_mb:.0f} MiB",
                        "memory": memory,
                        "estimate_bytes": naive_bytes_estimate(num, d),
                    }
                else:
                    row["naive"] = bench(
                        naive_cliff_total, z, max(1, repeats // 2), compiled, compile_s
                    )
                    row["naive"]["estimate_bytes"] = naive_bytes_estimate(num, d)
            if "value" in row["fast"] and "value" in row["naive"]:
                row["naive_vs_fast_abs_diff"] = abs(row["fast"]["value"] - row["naive"]["value"])
            results.append(row)
            print(json.dumps(row), flush=True)

    report = {
        "benchmark": "cliff_kernel fwd+bwd (value_and_grad of cliff_loss(z).total)",
        "command": "python -m benchmarks.cliff_kernel " + " ".join(sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device_kind": device.device_kind,
        "platform": device.platform,
        "num_devices": jax.device_count(),
        "host": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            # other jobs on the machine inflate CPU times: the 1-minute load at the end
            "load_average_1m": os.getloadavg()[0],
        },
        "jax_version": jax.__version__,
        "grid": {"batches": list(batches), "latents": list(latents), "quick": args.quick},
        "settings": {
            "grid_size": GRID,
            "grid_range": RANGE,
            "num_conditioning": COND,
            "bandwidth": "silverman",
        },
        "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

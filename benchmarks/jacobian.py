"""Decoder-Jacobian benchmark: jacfwd vs jacrev vs a jvp loop, and one C_comp train step.

Run:
    python -m benchmarks.jacobian --out benchmarks/results/jacobian_cpu.json [--quick]

Decoders (both 12 latents -> 64x64x3): the QLAE reference decoder
(`qdjax.nn.conv_decoder(12, (64, 64, 3))`, StyleGAN-like, as in QLAE) and an MLP decoder
(`qdjax.nn.MLP(12, (256, 256), 12288)`). For each mode of
`qdjax.identifiability.decoder_jacobians` it jits the per-chunk function
`vmap(jacobian(decode))` on `chunk` points, times compilation (`.lower().compile()`) apart
from execution (median of repeats, `block_until_ready`) and records
`compiled.memory_analysis()` (temp bytes = working memory beyond inputs/outputs; a mode
needing more than 4 GiB is recorded as skipped, not run). Then it
times one training step `value_and_grad` of `mean ‖decode(z) - x‖² + 0.1·mean C_comp` (the
Jacobian by jacfwd inside the step, 4 groups of 3 latents) against the same step without
C_comp, at `--batch` examples. The JSON records the device, date and command.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qdjax import losses, nn
from qdjax.identifiability._jacobian import JACOBIAN_MODES, _jacobian_one

GROUPS = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11))
SHAPE = (64, 64, 3)


def _decoders(seed: int = 0) -> dict:
    qlae = nn.conv_decoder(12, SHAPE, rngs=nnx.Rngs(seed))
    mlp = nn.MLP(12, (256, 256), int(np.prod(SHAPE)), rngs=nnx.Rngs(seed))
    return {"qlae_reference": qlae, "mlp_256x2": mlp}


def _memory(compiled) -> dict:
    try:
        stats = compiled.memory_analysis()
    except Exception as err:  # noqa: BLE001 - backend without memory analysis
        return {"error": repr(err)}
    if stats is None:
        return {"error": "memory_analysis() returned None"}
    fields = ("temp_size_in_bytes", "argument_size_in_bytes", "output_size_in_bytes")
    return {f: int(getattr(stats, f, -1)) for f in fields}


def _time(fn, args, repeats: int, budget_bytes: float = 4 * 2**30) -> dict:
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    memory = _memory(compiled)
    if memory.get("temp_size_in_bytes", 0) > budget_bytes:  # e.g. jacrev of a 12288-dim output
        return {
            "skipped": f"needs {memory['temp_size_in_bytes'] / 2**30:.1f} GiB of working memory "
            f"(> {budget_bytes / 2**30:.0f} GiB budget)",
            "compile_s": compile_s,
            "memory": memory,
        }
    jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return {
        "compile_s": compile_s,
        "run_ms_median": 1e3 * statistics.median(times),
        "run_ms_min": 1e3 * min(times),
        "repeats": repeats,
        "memory": memory,
    }


def bench_jacobians(module, chunk: int, repeats: int) -> dict:
    graphdef, state = nnx.split(module)

    def decode(state, z):  # one latent -> flat output
        return jnp.reshape(nnx.merge(graphdef, state)(z[None])[0], (-1,))

    z = jax.random.normal(jax.random.key(1), (chunk, 12), jnp.float32)
    out, ref = {}, None
    for mode in JACOBIAN_MODES:
        fn = lambda state, z, mode=mode: jax.vmap(  # noqa: E731
            _jacobian_one(lambda v: decode(state, v), mode, 12)
        )(z)
        row = _time(fn, (state, z), repeats)
        if "skipped" not in row:
            jac = np.asarray(jax.jit(fn)(state, z))
            ref = jac if ref is None else ref
            row["max_abs_diff_vs_jacfwd"] = float(np.max(np.abs(jac - ref)))
            row["points_per_s"] = chunk / (row["run_ms_median"] / 1e3)
        out[mode] = row
    ran = [m for m in JACOBIAN_MODES if "skipped" not in out[m]]
    out["fastest"] = min(ran, key=lambda m: out[m]["run_ms_median"])
    out["jacobian_bytes_per_point"] = 4 * int(np.prod(SHAPE)) * 12
    return out


def bench_step(module, batch: int, repeats: int) -> dict:
    graphdef, state = nnx.split(module)
    z = jax.random.normal(jax.random.key(2), (batch, 12), jnp.float32)
    x = jax.random.uniform(jax.random.key(3), (batch, *SHAPE), jnp.float32)

    def recon(state):
        x_hat = nnx.merge(graphdef, state)(z).reshape(x.shape)
        return jnp.mean(jnp.sum(jnp.square(x_hat - x), axis=(1, 2, 3)))

    def with_ccomp(state):
        dec = lambda v: nnx.merge(graphdef, state)(v[None])[0].reshape(SHAPE)  # noqa: E731
        c = losses.decoder_compositional_contrast(dec, z, GROUPS)
        return recon(state) + 0.1 * jnp.mean(c)

    plain = _time(jax.value_and_grad(recon), (state,), repeats)
    ccomp = _time(jax.value_and_grad(with_ccomp), (state,), repeats)
    return {
        "batch": batch,
        "reconstruction_only": plain,
        "reconstruction_plus_ccomp": ccomp,
        "ccomp_overhead_x": ccomp["run_ms_median"] / plain["run_ms_median"],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="small chunk and batch (CPU)")
    parser.add_argument("--chunk", type=int, default=None, help="points per Jacobian chunk")
    parser.add_argument("--batch", type=int, default=None, help="batch of the train step")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    chunk = args.chunk or (8 if args.quick else 64)
    batch = args.batch or (8 if args.quick else 64)
    repeats = args.repeats or (3 if args.quick else 10)
    results = {}
    for name, module in _decoders().items():
        print(f"{name}: Jacobians ...", flush=True)
        results[name] = {"jacobians": bench_jacobians(module, chunk, repeats)}
        print(f"{name}: train step ...", flush=True)
        results[name]["train_step"] = bench_step(module, batch, repeats)
        print(json.dumps(results[name], indent=1)[:1500], flush=True)
    record = {
        "benchmark": "jacobian",
        "device": jax.devices()[0].device_kind,
        "platform": jax.default_backend(),
        "num_devices": jax.device_count(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(
            [os.path.basename(sys.executable), "-m", "benchmarks.jacobian"]
            + (sys.argv[1:] if argv is None else list(argv))
        ),
        "load_average": os.getloadavg(),
        "chunk": chunk,
        "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

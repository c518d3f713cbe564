"""x2 transposed convolution: sub-pixel vs plain (`lax.conv_transpose`), per layer, interleaved.

Run:
    python -m benchmarks.conv_transpose --out benchmarks/results/conv_transpose_cpu.json \
        [--batch 16] [--repeats 5] [--dtype float32|bf16]

For each stride-2 transposed conv of the QLAE decoder at 64x64 (4x4x256 -> 8x8x128,
8x8x128 -> 16x16x64, 16x16x64 -> 32x32x32, 32x32x32 -> 64x64x32; the "dlib" decoder's
layers are the same kind) it jits forward + backward (`value_and_grad` w.r.t. input and
kernel of a random-cotangent loss) of both implementations of `qdjax.nn.ConvTranspose2x`,
checks they agree, times compilation apart, and alternates the two round by round so that
machine load hits both alike. The JSON holds the per-layer medians, their ratio (plain /
sub-pixel: > 1 means sub-pixel is faster), the backend's choice that this measurement
supports, the device, date, commit, command and load average.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from qdjax.nn import subpixel_conv_transpose

# (H_in, C_in, C_out) of the QLAE decoder's x2 layers at 64x64 (channels 256, 128, 64, 32)
LAYERS = ((4, 256, 128), (8, 128, 64), (16, 64, 32), (32, 32, 32))


def _plain(x, k):
    return jax.lax.conv_transpose(x, k, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _fwd_bwd(fn, cot):
    def loss(x, k):
        return jnp.sum(fn(x, k).astype(jnp.float32) * cot)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))


def measure(batch: int, h: int, c_in: int, c_out: int, *, repeats: int, dtype) -> dict:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(batch, h, h, c_in)), dtype)
    k = jnp.asarray(rng.normal(size=(4, 4, c_in, c_out)) / np.sqrt(16 * c_in), dtype)
    cot = jnp.asarray(rng.normal(size=(batch, 2 * h, 2 * h, c_out)), jnp.float32)
    fns, compile_s, out = {}, {}, {}
    for name, f in (("subpixel", subpixel_conv_transpose), ("transpose", _plain)):
        t = time.perf_counter()
        fns[name] = _fwd_bwd(f, cot).lower(x, k).compile()
        compile_s[name] = time.perf_counter() - t
        out[name] = jax.block_until_ready(fns[name](x, k))
    err = float(jnp.max(jnp.abs(out["subpixel"][1][1] - out["transpose"][1][1])))
    times = {"subpixel": [], "transpose": []}
    for r in range(repeats):
        order = ("subpixel", "transpose") if r % 2 == 0 else ("transpose", "subpixel")
        for name in order:
            t = time.perf_counter()
            jax.block_until_ready(fns[name](x, k))
            times[name].append(1e3 * (time.perf_counter() - t))
    med = {n: statistics.median(v) for n, v in times.items()}
    return {
        "layer": f"{h}x{h}x{c_in} -> {2 * h}x{2 * h}x{c_out}",
        "fwd_bwd_ms": med,
        "ratio_transpose_over_subpixel": med["transpose"] / med["subpixel"],
        "ms_all": times,
        "compile_s": compile_s,
        "max_abs_kernel_grad_diff": err,
    }


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--dtype", default="float32", choices=("float32", "bf16"))
    args = p.parse_args(argv)
    if args.batch < 1 or args.repeats < 1:
        raise SystemExit("error: --batch and --repeats must be >= 1")
    dtype = jnp.bfloat16 if args.dtype == "bf16" else jnp.float32
    load = [os.getloadavg()[0]]
    rows = []
    for h, c_in, c_out in LAYERS:
        row = measure(args.batch, h, c_in, c_out, repeats=args.repeats, dtype=dtype)
        rows.append(row)
        load.append(os.getloadavg()[0])
        print(
            f"{row['layer']:24s} sub-pixel {row['fwd_bwd_ms']['subpixel']:8.1f} ms, plain "
            f"{row['fwd_bwd_ms']['transpose']:8.1f} ms, ratio "
            f"{row['ratio_transpose_over_subpixel']:.2f}",
            flush=True,
        )
    total = {n: sum(r["fwd_bwd_ms"][n] for r in rows) for n in ("subpixel", "transpose")}
    dev = jax.devices()[0]
    out = {
        "benchmark": "conv_transpose (x2, 4x4, SAME) fwd+bwd per layer",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "command": "python -m benchmarks.conv_transpose " + " ".join(sys.argv[1:]),
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
        "jax": jax.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "batch": args.batch,
        "dtype": args.dtype,
        "repeats": args.repeats,
        "load_average_1min": load,
        "results": rows,
        "total_ms": total,
        "faster": min(total, key=total.get),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(f"faster on {dev.platform}: {out['faster']}; wrote {args.out}")


if __name__ == "__main__":
    main()

"""Training throughput (images/s) of one jitted train step on 64x64x3 images.

Run:
    python -m benchmarks.train_throughput --out benchmarks/results/train_throughput_cpu.json \
        [--architecture qlae|qlae_legacy|small] [--batch-sizes 128,512] [--steps 20] \
        [--methods ae,qlae,ae_cliff] [--bf16] [--input host|device] \
        [--impl auto|subpixel|transpose]

For every (method, batch size) it builds the model (`qdjax.nn` conv factories; "small" is
the disentanglement_lib architecture), a pixel-mean Bernoulli objective and the optimizer
(QLAE: the reference AdamW 1e-3 / decay 0.1 on weights, Adam on biases and codebooks,
element-wise clipping at 1), jits the engine's step (`qdjax.train.make_train_step`) with the
state donated, times compilation (`.lower(...).compile()`) apart from execution, and reports
the median over `--repeats` of `steps * batch / time`. `--input host` (default) includes the
input: every step transfers a fresh host (NumPy) batch to the device, as a training loop
does; `--input device` keeps one batch resident on the device. `--bf16` computes in
bfloat16 (float32 parameters and losses); `--impl` picks the x2 transposed-conv
implementation (default: the backend's fastest, `qdjax.nn.ConvTranspose2x`). The QLAE
configuration (architecture "qlae", 12 latents x 10 values) has 7,651,780 parameters (the
authors' model); its GPU target is >= 2x the authors' images/s at batch 128 and 512. The
JSON records the device, date, commit, command and load average.
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
from flax import nnx

from qdjax import losses as qlosses
from qdjax import nn as qnn
from qdjax import train as qtrain
from qdjax._src.typing import Batch


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build(method: str, architecture: str, bf16: bool, num_latents: int, impl: str = "auto"):
    """Model, optimizer and train step of `method` on 64x64x3 images (Bernoulli, pixel-mean)."""
    arch = {"architecture": "dlib" if architecture == "small" else architecture}
    arch["dtype"] = jnp.bfloat16 if bf16 else None
    shape, rngs = (64, 64, 3), nnx.Rngs(0)
    terms = [qtrain.reconstruction_term("bernoulli", per_element=True)]
    if method == "qlae":
        model = qnn.qlae(shape, num_latents, **arch, rngs=rngs)
        terms += list(qtrain.quantization_terms())
        tx = qtrain.make_optimizer(learning_rate=1e-3, weight_decay=0.1, clip_value=1.0)
    elif method == "betavae":
        model = qnn.conv_vae(shape, num_latents, **arch, rngs=rngs)
        terms.append(qtrain.kl_term(weight=1.0 / np.prod(shape)))
        tx = qtrain.make_optimizer(learning_rate=1e-3, weight_decay=1e-4)
    elif method in ("ae", "ae_cliff"):
        model = qnn.conv_autoencoder(shape, num_latents, **arch, rngs=rngs)
        if method == "ae_cliff":
            terms.append(qtrain.latent_term("cliff", qlosses.cliff_loss, weight=0.1))
        tx = qtrain.make_optimizer(learning_rate=1e-3, weight_decay=1e-4)
    else:
        raise ValueError(f"unknown method {method!r}; use ae, betavae, qlae or ae_cliff")
    if impl != "auto":
        for _, m in nnx.iter_graph(model):
            if isinstance(m, qnn.ConvTranspose2x):
                m.impl = impl
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    return model, optimizer, qtrain.make_train_step(qtrain.make_objective(*terms))


def measure(method, batch_size, *, architecture, bf16, num_latents, steps, repeats, impl="auto",
            host_input=True):  # fmt: skip
    model, optimizer, step = build(method, architecture, bf16, num_latents, impl)
    num_params = qnn.count_params(model)
    graphdef, state = nnx.split((model, optimizer))
    fn = jax.jit(lambda st, b, k: step(graphdef, st, b, k), donate_argnums=0)
    rng = np.random.default_rng(0)
    host = [  # two host batches, alternated, so no transfer can be cached
        Batch(
            rng.uniform(size=(batch_size, 64, 64, 3)).astype(np.float32),
            np.zeros((batch_size, 1), np.float32),
        )
        for _ in range(2)
    ]
    batch = jax.device_put(host[0])
    key = jax.random.key(0)
    t = time.perf_counter()
    compiled = fn.lower(state, batch, key).compile()
    compile_s = time.perf_counter() - t
    state, aux = compiled(state, batch, key)  # warm-up
    jax.block_until_ready(aux)
    rates = []
    for r in range(repeats):
        t = time.perf_counter()
        for i in range(steps):
            b = jax.device_put(host[i % 2]) if host_input else batch
            state, aux = compiled(state, b, jax.random.fold_in(key, r * steps + i))
        jax.block_until_ready((state, aux))
        rates.append(steps * batch_size / (time.perf_counter() - t))
    return {
        "method": method,
        "batch_size": batch_size,
        "num_params": num_params,
        "compile_s": compile_s,
        "images_per_s": statistics.median(rates),
        "images_per_s_all": rates,
        "step_ms": 1e3 * batch_size / statistics.median(rates),
        "loss_finite": bool(np.isfinite(float(aux["loss"]))),
        "load_average_1min": os.getloadavg()[0],
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--methods", default="ae,qlae,ae_cliff")
    p.add_argument("--batch-sizes", default="128,512")
    p.add_argument("--architecture", default="qlae", choices=("qlae", "qlae_legacy", "small"))
    p.add_argument("--num-latents", type=int, default=12)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--input", default="host", choices=("host", "device"))
    p.add_argument("--impl", default="auto", choices=qnn.CONV_TRANSPOSE_IMPLS)
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        raise SystemExit("error: --steps and --repeats must be >= 1")
    rows = []

    def write() -> None:
        dev = jax.devices()[0]
        out = {
            "benchmark": "train_throughput",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": "python -m benchmarks.train_throughput " + " ".join(sys.argv[1:]),
            "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
            "device_count": jax.device_count(),
            "jax": jax.__version__,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "architecture": args.architecture,
            "num_latents": args.num_latents,
            "bf16": args.bf16,
            "input": args.input,
            "impl": args.impl,
            "commit": _commit(),
            "steps": args.steps,
            "repeats": args.repeats,
            "gpu_target": "QLAE (architecture qlae, 12 latents x 10 values, 7,651,780 params) "
            ">= 2x the authors' images/s at batch 128 and 512 (benchmarks/qlae_reference.py)",
            "results": rows,
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)

    for method in args.methods.split(","):
        for b in (int(v) for v in args.batch_sizes.split(",")):
            row = measure(
                method,
                b,
                architecture=args.architecture,
                bf16=args.bf16,
                num_latents=args.num_latents,
                steps=args.steps,
                repeats=args.repeats,
                impl=args.impl,
                host_input=args.input == "host",
            )
            rows.append(row)
            print(
                f"{method:9s} batch {b:4d}: {row['images_per_s']:9.1f} img/s "
                f"({row['step_ms']:.1f} ms/step, compile {row['compile_s']:.1f} s, "
                f"{row['num_params']:,} params)",
                flush=True,
            )
            write()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

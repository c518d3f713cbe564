"""Training throughput (images/s) of one jitted train step on 64x64x3 images.

Run:
    python -m benchmarks.train_throughput --out benchmarks/results/train_throughput_cpu.json \
        [--architecture qlae|small] [--batch-sizes 128,512] [--steps 20] \
        [--methods ae,betavae,qlae,ae_cliff] [--bf16]

For every (method, batch size) it builds the Balls experiment's model, objective and
optimizer (`experiments.balls.train`: AdamW on weights, Adam on biases/codebooks, element-wise
clipping), jits the engine's step (`qdjax.train.make_train_step`) with the state donated,
times compilation (`.lower(...).compile()`) apart from execution, and reports the median
over `--repeats` of `steps * batch / time` on random images kept on device. The QLAE reference
configuration (architecture "qlae", 12 latents x 10 values) has 7,651,780 parameters; its GPU
target is >= 7,600 images/s at batch 128 on one H100. The JSON records the device, date and
command.
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
import numpy as np
from flax import nnx

from experiments.balls import train as balls
from experiments.balls.configs import default
from qdjax._src.typing import Batch
from qdjax.nn import _image_models
from qdjax.train import make_train_step


def build(method: str, architecture: str, bf16: bool, num_latents: int):
    cfg = default.get_config(method)
    cfg.model.architecture = architecture
    cfg.model.num_latents = num_latents
    cfg.model.bf16 = bf16
    if architecture == "qlae":
        cfg.model.channels = (32, 64, 128, 256)
    model = balls.make_model(cfg, num_factors=num_latents // 2)
    optimizer = nnx.Optimizer(model, balls.make_optimizer(cfg), wrt=nnx.Param)
    step = make_train_step(balls.make_objective(cfg))
    return model, optimizer, step


def measure(method, batch_size, *, architecture, bf16, num_latents, steps, repeats):
    model, optimizer, step = build(method, architecture, bf16, num_latents)
    num_params = _image_models.count_params(model)
    graphdef, state = nnx.split((model, optimizer))
    fn = jax.jit(lambda st, b, k: step(graphdef, st, b, k), donate_argnums=0)
    rng = np.random.default_rng(0)
    batch = jax.device_put(
        Batch(
            rng.uniform(size=(batch_size, 64, 64, 3)).astype(np.float32),
            np.zeros((batch_size, 1), np.float32),
        )
    )
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
            state, aux = compiled(state, batch, jax.random.fold_in(key, r * steps + i))
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
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--methods", default="ae,betavae,qlae,ae_cliff")
    p.add_argument("--batch-sizes", default="128,512")
    p.add_argument("--architecture", default="qlae", choices=("qlae", "small"))
    p.add_argument("--num-latents", type=int, default=12)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--bf16", action="store_true")
    args = p.parse_args(argv)
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
            "steps": args.steps,
            "repeats": args.repeats,
            "gpu_target": "QLAE reference (architecture qlae, 12 latents x 10 values, "
            "7,651,780 params) >= 7600 images/s at batch 128 on one H100",
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

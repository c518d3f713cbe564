"""Input-pipeline throughput: images/s of the batch sources alone and of train steps with input.

    python -m benchmarks.input_pipeline --out benchmarks/results/input_pipeline_cpu.json \
        [--batch-sizes=128,512] [--steps=20]

Sources: `device` (uint8 Shapes3D-sized array on the device, gathered per step; a random
stand-in array of `--num-images` rows), `procedural` (the Shapes3D stand-in rendered on the
device) and `host` (a FactorImageDataset in host memory, copied per step). End-to-end: an AE
step (small dlib conv net) fed by each source through `qdjax.train.train`'s step function.
Compile time is reported apart from the steady state.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import jax
import numpy as np
from flax import nnx

from qdjax import data as qdata
from qdjax import nn
from qdjax import train as qtrain
from qdjax.train.step import jit_step, make_data_mesh, put_batch, replicated


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _time_source(source, steps: int, host: bool) -> dict:
    mesh = make_data_mesh()
    t0 = time.perf_counter()
    b = source.batch(0)
    b = put_batch(b, mesh) if host else b
    jax.block_until_ready(b)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in range(1, steps + 1):
        b = source.batch(t)
        b = put_batch(b, mesh) if host else b
    jax.block_until_ready(b)
    dt = time.perf_counter() - t0
    return {"first_batch_s": first, "images_per_s": steps * source.batch_size / dt}


def _time_steps(source, steps: int, host: bool) -> dict:
    mesh = make_data_mesh()
    model = nn.conv_autoencoder(
        (64, 64, 3),
        12,
        architecture="dlib",
        channels=(16, 16, 32, 32),
        dense=(128,),
        rngs=nnx.Rngs(0),
    )
    opt = nnx.Optimizer(model, qtrain.make_optimizer(learning_rate=1e-3), wrt=nnx.Param)
    graphdef, state = nnx.split((model, opt))
    state = jax.device_put(state, replicated(mesh))
    obj = qtrain.make_objective(qtrain.reconstruction_term("bernoulli", per_element=True))
    step = jit_step(qtrain.make_train_step(obj), graphdef, mesh)
    key = jax.random.key(0)

    def load(t):
        b = source.batch(t)
        return put_batch(b, mesh) if host else b

    t0 = time.perf_counter()
    state, aux = step(state, load(0), key)
    jax.block_until_ready(aux)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in range(1, steps + 1):
        state, aux = step(state, load(t), jax.random.fold_in(key, t))
    jax.block_until_ready(aux)
    dt = time.perf_counter() - t0
    return {"first_step_s": compile_s, "images_per_s": steps * source.batch_size / dt}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--batch-sizes", default="128,512")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--num-images", type=int, default=20000)
    p.add_argument("--supersample", type=int, default=1)
    a = p.parse_args(argv)
    if a.num_images < 1000:  # the host source is a 10 x 10 x 10 factor grid of these images
        p.error(f"--num-images must be >= 1000 (the host source uses 1000); got {a.num_images}")
    rng = np.random.default_rng(0)
    sizes = (10, 10, 10, 8, 4, 15)
    n = a.num_images
    images = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    factors = np.stack([rng.integers(0, k, n) for k in sizes], 1).astype(np.int32)
    renderer = qdata.Shapes3DRenderer(supersample=a.supersample)
    host = qdata.FactorImageDataset.from_arrays(
        images[: 10 * 10 * 10], None, factor_sizes=(10, 10, 10), batch_size=128
    )
    rows = []
    for b in (int(s) for s in a.batch_sizes.split(",")):
        host.batch_size = b
        sources = {
            "device": (qdata.DeviceSource(images, factors, batch_size=b), False),
            "procedural": (qdata.ProceduralSource(renderer, batch_size=b), False),
            "host": (host, True),
        }
        for name, (src, is_host) in sources.items():
            row = {"source": name, "batch_size": b}
            row["input_only"] = _time_source(src, a.steps, is_host)
            row["ae_step_with_input"] = _time_steps(src, max(a.steps // 4, 3), is_host)
            print(json.dumps(row), flush=True)
            rows.append(row)
    out = {
        "benchmark": "input_pipeline",
        "device": str(jax.devices()[0]),
        "num_devices": jax.device_count(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "command": "python -m benchmarks.input_pipeline " + " ".join(argv or sys.argv[1:]),
        "load_average": os.getloadavg(),
        "rows": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SAE training throughput (samples/s) and blocked coherence time at interpretability scale.

Run:
    python -m benchmarks.sae --out benchmarks/results/sae_cpu.json \
        [--d-in 768] [--width 16384] [--k 32] [--batch 4096] [--steps 3] [--kinds topk,relu]

For each kind it builds `qdjax.nn.SparseAutoencoder(d_in, width, kind=...)` with the
unit-norm decoder optimizer, the engine's jitted step (`qdjax.train.make_train_step`,
state donated) on a random batch kept on device, times compilation
(`.lower(...).compile()`) apart from `--steps` executed steps (`block_until_ready`), and
reports `steps * batch / time`. It also times `qdjax.identifiability.mutual_coherence` of
the trained dictionary (blocked: 1024 x width floats live at once, never width^2). The JSON
records the device, date, load average and command.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qdjax import identifiability, losses, nn
from qdjax import train as qtrain
from qdjax._src.typing import Batch


def build(kind, d_in, width, k):
    model = nn.SparseAutoencoder(d_in, width, kind=kind, k=k, rngs=nnx.Rngs(0))
    tx = nn.unit_norm_decoder(qtrain.make_optimizer(learning_rate=1e-4))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    terms = [
        qtrain.Term("rec", lambda o, b: jnp.mean(losses.sae_reconstruction_error(o.x_hat, b.x)))
    ]
    if kind == "relu":
        terms.append(qtrain.Term("l1", lambda o, b: jnp.mean(losses.l1_sparsity(o.z)), 5.0))
    else:
        terms.append(
            qtrain.Term("auxk", lambda o, b: losses.auxk_loss(b.x - o.x_hat, o.aux_x_hat), 1 / 32)
        )
    return model, optimizer, qtrain.make_train_step(qtrain.make_objective(*terms))


def measure(kind, *, d_in, width, k, batch, steps):
    model, optimizer, step = build(kind, d_in, width, k)
    graphdef, state = nnx.split((model, optimizer))
    fn = jax.jit(lambda st, b, key: step(graphdef, st, b, key), donate_argnums=0)
    x = np.random.default_rng(0).normal(size=(batch, d_in)).astype(np.float32)
    b = jax.device_put(Batch(x, np.zeros((batch, 1), np.float32)))
    key = jax.random.key(0)
    t = time.perf_counter()
    compiled = fn.lower(state, b, key).compile()
    compile_s = time.perf_counter() - t
    state, aux = compiled(state, b, key)  # warm-up
    jax.block_until_ready(aux)
    per_step = []
    for _ in range(steps):
        t = time.perf_counter()
        state, aux = compiled(state, b, key)
        jax.block_until_ready((state, aux))
        per_step.append(time.perf_counter() - t)
    run_s = sum(per_step)
    m, _ = nnx.merge(graphdef, state)
    t = time.perf_counter()
    mu = identifiability.mutual_coherence(np.asarray(m.dictionary))
    coh_s = time.perf_counter() - t
    return {
        "kind": kind,
        "compile_s": compile_s,
        "steps": steps,
        "seconds": run_s,
        "step_seconds": per_step,
        "samples_per_s": steps * batch / run_s,
        "loss": float(aux["loss"]),
        "coherence_s": coh_s,
        "mutual_coherence": mu,
    }


_SOURCES = (
    "benchmarks/sae.py",
    "qdjax/nn/_sae.py",
    "qdjax/losses/_sae.py",
    "qdjax/identifiability/_coherence.py",
    "qdjax/train/step.py",
)


def _commit() -> str:
    """The checked-out commit (``+dirty`` when tracked files differ), or ``unknown``."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", *_SOURCES], check=False
        ).returncode
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--d-in", type=int, default=768)
    p.add_argument("--width", type=int, default=16384)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--kinds", default="topk,relu")
    a = p.parse_args(argv)
    load_before, commit = os.getloadavg(), _commit()  # the code that runs, taken at start
    rows = []
    for kind in a.kinds.split(","):
        r = measure(kind, d_in=a.d_in, width=a.width, k=a.k, batch=a.batch, steps=a.steps)
        print(json.dumps(r), flush=True)
        rows.append(r)
    out = {
        "benchmark": "sae",
        "device": str(jax.devices()[0]),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(),
        "commit": commit,
        "jax": jax.__version__,
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "command": " ".join(["python -m benchmarks.sae", *(argv or sys.argv[1:])]),
        "config": {"d_in": a.d_in, "width": a.width, "k": a.k, "batch": a.batch},
        "results": rows,
    }
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()

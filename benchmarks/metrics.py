"""Wall-clock timings of the disentanglement metrics on one CPU problem.

Usage:
    python -m benchmarks.metrics --out benchmarks/results/metrics_cpu.json

Times each metric once (after one warm-up call on a tiny problem) on n=10 000 samples,
10 codes and 6 integer factors (sizes of Shapes3D: 10, 10, 10, 8, 4, 15 classes); the codes
are a noisy, partly mixed copy of the factors plus 4 noise codes. Writes a JSON file with the
device name, date, command and seconds per metric.
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

import numpy as np
import scipy
import sklearn

from qdjax import metrics as qm

FACTOR_SIZES = (10, 10, 10, 8, 4, 15)


def _cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or platform.machine()


def make_problem(n: int = 10_000, num_noise: int = 4, seed: int = 0):
    """Returns `(z [n, 6 + num_noise], s [n, 6])` integer factors and noisy mixed codes."""
    rng = np.random.default_rng(seed)
    s = np.stack([rng.integers(0, k, n) for k in FACTOR_SIZES], axis=1)
    u = s / (np.array(FACTOR_SIZES) - 1)
    mix = np.eye(len(FACTOR_SIZES))
    mix[0, 1] = mix[1, 0] = 0.3
    z = u @ mix + 0.05 * rng.normal(size=u.shape)
    return np.concatenate([z, rng.normal(size=(n, num_noise))], axis=1), s


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/metrics_cpu.json")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--skip-gbt", action="store_true", help="skip the slow reference DCI")
    args = parser.parse_args(argv)

    z, s = make_problem(args.n)
    cells_true = s[:, :3]
    cells_pred = qm.cells_from_thresholds(
        z[:, :3], [np.linspace(0, 1, k + 1)[1:-1] for k in (10, 10, 10)]
    )
    x = np.random.default_rng(1).uniform(size=(args.n, 64, 64, 3)).astype(np.float32)
    x_hat = np.clip(x + 0.05, 0, 1)
    jobs = {
        "mcc": lambda: qm.mcc(z, s),
        "mcc_spearman": lambda: qm.mcc(z, s, correlation="spearman"),
        "mig": lambda: qm.mig(z, s),
        "sap": lambda: qm.sap(z, s),
        "infomec_ksg": lambda: qm.infomec(z, s),
        "infomec_binned": lambda: qm.infomec(z, s, mi_estimator="binned"),
        "dci_forest": lambda: qm.dci(z, s, backend="forest"),
        "dci_gbt": lambda: qm.dci(z, s, backend="gbt"),
        "quantized_cell_accuracy": lambda: qm.quantized_cell_accuracy(cells_pred, cells_true),
        "psnr_64x64x3": lambda: qm.psnr(x, x_hat),
    }
    if args.skip_gbt:
        del jobs["dci_gbt"]
    # Warm-up: imports and first-call overheads, on a tiny problem.
    zw, sw = make_problem(300)
    qm.mcc(zw, sw), qm.mig(zw, sw), qm.infomec(zw, sw), qm.dci(zw, sw, backend="forest")

    seconds, scores = {}, {}
    for name, job in jobs.items():
        start = time.perf_counter()
        result = job()
        seconds[name] = round(time.perf_counter() - start, 3)
        scores[name] = float(result[0]) if isinstance(result, tuple) else float(result)
        print(f"{name:26s} {seconds[name]:9.3f} s   first field {scores[name]:.4f}", flush=True)

    record = {
        "device": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.metrics "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "problem": {
            "n": args.n,
            "num_latents": z.shape[1],
            "num_factors": s.shape[1],
            "factor_sizes": list(FACTOR_SIZES),
        },
        "versions": {"numpy": np.__version__, "python": platform.python_version()},
        "seconds": seconds,
        "first_field": scores,
    }
    record["versions"].update(scipy=scipy.__version__, sklearn=sklearn.__version__)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

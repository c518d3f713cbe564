"""InfoMEC with discrete latents: the sparse one-hot design (used) vs the dense one, same fits.

Run:
    python -m benchmarks.infomec_sparse --out benchmarks/results/infomec_sparse_cpu.json

Quantized codes (12 latents x 10 values, 6 of them noisy copies of the factors) and 6 factors
with 10 classes, n = 5000: the InfoE logistic regressions of `qdjax.metrics.infomec` fitted on
the dense one-hot design and on the sparse (CSR) one, alternated, with their NLLs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
from sklearn import preprocessing

from qdjax.metrics import _infomec


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=5000)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    s = rng.integers(0, 10, size=(args.n, 6))
    noise = (rng.uniform(size=s.shape) < 0.2) * rng.integers(0, 10, size=s.shape)
    z = np.concatenate([s + noise, rng.integers(0, 10, size=(args.n, 6))], axis=1) % 10
    labels = _infomec.encode_labels(z.astype(float))
    designs = {
        "dense": preprocessing.OneHotEncoder(sparse_output=False).fit_transform(labels),
        "sparse": preprocessing.OneHotEncoder(sparse_output=True).fit_transform(labels).tocsr(),
    }
    seconds, nll = {}, {}
    for name in ("sparse", "dense"):
        t = time.perf_counter()
        fits = [_infomec._logistic_nll_and_bacc(designs[name], s[:, i], "balanced", 100, 0)
                for i in range(s.shape[1])]  # fmt: skip
        seconds[name] = time.perf_counter() - t
        nll[name] = [f[0] for f in fits]
    out = {
        "benchmark": "infomec_sparse",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.infomec_sparse " + " ".join(sys.argv[1:]),
        "n": args.n,
        "seconds": seconds,
        "speedup": seconds["dense"] / seconds["sparse"],
        "max_abs_nll_diff": float(np.max(np.abs(np.subtract(nll["dense"], nll["sparse"])))),
        "load_average_1min": os.getloadavg()[0],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

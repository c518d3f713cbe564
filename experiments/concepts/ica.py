"""Linear ICA on planted sources: qdjax's JAX FastICA vs scikit-learn's, with the verdict.

For each number of Gaussian sources (0, 1, 2) and each evaluation seed (a fresh dataset
per seed): source MCC against the truth (Hungarian on |corr|), mixing-column MCC, agreement
of the two implementations (MCC between their mixing columns) and the non-Gaussianity
verdict on qdjax's recovered sources.
"""

from __future__ import annotations

import time
import warnings

from experiments import _cli
from experiments._cli import require
from qdjax import data, identifiability, metrics


def run(config, workdir: str) -> list[dict]:
    from sklearn.decomposition import FastICA  # here: ~1 s at every CLI start otherwise

    del workdir
    c = config.ica
    require(c.num_sources >= 2, "ica.num_sources", f"must be >= 2; got {c.num_sources}")
    try:
        gaussians = [int(v) for v in str(c.num_gaussian).split(",") if v.strip()]
    except ValueError:
        raise _cli.ConfigError(
            f"--config.ica.num_gaussian must be comma-separated ints; got {c.num_gaussian!r}"
        )
    require(
        all(0 <= g <= c.num_sources for g in gaussians),
        "ica.num_gaussian",
        f"each must be in [0, ica.num_sources={c.num_sources}]; got {c.num_gaussian!r}",
    )
    require(
        c.algorithm in ("symmetric", "deflation"),
        "ica.algorithm",
        f"must be 'symmetric' or 'deflation'; got {c.algorithm!r}",
    )
    sk_algorithm = {"symmetric": "parallel"}.get(c.algorithm, c.algorithm)
    seeds = [int(v) for v in str(config.eval_seeds).split(",") if v.strip()]
    rows = []
    for g in gaussians:
        for seed in seeds:
            ds = data.make_ica(
                seed, num_samples=c.num_samples, num_sources=c.num_sources, num_gaussian=g
            )
            t = time.perf_counter()
            ours = identifiability.fast_ica(ds.x, algorithm=c.algorithm, seed=seed)
            t_ours = time.perf_counter() - t
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sklearn's convergence warning is reported below
                sk = FastICA(
                    algorithm=sk_algorithm,
                    whiten="unit-variance",
                    fun="logcosh",
                    random_state=seed,
                    max_iter=500,
                    tol=1e-4,
                )
                s_sk = sk.fit_transform(ds.x)
            t_sk = time.perf_counter() - t
            ng = [i for i in range(c.num_sources) if not ds.gaussian[i]]
            verdict = identifiability.non_gaussianity_verdict(ours.sources)
            rows.append(
                {
                    "num_gaussian": g,
                    "algorithm": c.algorithm,
                    "seed": seed,
                    "mcc_sources_qdjax": metrics.mcc(ours.sources, ds.s).score,
                    "mcc_sources_sklearn": metrics.mcc(s_sk, ds.s).score,
                    "mcc_nongaussian_qdjax": metrics.mcc(ours.sources, ds.s[:, ng]).score
                    if ng
                    else float("nan"),
                    "mcc_nongaussian_sklearn": metrics.mcc(s_sk, ds.s[:, ng]).score
                    if ng
                    else float("nan"),
                    "mixing_mcc_qdjax": identifiability.dictionary_mcc(ours.mixing, ds.mixing).mcc,
                    "mixing_mcc_sklearn": identifiability.dictionary_mcc(sk.mixing_, ds.mixing).mcc,
                    "qdjax_vs_sklearn": identifiability.dictionary_mcc(ours.mixing, sk.mixing_).mcc,
                    "iters_qdjax": ours.num_iters,
                    "iters_sklearn": int(sk.n_iter_),
                    "seconds_qdjax": t_ours,
                    "seconds_sklearn": t_sk,
                    "verdict": verdict.to_json(),
                    "verdict_summary": verdict.summary(),
                }
            )
            print(
                f"ICA gaussian={g} seed {seed}: MCC qdjax {rows[-1]['mcc_sources_qdjax']:.3f} "
                f"sklearn {rows[-1]['mcc_sources_sklearn']:.3f} | {verdict.answer}",
                flush=True,
            )
    return rows

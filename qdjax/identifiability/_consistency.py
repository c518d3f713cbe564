"""Seed consistency of learned dictionaries: arrays in, numbers out.

- :func:`dictionary_mcc`: one-to-one matching (Hungarian, maximising total |cosine|)
  of the atoms of two dictionaries and the mean matched |cosine| (the dictionary MCC).
- :func:`seed_consistency`: for several runs (seeds), the pairwise dictionary MCC, the
  fraction of latents *shared* by a pair (matched decoder atoms and, when encoders are
  given, the matched encoder directions both with |cosine| ≥ ``threshold``), bootstrap
  confidence intervals over latents, and the fraction of latents unique to one run
  (no atom with |cosine| ≥ ``threshold`` in any other run) as the number of runs grows.

Identifiability (up to permutation and scaling) predicts that independently seeded runs
converge to the same dictionary; consistency across seeds is its observable consequence
(Paulo & Belrose 2025; Song et al. 2025). Works on dictionaries trained anywhere
(load them with ``np.load``); columns are atoms, ``[d_in, width]``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from qdjax.identifiability._coherence import as_dictionary
from qdjax.identifiability._verdict import Verdict


class DictionaryMatch(NamedTuple):
    """Hungarian matching of two dictionaries' atoms.

    Attributes:
      mcc: mean matched |cosine| over ``min(width1, width2)`` pairs.
      cosines: ``[m]`` matched |cosines| (in the order of ``rows``).
      rows: ``[m]`` atom indices in the first dictionary.
      cols: ``[m]`` matched atom indices in the second.
    """

    mcc: float
    cosines: np.ndarray
    rows: np.ndarray
    cols: np.ndarray


def abs_cosine(A, B) -> np.ndarray:
    """``|cos|`` between the columns of ``A`` ``[d, wa]`` and ``B`` ``[d, wb]``: ``[wa, wb]``."""
    A, B = as_dictionary(A, name="first dictionary"), as_dictionary(B, name="second dictionary")
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"dictionaries must share d_in; got {A.shape[0]} and {B.shape[0]}")
    out = jnp.matmul(
        jnp.asarray(A.T, jnp.float32),
        jnp.asarray(B, jnp.float32),
        precision=jax.lax.Precision.HIGHEST,
    )
    return np.abs(np.asarray(out, np.float64))


def dictionary_mcc(D1, D2) -> DictionaryMatch:
    """Mean |cosine| of the best one-to-one atom matching between ``D1`` and ``D2``."""
    c = abs_cosine(D1, D2)
    rows, cols = linear_sum_assignment(c, maximize=True)
    cos = c[rows, cols]
    return DictionaryMatch(float(np.mean(cos)), cos, rows, cols)


@dataclasses.dataclass(frozen=True)
class SeedConsistencyVerdict(Verdict):
    """Do independently seeded runs learn the same dictionary?

    ``holds`` is True when the lower confidence bound of the mean pairwise dictionary MCC
    is ≥ ``tolerance["mcc"]``, False when the upper bound is below it, None otherwise.
    """

    num_runs: int = 0
    pairwise_mcc: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    mcc_mean: float = float("nan")
    mcc_ci: tuple[float, float] = (float("nan"), float("nan"))
    shared_fraction: float = float("nan")
    shared_ci: tuple[float, float] = (float("nan"), float("nan"))
    uses_encoders: bool = False
    unique_fraction_by_runs: tuple[float, ...] = ()


def _bootstrap_mean_ci(per_pair: list[np.ndarray], num_bootstrap, confidence, rng):
    """Percentile CI of the mean over pairs of per-latent means (latents resampled)."""
    boots = np.zeros(num_bootstrap)
    for values in per_pair:
        idx = rng.integers(0, values.size, size=(num_bootstrap, values.size))
        boots += values[idx].mean(axis=1)
    boots /= len(per_pair)
    lo, hi = np.quantile(boots, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def seed_consistency(
    dictionaries: Sequence,
    *,
    encoders: Sequence | None = None,
    threshold: float = 0.7,
    mcc_threshold: float = 0.9,
    num_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> SeedConsistencyVerdict:
    """Pairwise MCC, shared fraction and unique fraction of several runs' dictionaries.

    Args:
      dictionaries: ≥ 2 arrays ``[d_in, width_r]`` (atoms as columns).
      encoders: optional, one ``[d_in, width_r]`` per run (encoder directions as columns,
        e.g. an SAE's ``W_enc``); a latent is shared only if both its decoder atom and
        its encoder direction match with |cosine| ≥ ``threshold``.
      threshold: |cosine| for "same latent" (0.7 as in the SAE consistency literature).
      mcc_threshold: mean pairwise MCC for ``holds``.
      num_bootstrap: bootstrap resamples (over latents) for the confidence intervals.
      confidence: interval coverage.
      seed: bootstrap randomness.
    """
    runs = [as_dictionary(D, name=f"dictionaries[{i}]") for i, D in enumerate(dictionaries)]
    if len(runs) < 2:
        raise ValueError(f"seed_consistency needs at least 2 dictionaries; got {len(runs)}")
    if encoders is not None:
        if len(encoders) != len(runs):
            raise ValueError(
                f"need one encoder per dictionary; got {len(encoders)} for {len(runs)}"
            )
        encs = [as_dictionary(E, name=f"encoders[{i}]") for i, E in enumerate(encoders)]
        for i, (E, D) in enumerate(zip(encs, runs)):
            if E.shape != D.shape:
                raise ValueError(
                    f"encoders[{i}] shape {E.shape} must equal its dictionary's {D.shape}"
                )
    if not 0 < threshold < 1 or not 0 < mcc_threshold <= 1 or not 0 < confidence < 1:
        raise ValueError("threshold, mcc_threshold and confidence must be in (0, 1)")
    if num_bootstrap < 10:
        raise ValueError(f"num_bootstrap must be >= 10; got {num_bootstrap}")
    rng = np.random.default_rng(seed)
    best = {}  # (i, r) -> [width_i] best |cos| of run i's atoms in run r
    mccs, cos_per_pair, shared_per_pair = [], [], []
    for i, r in itertools.combinations(range(len(runs)), 2):
        c = abs_cosine(runs[i], runs[r])
        best[i, r], best[r, i] = c.max(axis=1), c.max(axis=0)
        rows, cols = linear_sum_assignment(c, maximize=True)
        cos = c[rows, cols]
        mccs.append(float(cos.mean()))
        cos_per_pair.append(cos)
        shared = cos >= threshold
        if encoders is not None:
            enc_cos = np.abs(np.sum(encs[i][:, rows] * encs[r][:, cols], axis=0))
            shared &= enc_cos >= threshold
        shared_per_pair.append(shared.astype(np.float64))
    unique = []
    for m in range(2, len(runs) + 1):
        fr = [
            np.mean(np.max(np.stack([best[i, r] for r in range(m) if r != i]), axis=0) < threshold)
            for i in range(m)
        ]
        unique.append(float(np.mean(fr)))
    mcc_ci = _bootstrap_mean_ci(cos_per_pair, num_bootstrap, confidence, rng)
    shared_ci = _bootstrap_mean_ci(shared_per_pair, num_bootstrap, confidence, rng)
    mean = float(np.mean(mccs))
    shared = float(np.mean([s.mean() for s in shared_per_pair]))
    fields = dict(
        num_runs=len(runs),
        pairwise_mcc=np.asarray(mccs),
        mcc_mean=mean,
        mcc_ci=mcc_ci,
        shared_fraction=shared,
        shared_ci=shared_ci,
        uses_encoders=encoders is not None,
        unique_fraction_by_runs=tuple(unique),
        tolerance={"mcc": mcc_threshold, "cosine": threshold, "confidence": confidence},
    )
    ci = f"{100 * confidence:g}% CI [{mcc_ci[0]:.3f}, {mcc_ci[1]:.3f}]"
    if mcc_ci[0] >= mcc_threshold:
        holds, why = True, f"runs agree: mean pairwise MCC {mean:.3f}, {ci} >= {mcc_threshold}"
    elif mcc_ci[1] < mcc_threshold:
        holds, why = False, f"runs disagree: mean pairwise MCC {mean:.3f}, {ci} < {mcc_threshold}"
    else:
        holds, why = (
            None,
            f"cannot tell: mean pairwise MCC {mean:.3f}, {ci} straddles {mcc_threshold}",
        )
    return SeedConsistencyVerdict(holds=holds, reason=f"{why}; shared {shared:.3f}", **fields)


def plot_seed_consistency(verdict: SeedConsistencyVerdict, ax=None):
    """Unique-to-one-run fraction against the number of runs, with pairwise MCCs."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    m = np.arange(2, verdict.num_runs + 1)
    ax.plot(m, verdict.unique_fraction_by_runs, "o-", label="unique to one run")
    ax.plot(m, [verdict.mcc_mean] * m.size, "--", label=f"mean pairwise MCC {verdict.mcc_mean:.3f}")
    ax.set_xlabel("number of runs")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"seed consistency: {verdict.answer}", fontsize=9)
    ax.legend(fontsize=7)
    return ax

"""Do independently initialized runs learn the same code? (agreement of codes across runs)

Identifiability up to permutation and per-axis monotone maps (seeds 000 and 001: the grid
cells, hence the axes, are recoverable up to permutation and reversal through any
diffeomorphism) has an observable consequence that needs no ground truth: runs of the same
method on the same data, started from different initializations, that all reach the
criterion's identifying optimum learn codes that are monotone per-axis maps of one another.
Their pairwise MCC (Spearman by default, invariant to exactly those maps) is then close to 1;
a run caught in a wrong optimum (a fold, a rotation) is wrong in its own way and disagrees
with the others.

:func:`code_agreement` measures that on codes of the *same inputs* (``[n, d]`` each, rows
aligned): the pairwise MCC matrix, each run's mean agreement with the others, the *medoid*
(the run that agrees most with the rest: an unsupervised choice among restarts, in the spirit
of Duan et al.'s UDR, "Unsupervised Model Selection for Variational Disentangled
Representation Learning", ICLR 2020) and the group of runs that agree with it.

Agreement is *necessary* for identifiability in practice, not sufficient: a criterion whose
reachable optimum is a wrong code can lead every restart to the same wrong code. On the
synthetic grid task (``experiments/synthetic/README.md``, "Restarts kept by agreement") that
is what the failing seeds show: three of four IOSS or Cliff restarts agreeing at MCC ≥ 0.98
with each other on a code 0.8 or less from the truth, the one right restart the outlier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import scipy.optimize

from qdjax.identifiability._verdict import Verdict
from qdjax.metrics._mcc import abs_correlation
from qdjax.metrics._validation import as_matrix

__all__ = ["CodeAgreementVerdict", "code_agreement", "plot_code_agreement"]


@dataclasses.dataclass(frozen=True)
class CodeAgreementVerdict(Verdict):
    """Do runs started from different initializations learn the same code?

    ``holds`` is True when every pair of runs agrees (pairwise MCC ≥ ``tolerance["mcc"]``),
    False when no pair does (every run is a different code), None when some runs agree and
    others do not (the criterion may identify, but some runs missed its optimum).

    Attributes:
      num_runs: number of runs compared.
      correlation: ``"spearman"`` or ``"pearson"``.
      pairwise: ``[K, K]`` MCC between the runs' codes (1 on the diagonal).
      mean_agreement: ``[K]`` each run's mean MCC with the other runs.
      medoid: index of the run with the highest mean agreement (ties: the lowest index).
      agreeing: the runs whose MCC with the medoid is ≥ the tolerance, the medoid included.
      constant_dims: per run, its constant (dead) dimensions; they agree with nothing.
    """

    num_runs: int = 0
    correlation: str = "spearman"
    pairwise: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    mean_agreement: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    medoid: int = -1
    agreeing: tuple[int, ...] = ()
    constant_dims: tuple[tuple[int, ...], ...] = ()


def _pair_mcc(a: np.ndarray, b: np.ndarray, correlation: str) -> float:
    """MCC of two codes, the narrower one's dimensions matched into the wider one's.

    The mean is over the narrower code's dimensions, so the result does not depend on which
    code is passed first (equal widths: ``b`` is matched into ``a``, as ``mcc(a, b)`` does).
    """
    narrow, wide = (a, b) if a.shape[1] < b.shape[1] else (b, a)
    corr = abs_correlation(wide, narrow, correlation=correlation)  # [d_narrow, d_wide]
    rows, cols = scipy.optimize.linear_sum_assignment(corr, maximize=True)
    matched = np.zeros(narrow.shape[1])
    matched[rows] = corr[rows, cols]
    return float(np.mean(matched))


def code_agreement(
    codes: Sequence,
    *,
    correlation: str = "spearman",
    threshold: float = 0.95,
) -> CodeAgreementVerdict:
    r"""Pairwise MCC of several runs' codes of the same inputs, and their medoid.

    For runs :math:`r, q` with codes :math:`Z_r, Z_q \in \mathbb{R}^{n \times d}` of the
    same :math:`n` inputs, :math:`A_{rq} = \mathrm{MCC}(Z_r, Z_q)` (``qdjax.metrics.mcc``:
    Hungarian matching of latents by absolute correlation), the mean agreement
    :math:`a_r = \frac{1}{K-1} \sum_{q \ne r} A_{rq}` and the medoid :math:`\arg\max_r a_r`.

    When the widths differ, the narrower run's dimensions are matched into the wider run's
    and the MCC is their mean (the wider run's extra dimensions are left unmatched), so
    :math:`A_{rq} = A_{qr}` whatever the order of the runs. A constant (dead) dimension
    agrees with nothing: its correlation with every dimension of the other run is 0, so it
    lowers the MCC by ``1/d`` when it belongs to the narrower run (a run whose dimensions are
    all constant has MCC 0 with every run) and stays unmatched otherwise. Each run's
    constant dimensions are reported in ``constant_dims`` and named in the reason.

    Args:
      codes: ``K >= 2`` arrays ``[n, d_r]`` (rows: the same inputs in the same order; the
        widths may differ, the MCC matches the narrower one into the wider one).
      correlation: ``"spearman"`` (default: invariant to per-axis monotone maps, the
        ambiguity identifiability leaves) or ``"pearson"`` (also demands equal warps).
      threshold: pairwise MCC at which two runs count as the same code.
    """
    if correlation not in ("spearman", "pearson"):
        raise ValueError(f"correlation must be 'spearman' or 'pearson'; got {correlation!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}")
    if isinstance(codes, np.ndarray) and codes.ndim == 2:
        raise ValueError(
            "codes must be a sequence of K >= 2 codes [n, d] (one per run); got one array"
        )
    runs = [as_matrix(z, f"codes[{i}]", "[n, d]", min_rows=3) for i, z in enumerate(codes)]
    if len(runs) < 2:
        raise ValueError(f"code_agreement needs the codes of at least 2 runs; got {len(runs)}")
    n = {z.shape[0] for z in runs}
    if len(n) != 1:
        raise ValueError(
            f"every code must encode the same inputs (same number of rows); got {sorted(n)}"
        )
    k = len(runs)
    pairwise = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            pairwise[i, j] = pairwise[j, i] = _pair_mcc(runs[i], runs[j], correlation)
    mean = (pairwise.sum(axis=1) - 1.0) / (k - 1)
    medoid = int(np.argmax(mean))
    agreeing = tuple(int(r) for r in np.flatnonzero(pairwise[medoid] >= threshold))
    off = pairwise[np.triu_indices(k, 1)]
    n_agree = int(np.sum(off >= threshold))
    if n_agree == off.size:
        holds = True
        why = f"all {k} runs agree (pairwise {correlation} MCC >= {off.min():.3f})"
    elif n_agree == 0:
        holds = False
        why = f"no two of {k} runs agree (largest pairwise {correlation} MCC {off.max():.3f})"
    else:
        holds = None
        why = (
            f"{len(agreeing)} of {k} runs agree with the medoid (run {medoid}); "
            f"{n_agree} of {off.size} pairs >= {threshold}"
        )
    constant = tuple(
        tuple(int(c) for c in np.flatnonzero(np.all(z == z[:1], axis=0))) for z in runs
    )
    dead = "; ".join(f"run {r} {list(c)}" for r, c in enumerate(constant) if c)
    if dead:
        why += f"; constant dimensions, which agree with nothing: {dead}"
    return CodeAgreementVerdict(
        holds=holds,
        tolerance={"mcc": threshold},
        reason=why,
        num_runs=k,
        correlation=correlation,
        pairwise=pairwise,
        mean_agreement=mean,
        medoid=medoid,
        agreeing=agreeing,
        constant_dims=constant,
    )


def plot_code_agreement(verdict: CodeAgreementVerdict, ax=None):
    """The pairwise MCC matrix, the medoid's row outlined."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.2))
    k = verdict.num_runs
    im = ax.imshow(verdict.pairwise, vmin=0, vmax=1, cmap="viridis")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{verdict.pairwise[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.add_patch(plt.Rectangle((-0.5, verdict.medoid - 0.5), k, 1, fill=False, ec="red", lw=1.5))
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("run")
    ax.set_ylabel("run")
    ax.set_title(f"code agreement ({verdict.correlation}): {verdict.answer}", fontsize=9)
    plt.colorbar(im, ax=ax, fraction=0.046)
    return ax

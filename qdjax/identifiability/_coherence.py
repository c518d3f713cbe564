"""Coherence, babel and spark of a dictionary, and the k-sparse identifiability verdict.

Columns of ``D`` (``[d_in, width]``) are the atoms. Definitions (Donoho & Elad 2003;
Tropp 2004; Elad 2010, Ch. 2), on column-normalised atoms ``d_i``:

- mutual coherence  ``μ(D) = max_{i≠j} |⟨d_i, d_j⟩|``;
- babel function   ``μ₁(k) = max_i max_{|Λ|=k, i∉Λ} Σ_{j∈Λ} |⟨d_i, d_j⟩|``;
- spark            the smallest number of linearly dependent columns;
  ``spark ≥ 1 + 1/μ`` and ``spark > s`` whenever ``μ₁(s-1) < 1``.

Uniqueness of k-sparse codes (the seed's Claim 5.2 class, Claim C.1): ``spark(D) > 2k``.
The Donoho–Elad sufficient condition is ``k < (1 + 1/μ)/2``. :func:`k_sparse_verdict`
applies these to the *measured* per-sample L0 of a model's codes.

The Gram matrix is never materialised: column blocks of ``|D_bᵀ D|`` are reduced to
their top entries in JAX (one jitted block function), so a 768 × 16 384 dictionary needs
``block_size × width`` floats at a time, not ``width²``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qdjax.identifiability._verdict import Verdict


def as_dictionary(D, *, name: str = "D") -> np.ndarray:
    """Validates ``D`` (``[d_in, width]``, finite, no zero columns) and normalises its columns.

    A column is *zero* when its norm is at most ``1e-12`` times the largest column norm
    (relative, so a globally rescaled ``D`` gives the same result); ``D`` is first scaled by
    a power of two (exact) so the norms neither overflow nor underflow.
    """
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2:
        raise ValueError(f"{name} must be 2-D [d_in, width] with atoms as columns; got {D.shape}")
    if D.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 columns (atoms); got shape {D.shape}")
    if not np.all(np.isfinite(D)):
        raise ValueError(f"{name} contains NaN/Inf entries; check the trained dictionary")
    D = np.ldexp(D, -np.frexp(np.max(np.abs(D)))[1])  # max |entry| in [0.5, 1): exact
    norms = np.linalg.norm(D, axis=0)
    zero = np.flatnonzero(norms <= 1e-12 * np.max(norms))
    if zero.size:
        raise ValueError(
            f"{name} has {zero.size} zero column(s) (first: column {zero[0]}); "
            "drop dead atoms before checking coherence"
        )
    return D / norms


class CoherenceStats(NamedTuple):
    """Per-atom top |cosines| with other atoms (from the blocked Gram pass).

    Attributes:
      top_values: ``[width, m]`` the m largest ``|⟨d_i, d_j⟩|``, j ≠ i, descending.
      top_indices: ``[width, m]`` the corresponding j.
    """

    top_values: np.ndarray
    top_indices: np.ndarray


@jax.jit
def _block_top(block, full, offset, m_arr):
    g = jnp.abs(jnp.matmul(block.T, full, precision=jax.lax.Precision.HIGHEST))  # [b, width]
    rows = offset + jnp.arange(block.shape[1])
    g = g.at[jnp.arange(block.shape[1]), rows].set(-1.0)  # exclude i == j
    return jax.lax.top_k(g, m_arr.shape[0])


def coherence_stats(D, m: int = 1, *, block_size: int = 1024) -> CoherenceStats:
    """The ``m`` largest off-diagonal ``|cos|`` of every atom, computed in column blocks."""
    Dn = as_dictionary(D)
    width = Dn.shape[1]
    m = int(min(max(m, 1), width - 1))
    host = Dn.astype(np.float32)
    full = jnp.asarray(host)
    vals, idxs = [], []
    m_arr = jnp.zeros((m,))
    for lo in range(0, width, block_size):
        hi = min(lo + block_size, width)
        block = host[:, lo:hi]  # sliced on the host: no eager device op per block shape
        if hi - lo < block_size and width > block_size:  # pad: one compiled shape
            block = np.pad(block, ((0, 0), (0, block_size - (hi - lo))))
        v, i = _block_top(block, full, lo, m_arr)
        vals.append(np.asarray(v)[: hi - lo])
        idxs.append(np.asarray(i)[: hi - lo])
    return CoherenceStats(np.concatenate(vals), np.concatenate(idxs))


def mutual_coherence(D, *, block_size: int = 1024) -> float:
    """``μ(D) = max_{i≠j} |⟨d_i, d_j⟩| / (||d_i|| ||d_j||)`` (blocked; see module doc)."""
    return float(np.max(coherence_stats(D, 1, block_size=block_size).top_values[:, 0]))


def babel(D, k: int, *, block_size: int = 1024) -> float:
    """Tropp's babel function ``μ₁(k)``: worst summed |cos| of an atom with k others."""
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    width = np.shape(D)[1] if np.ndim(D) == 2 else 0
    if width and k > width - 1:
        raise ValueError(f"k must be <= width - 1 ({width - 1}); got {k}")
    stats = coherence_stats(D, k, block_size=block_size)
    return float(np.max(np.sum(stats.top_values[:, :k], axis=1)))


def _min_singular(D: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    """Smallest singular value of ``D[:, subset]`` for each row of ``subsets``."""
    mats = np.transpose(D[:, subsets], (1, 0, 2))  # [n, d, s]
    return np.linalg.svd(mats, compute_uv=False)[:, -1]


def spark(D, *, tol: float = 1e-6, max_subsets: int = 1_000_000) -> float:
    """Exact spark by exhaustive search (NP-hard: tiny matrices only).

    Returns the smallest s such that some s (normalised) columns have smallest singular
    value ≤ ``tol``; ``math.inf`` if no subset is dependent (full column rank).

    Raises:
      ValueError: when more than ``max_subsets`` column subsets would be examined (the
        message names the cheap bound to use instead), or on a malformed ``D``.
    """
    Dn = as_dictionary(D)
    d_in, width = Dn.shape
    s_max = min(d_in, width)
    total = sum(math.comb(width, s) for s in range(1, s_max + 1))
    if total > max_subsets:
        raise ValueError(
            f"exact spark of a {d_in}x{width} dictionary examines {total:.3g} column subsets "
            f"(> max_subsets={max_subsets}); use 1 + 1/mutual_coherence(D) as a lower bound "
            "or raise max_subsets"
        )
    for s in range(2, s_max + 1):
        for chunk in _chunks(itertools.combinations(range(width), s), 4096):
            if np.any(_min_singular(Dn, np.asarray(chunk)) <= tol):
                return float(s)
    return float(d_in + 1) if width > d_in else math.inf


def _chunks(it, n):
    while chunk := list(itertools.islice(it, n)):
        yield chunk


def dependent_subset(
    D, max_size: int, *, tol: float = 0.1, neighbors: int = 8, stats: CoherenceStats | None = None
) -> tuple[tuple[int, ...], float] | None:
    """Searches for ≤ ``max_size`` nearly dependent columns among coherent neighbourhoods.

    For every atom i and size s, tests ``{i} ∪`` (s-1 of its ``neighbors`` most coherent
    atoms) and returns the first smallest subset whose normalised columns have smallest
    singular value ≤ ``tol`` (a certificate that ``spark ≤ s`` up to ``tol``), with that
    singular value; ``None`` if none is found (which proves nothing).
    """
    Dn = as_dictionary(D)
    width = Dn.shape[1]
    neighbors = min(neighbors, width - 1)
    if stats is None or stats.top_indices.shape[1] < neighbors:
        stats = coherence_stats(Dn, neighbors)
    nb = stats.top_indices[:, :neighbors]
    atoms = np.arange(width)[:, None]
    for s in range(2, min(max_size, neighbors + 1, Dn.shape[0] + 1) + 1):
        combos = list(itertools.combinations(range(neighbors), s - 1))[:64]
        for combo in combos:
            subsets = np.concatenate([atoms, nb[:, combo]], axis=1)
            for lo in range(0, width, 512):
                sig = _min_singular(Dn, subsets[lo : lo + 512])
                hit = np.flatnonzero(sig <= tol)
                if hit.size:
                    j = hit[np.argmin(sig[hit])]
                    return tuple(int(a) for a in subsets[lo + j]), float(sig[j])
    return None


@dataclasses.dataclass(frozen=True)
class SparseCodeVerdict(Verdict):
    """Identifiable within the k-sparse linear class (seed Claim 5.2), on measured L0.

    ``k`` is the measured L0 used (the ``l0_quantile`` of per-sample L0). ``rule`` names
    what decided: ``"exact spark"``, ``"coherence"`` (Donoho–Elad: k < (1 + 1/μ)/2),
    ``"babel"`` (μ₁(2k-1) < 1 ⇒ spark > 2k), ``"dependent subset"`` (a witness of ≤ 2k
    nearly dependent atoms), ``"dimension"`` (2k ≥ d_in + 1 ≥ spark) or ``"none"``.
    """

    k: int = 0
    rule: str = "none"
    mu: float = float("nan")
    donoho_elad_bound: float = float("nan")
    spark_lower_bound: float = float("nan")
    babel_2k_minus_1: float = float("nan")
    spark_exact: float | None = None
    witness: tuple[int, ...] | None = None
    witness_sigma_min: float | None = None
    l0_mean: float = float("nan")
    l0_max: int = 0
    fraction_within_donoho_elad: float = float("nan")
    l0_histogram: tuple[int, ...] = ()
    d_in: int = 0
    width: int = 0
    num_unused_excluded: int = 0


def measured_l0(codes, *, active_tol: float = 1e-6) -> np.ndarray:
    """Per-sample number of codes with ``|z| > active_tol`` (``codes``: ``[n, width]``).

    Raises:
      ValueError: when ``codes`` is not 2-D or holds NaN/Inf (a NaN is neither active nor
        inactive, so it would silently be counted as inactive).
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D [samples, width]; got shape {codes.shape}")
    if not np.all(np.isfinite(codes)):
        bad = np.flatnonzero(~np.all(np.isfinite(codes), axis=1))
        raise ValueError(
            f"codes has {bad.size} row(s) with NaN/Inf (first: row {bad[0]}); "
            "drop those samples or fix the encoder"
        )
    return np.sum(np.abs(codes) > active_tol, axis=1)


def _as_l0(l0) -> np.ndarray:
    """Per-sample L0 ``[n]`` as ints, non-integer counts rounded up (raises on bad values)."""
    l0 = np.asarray(l0)
    if not (np.issubdtype(l0.dtype, np.number) or l0.dtype == np.bool_) or np.iscomplexobj(l0):
        raise ValueError(f"l0 must hold real per-sample counts; got dtype {l0.dtype}")
    l0 = l0.astype(np.float64).reshape(-1)
    if l0.size == 0:
        raise ValueError("need at least one sample's L0")
    if not np.all(np.isfinite(l0)) or np.any(l0 < 0):
        bad = np.flatnonzero(~(np.isfinite(l0) & (l0 >= 0)))
        raise ValueError(
            f"l0 must be finite counts >= 0; got {bad.size} bad value(s) (first: l0[{bad[0]}] "
            f"= {l0[bad[0]]}); drop those samples"
        )
    return np.ceil(l0).astype(np.int64)


def k_sparse_verdict(
    D,
    codes=None,
    *,
    l0=None,
    active_tol: float = 1e-6,
    l0_quantile: float = 1.0,
    dependence_tol: float = 0.1,
    max_exact_subsets: int = 200_000,
    exclude_unused: bool = True,
    block_size: int = 1024,
) -> SparseCodeVerdict:
    """ "Identifiable within the k-sparse linear class: yes / no / cannot tell, because …".

    Args:
      D: dictionary ``[d_in, width]`` (atoms as columns), e.g. ``sae.dictionary``.
      codes: the model's codes ``[n, width]`` on data (L0 is measured from them), or
      l0: per-sample L0 counts ``[n]`` directly (finite, ``>= 0``); non-integer counts
        (e.g. averaged over tokens) are rounded *up*, so ``k = ceil(L0)`` and the uniqueness
        condition ``spark > 2k`` is never granted to a code with more than ``k`` atoms.
      active_tol: a code entry counts as active when ``|z| > active_tol``.
      l0_quantile: k = this quantile of per-sample L0 (1.0: the maximum).
      dependence_tol: smallest singular value below which a column subset counts as
        dependent (witness search and exact spark on learned, noisy atoms).
      max_exact_subsets: exact spark is attempted when it needs at most this many subsets.
      exclude_unused: with ``codes``, drop atoms never active on the data (dead latents
        play no part in the codes being identified); their number is reported.
    """
    Dn = as_dictionary(D)
    d_in, width = Dn.shape
    if (codes is None) == (l0 is None):
        raise ValueError("pass exactly one of codes=[n, width] or l0=[n]")
    excluded, keep = 0, np.arange(width)
    if codes is not None:
        if np.shape(codes)[-1] != width:
            raise ValueError(
                f"codes must have {width} columns (one per atom); got {np.shape(codes)}"
            )
        l0 = measured_l0(codes, active_tol=active_tol)
        if exclude_unused:
            used = np.any(np.abs(np.asarray(codes)) > active_tol, axis=0)
            if used.sum() >= 2:
                excluded, keep = int(width - used.sum()), np.flatnonzero(used)
                Dn = Dn[:, used]
                d_in, width = Dn.shape
    l0 = _as_l0(l0)
    if not 0.0 < l0_quantile <= 1.0:
        raise ValueError(f"l0_quantile must be in (0, 1]; got {l0_quantile}")
    k = int(np.ceil(np.quantile(l0, l0_quantile, method="higher")))
    tol = {"active": active_tol, "l0_quantile": l0_quantile, "dependence": dependence_tol}
    m = int(min(max(2 * k - 1, 8), width - 1))
    stats = coherence_stats(Dn, m, block_size=block_size)
    mu = float(np.max(stats.top_values[:, 0]))
    de = (1.0 + 1.0 / max(mu, 1e-12)) / 2.0
    bab = float(np.max(np.sum(stats.top_values[:, : max(2 * k - 1, 1)], axis=1))) if k else 0.0
    common = dict(
        k=k,
        mu=mu,
        donoho_elad_bound=de,
        spark_lower_bound=2 * de,
        babel_2k_minus_1=bab,
        l0_mean=float(np.mean(l0)),
        l0_max=int(np.max(l0)),
        fraction_within_donoho_elad=float(np.mean(l0 < de)),
        l0_histogram=tuple(int(c) for c in np.bincount(l0)),
        d_in=d_in,
        width=width,
        num_unused_excluded=excluded,
        tolerance=tol,
    )
    if k == 0:
        return SparseCodeVerdict(
            holds=None,
            rule="none",
            reason="all codes are zero (L0 = 0): nothing to identify",
            **common,
        )
    total = sum(math.comb(width, s) for s in range(1, min(d_in, width) + 1))
    if total <= max_exact_subsets:
        sp = spark(Dn, tol=dependence_tol, max_subsets=max_exact_subsets)
        ok = sp > 2 * k
        return SparseCodeVerdict(
            holds=ok,
            rule="exact spark",
            spark_exact=sp,
            reason=f"exact spark {sp:g} {'>' if ok else '<='} 2k = {2 * k} (k = measured L0)",
            **common,
        )
    if k < de:
        return SparseCodeVerdict(
            holds=True,
            rule="coherence",
            reason=f"measured L0 k = {k} < (1 + 1/mu)/2 = {de:.3g} (mu = {mu:.3g}): "
            "Donoho-Elad certifies spark > 2k",
            **common,
        )
    if bab < 1.0:
        return SparseCodeVerdict(
            holds=True,
            rule="babel",
            reason=f"babel mu1(2k-1) = {bab:.3g} < 1 certifies spark > 2k = {2 * k}",
            **common,
        )
    found = dependent_subset(Dn, 2 * k, tol=dependence_tol, stats=stats)
    if found is not None:
        idx, sig = found
        idx = tuple(int(keep[i]) for i in idx)  # indices into the caller's D
        return SparseCodeVerdict(
            holds=False,
            rule="dependent subset",
            witness=idx,
            witness_sigma_min=sig,
            reason=f"atoms {list(idx)} are nearly dependent (sigma_min {sig:.3g} <= "
            f"{dependence_tol}): spark <= {len(idx)} <= 2k = {2 * k}",
            **common,
        )
    if 2 * k >= d_in + 1:
        return SparseCodeVerdict(
            holds=False,
            rule="dimension",
            reason=f"2k = {2 * k} >= d_in + 1 = {d_in + 1} >= spark: k-sparse codes not unique",
            **common,
        )
    return SparseCodeVerdict(
        holds=None,
        rule="none",
        reason=f"cannot tell: k = {k} >= (1 + 1/mu)/2 = {de:.3g}, babel mu1(2k-1) = {bab:.3g} "
        ">= 1, no dependent subset found and exact spark is too expensive",
        **common,
    )


def plot_k_sparse(verdict: SparseCodeVerdict, ax=None):
    """Histogram of measured per-sample L0 with the Donoho–Elad bound and spark/2."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    counts = np.asarray(verdict.l0_histogram)
    ax.bar(np.arange(counts.size), counts, color="0.6", label="samples")
    ax.axvline(verdict.donoho_elad_bound, color="C0", ls="--", label="(1 + 1/mu)/2")
    if verdict.spark_exact is not None and math.isfinite(verdict.spark_exact):
        ax.axvline(verdict.spark_exact / 2, color="C2", ls=":", label="spark / 2")
    ax.axvline(verdict.k, color="C3", label=f"k used = {verdict.k}")
    ax.set_xlabel("L0 per sample")
    ax.set_ylabel("count")
    ax.set_title(f"k-sparse identifiable: {verdict.answer} ({verdict.rule})", fontsize=9)
    ax.legend(fontsize=7)
    return ax

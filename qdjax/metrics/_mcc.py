"""Mean correlation coefficient (MCC) between ground-truth factors and codes."""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import scipy.optimize
import scipy.stats

from qdjax.metrics._validation import as_codes_and_factors, check_factors_vary


class MCCResult(NamedTuple):
    """Result of `mcc`.

    Attributes:
        score: mean absolute correlation over the matched (factor, latent) pairs, times `scale`.
            With `batch_size`, the mean of the per-chunk scores.
        per_factor: `[num_factors]` matched |correlation| of each factor times `scale` (0 for a
            factor left unmatched when `num_latents < num_factors`). With `batch_size`, the mean
            over chunks.
        assignment: `[num_factors]` int index of the latent matched to each factor, -1 if none.
            With `batch_size`, the assignment computed on the full data.
        correlation_matrix: `[num_factors, num_latents]` absolute correlations on the full data
            (not scaled).
    """

    score: float
    per_factor: np.ndarray
    assignment: np.ndarray
    correlation_matrix: np.ndarray


def abs_correlation(
    z: np.ndarray, s: np.ndarray, *, correlation: Literal["pearson", "spearman"] = "pearson"
) -> np.ndarray:
    """Absolute correlation between every factor and every latent.

    Args:
        z: `[n, num_latents]` float codes (already validated).
        s: `[n, num_factors]` float factors (already validated).
        correlation: "pearson" or "spearman" (Pearson on average ranks, ties averaged).

    Returns:
        `[num_factors, num_latents]` array of |corr| in [0, 1]; a constant column gives 0.
    """
    if correlation == "spearman":
        z = scipy.stats.rankdata(z, axis=0)
        s = scipy.stats.rankdata(s, axis=0)
    elif correlation != "pearson":
        raise ValueError(f"correlation must be 'pearson' or 'spearman'; got {correlation!r}")
    zc = z - z.mean(axis=0)
    sc = s - s.mean(axis=0)
    z_norm = np.sqrt(np.sum(zc * zc, axis=0))
    s_norm = np.sqrt(np.sum(sc * sc, axis=0))
    cov = sc.T @ zc
    denom = np.outer(s_norm, z_norm)
    # A column is treated as constant if its spread is at floating-point noise level.
    z_const = z_norm <= 1e-12 * np.maximum(1.0, np.abs(z).max(axis=0)) * np.sqrt(len(z))
    s_const = s_norm <= 1e-12 * np.maximum(1.0, np.abs(s).max(axis=0)) * np.sqrt(len(s))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.abs(cov) / denom
    corr[s_const, :] = 0.0
    corr[:, z_const] = 0.0
    return np.clip(np.nan_to_num(corr, nan=0.0), 0.0, 1.0)


def _match(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one factor->latent matching maximizing total |corr|; unmatched factors get 0, -1."""
    rows, cols = scipy.optimize.linear_sum_assignment(corr, maximize=True)
    per_factor = np.zeros(corr.shape[0])
    assignment = np.full(corr.shape[0], -1, dtype=np.int64)
    per_factor[rows] = corr[rows, cols]
    assignment[rows] = cols
    return per_factor, assignment


def mcc(
    z,
    s,
    *,
    correlation: Literal["pearson", "spearman"] = "pearson",
    scale: float = 1.0,
    batch_size: int | None = None,
) -> MCCResult:
    r"""Mean correlation coefficient between factors and their best-matched latents.

    With :math:`C_{ij} = |\mathrm{corr}(s_i, z_j)|` (Pearson, or Spearman = Pearson on ranks),
    a one-to-one assignment :math:`\pi` of factors to latents maximising
    :math:`\sum_i C_{i\pi(i)}` is found with `scipy.optimize.linear_sum_assignment`, and

    .. math:: \mathrm{MCC} = \mathrm{scale} \cdot \frac{1}{F} \sum_{i=1}^{F} C_{i\pi(i)}.

    If `num_latents > num_factors` the unmatched latents are ignored; if
    `num_latents < num_factors` the unmatched factors contribute 0 (the mean is still over all
    `num_factors`). A constant column (latent or factor) has correlation 0, not NaN.
    Invariant to latent permutation, sign flips and affine rescaling (Pearson) or any strictly
    monotone warp of each latent (Spearman). Deterministic (no randomness).

    Accepts continuous or integer factors and codes (both treated as real numbers).

    Args:
        z: codes, `[n, num_latents]`.
        s: ground-truth factors, `[n, num_factors]`, continuous or integer.
        correlation: "pearson" (default) or "spearman".
        scale: multiplies `score` and `per_factor`; `scale=100.0` gives the 0-100 scale of
            Hyvarinen & Morioka and Khemakhem et al.
        batch_size: if given, the MCC (with its own matching) is computed on consecutive chunks of
            `batch_size` rows and `score`/`per_factor` are averaged over chunks (the per-batch
            MCC some papers report). A last chunk shorter than 2 rows is dropped.

    Returns:
        An `MCCResult(score, per_factor, assignment, correlation_matrix)`.

    References:
        Hyvarinen & Morioka, "Unsupervised Feature Extraction by Time-Contrastive Learning and
        Nonlinear ICA", NeurIPS 2016. Khemakhem et al., "Variational Autoencoders and Nonlinear
        ICA: A Unifying Framework", AISTATS 2020.

    Example:
        >>> import numpy as np
        >>> s = np.random.default_rng(0).normal(size=(100, 2))
        >>> round(mcc(-3.0 * s[:, ::-1], s).score, 6)
        1.0
    """
    z, s = as_codes_and_factors(z, s)
    check_factors_vary(s)
    corr = abs_correlation(z, s, correlation=correlation)
    per_factor, assignment = _match(corr)
    if batch_size is not None:
        if int(batch_size) < 2:
            raise ValueError(f"batch_size must be an int >= 2 or None; got {batch_size!r}")
        batch_size = int(batch_size)
        chunks = []
        for start in range(0, len(z), batch_size):
            stop = min(start + batch_size, len(z))
            if stop - start < 2:
                continue
            c = abs_correlation(z[start:stop], s[start:stop], correlation=correlation)
            chunks.append(_match(c)[0])
        per_factor = np.mean(chunks, axis=0)
    per_factor = scale * per_factor
    return MCCResult(
        score=float(np.mean(per_factor)),
        per_factor=per_factor,
        assignment=assignment,
        correlation_matrix=corr,
    )

"""Mutual information gap (MIG)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qdjax.metrics._mutual_info import (
    discrete_entropy,
    discrete_mutual_info,
    discretize,
    discretize_factors,
)
from qdjax.metrics._validation import as_codes_and_factors, check_factors_vary


class MIGResult(NamedTuple):
    """Result of `mig`.

    Attributes:
        score: mean over factors of the normalized gap, in [0, 1].
        per_factor: `[num_factors]` normalized gap of each factor.
        mutual_info: `[num_latents, num_factors]` discrete mutual information in nats.
        factor_entropy: `[num_factors]` entropy of each (discretized) factor in nats.
    """

    score: float
    per_factor: np.ndarray
    mutual_info: np.ndarray
    factor_entropy: np.ndarray


def mutual_info_gap(mutual_info, factor_entropy) -> np.ndarray:
    """Per-factor gap between the top two latents' MI, divided by the factor's entropy.

    Args:
        mutual_info: `[num_latents, num_factors]` MI in nats.
        factor_entropy: `[num_factors]` entropies in nats (positive).

    Returns:
        `[num_factors]` (top1 - top2) / H(factor); with one latent the second MI is 0.
    """
    mi = np.sort(np.asarray(mutual_info, dtype=np.float64), axis=0)[::-1]
    second = mi[1] if mi.shape[0] > 1 else np.zeros(mi.shape[1])
    return (mi[0] - second) / np.asarray(factor_entropy, dtype=np.float64)


def mig(z, s, *, num_bins: int = 20, discrete_factors: bool | None = None) -> MIGResult:
    r"""Mutual information gap (Chen et al., 2018) as in disentanglement_lib.

    Each code column is discretized into `num_bins` equal-width bins over its observed range
    with disentanglement_lib's edges and `np.digitize` rule (`qdjax.metrics.discretize`), the
    plug-in discrete mutual information
    :math:`I(z_j; s_k)` (nats) is computed for every code/factor pair, and

    .. math:: \mathrm{MIG} = \frac{1}{K} \sum_{k=1}^{K}
        \frac{I(z_{j^{(1)}}; s_k) - I(z_{j^{(2)}}; s_k)}{H(s_k)}

    where :math:`j^{(1)}, j^{(2)}` are the codes with the largest and second largest MI with
    factor :math:`k`. Factors: integer classes are used as they are (label-encoded); continuous
    factors are discretized into `num_bins` equal-width bins like the codes (`discrete_factors`
    controls this; default: integer-valued columns are classes, others are binned).

    Invariant to permutation, sign flips and strictly monotone warps of the codes up to binning
    effects (equal-width bins of a nonlinear warp are not the same partition, so warps change
    the value slightly). A duplicated code gives that factor a gap of 0 (penalized). With one
    code the second MI is taken as 0. Deterministic.

    Args:
        z: codes, `[n, num_latents]`, continuous or discrete.
        s: ground-truth factors, `[n, num_factors]`, integer classes or continuous.
        num_bins: equal-width bins per code (and per continuous factor).
        discrete_factors: True: all factors are classes; False: bin all factors; None: auto.

    Returns:
        `MIGResult(score, per_factor, mutual_info, factor_entropy)`.

    Raises:
        ValueError: on malformed input or a constant factor (zero entropy; drop it).

    References:
        Chen et al., "Isolating Sources of Disentanglement in Variational Autoencoders",
        NeurIPS 2018. Locatello et al., "Challenging Common Assumptions in the Unsupervised
        Learning of Disentangled Representations", ICML 2019 (disentanglement_lib).
    """
    z, s = as_codes_and_factors(z, s)
    check_factors_vary(s)
    z_labels = discretize(z, num_bins=num_bins)
    s_labels = discretize_factors(s, discrete=discrete_factors, num_bins=num_bins)
    entropy = discrete_entropy(s_labels)
    if np.any(entropy <= 0):
        bad = np.flatnonzero(entropy <= 0).tolist()
        raise ValueError(f"factors {bad} of s are constant (zero entropy); drop those columns")
    mi = discrete_mutual_info(z_labels, s_labels)
    per_factor = mutual_info_gap(mi, entropy)
    return MIGResult(float(np.mean(per_factor)), per_factor, mi, entropy)

"""InfoMEC: InfoM (modularity), InfoE (explicitness), InfoC (compactness) (Hsu et al., 2023)."""

from __future__ import annotations

import warnings
from typing import Literal, NamedTuple

import numpy as np

from qdjax.metrics._mutual_info import (
    discrete_entropy,
    discrete_mutual_info,
    discretize,
    encode_labels,
)
from qdjax.metrics._validation import as_codes_and_factors, as_int_labels, check_factors_vary


class InfoMECResult(NamedTuple):
    """Result of `infomec`.

    Attributes:
        infom: modularity in [0, 1].
        infoe: explicitness (normalized predictive information by default) in [0, 1].
        infoc: compactness in [0, 1].
        nmi: `[num_factors, num_latents]` normalized mutual information I(s_i; z_j) / H(s_i).
        active_latents: `[num_latents]` bool mask of the latents used by InfoM and InfoC.
        infoe_per_factor: `[num_factors]` explicitness of each factor.
    """

    infom: float
    infoe: float
    infoc: float
    nmi: np.ndarray
    active_latents: np.ndarray
    infoe_per_factor: np.ndarray


def _ratio_score(nmi: np.ndarray, axis: int) -> float:
    """Mean over the other axis of max/sum along `axis`, rescaled so chance (1/m) is 0.

    An entry whose NMI is all zero along `axis` has no preference and scores 0; with m = 1 a
    positive entry scores 1.
    """
    m = nmi.shape[axis]
    total = nmi.sum(axis=axis)
    if total.size == 0:
        return 0.0
    if m == 1:
        return float(np.mean(total > 0))
    ratio = np.divide(nmi.max(axis=axis), total, out=np.full(total.shape, 1.0 / m), where=total > 0)
    return float(np.mean((ratio - 1.0 / m) / (1.0 - 1.0 / m)))


def infom_infoc_from_nmi(nmi, active_latents=None) -> tuple[float, float]:
    r"""InfoM and InfoC from an NMI matrix `[num_factors, num_latents]`.

    Over the active latents (L of them) and the K factors:
    :math:`\mathrm{InfoM} = \frac{\overline{\max_i \mathrm{NMI}_{ij} / \sum_i \mathrm{NMI}_{ij}}
    - 1/K}{1 - 1/K}` (mean over active latents j) and
    :math:`\mathrm{InfoC} = \frac{\overline{\max_j \mathrm{NMI}_{ij} / \sum_j \mathrm{NMI}_{ij}}
    - 1/L}{1 - 1/L}` (mean over factors i). An all-zero row/column scores 0 (chance); with no
    active latent both are 0; with K = 1 (L = 1) a latent (factor) with positive NMI scores 1.

    Args:
        nmi: `[num_factors, num_latents]` non-negative normalized mutual information.
        active_latents: optional `[num_latents]` bool mask; default all latents.

    Returns:
        `(infom, infoc)`.
    """
    nmi = np.asarray(nmi, dtype=np.float64)
    if active_latents is not None:
        nmi = nmi[:, np.asarray(active_latents, dtype=bool)]
    if nmi.shape[1] == 0:
        return 0.0, 0.0
    return _ratio_score(nmi, axis=0), _ratio_score(nmi, axis=1)


def _active_latents(z: np.ndarray, nmi: np.ndarray, rule: str, threshold: float | None):
    if rule == "range":
        ranges = z.max(axis=0) - z.min(axis=0)
        t = 1.0 / 20.0 if threshold is None else threshold
        return ranges > t * ranges.max() if ranges.max() > 0 else np.zeros(len(ranges), bool)
    if rule == "variance":
        var = z.var(axis=0)
        t = 1.0 / 400.0 if threshold is None else threshold
        return var > t * var.max() if var.max() > 0 else np.zeros(len(var), bool)
    if rule == "nmi":
        t = 0.05 if threshold is None else threshold
        return nmi.sum(axis=0) > t
    if rule == "all":
        return np.ones(z.shape[1], dtype=bool)
    raise ValueError(f"active_rule must be 'range', 'variance', 'nmi' or 'all'; got {rule!r}")


def _logistic_nll_and_bacc(x: np.ndarray, y: np.ndarray, class_weight, max_iter: int, seed: int):
    """Fits an unpenalized multinomial logistic regression; returns (train NLL nats, bal. acc)."""
    # scikit-learn is imported where it is used: importing it costs ~1 s at every CLI start
    from sklearn import exceptions, linear_model, metrics

    model = linear_model.LogisticRegression(
        C=np.inf, class_weight=class_weight, max_iter=max_iter, random_state=seed
    )
    with warnings.catch_warnings():
        # Separable data (perfect codes) makes the unpenalized optimum infinite: lbfgs stops at
        # max_iter with an NLL near 0, which is the right limit; the warning is expected.
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        model.fit(x, y)
    proba = model.predict_proba(x)
    nll = metrics.log_loss(y, proba, labels=model.classes_)
    bacc = metrics.balanced_accuracy_score(y, model.classes_[np.argmax(proba, axis=1)])
    return nll, bacc


def infomec(
    z,
    s,
    *,
    discrete_latents: bool = False,
    mi_estimator: Literal["ksg", "binned"] = "ksg",
    num_bins: int = 20,
    n_neighbors: int = 10,
    active_rule: Literal["range", "variance", "nmi", "all"] = "range",
    active_threshold: float | None = None,
    infoe: Literal["nll", "balanced_accuracy"] = "nll",
    class_weight: Literal["balanced"] | None = "balanced",
    max_iter: int = 100,
    seed: int = 0,
) -> InfoMECResult:
    r"""InfoMEC: information-theoretic modularity, explicitness and compactness (QLAE paper).

    **NMI.** Factors are integer classes (label-encoded). :math:`\mathrm{NMI}_{ij} =
    I(s_i; z_j) / H(s_i)` with entropies in nats. Continuous latents (default) are standardized
    and I is estimated by the KSG nearest-neighbour estimator
    (`sklearn.feature_selection.mutual_info_classif`, `n_neighbors=10`,
    `random_state=seed`, so deterministic) or, with `mi_estimator="binned"`, by the plug-in
    estimator on `num_bins` equal-width bins (faster, biased upwards for small n).
    `discrete_latents=True` (quantized codes) uses the plug-in estimator on the distinct values.

    **Active latents** (`active_rule`): "range" (default, the reference): a latent is active if
    its range exceeds `active_threshold` (default 1/20) times the largest range (for discrete
    latents: a range > 0); "variance": variance > threshold (default 1/400) times the largest;
    "nmi": column sum of NMI > threshold (default 0.05); "all".

    **InfoM / InfoC** (`infom_infoc_from_nmi`): mean over active latents of
    :math:`\max_i \mathrm{NMI}_{ij} / \sum_i \mathrm{NMI}_{ij}`, rescaled by
    :math:`(r - 1/K)/(1 - 1/K)`; InfoC the same over factors across the L active latents with
    baseline 1/L.

    **InfoE.** Per factor an unpenalized multinomial logistic regression (lbfgs, `max_iter`,
    `class_weight="balanced"` as in the reference) is fitted on all latents, standardized
    (continuous) or one-hot encoded (discrete), and evaluated on the same data.
    `infoe="nll"` (default, the reference): :math:`1 - \mathrm{NLL}/H_0`, the normalized
    predictive information, where NLL is the mean training log loss (nats) and :math:`H_0` the
    log loss of the best constant predictor under the same class weighting: :math:`\log C`
    (C classes) with balanced weights, the empirical entropy :math:`H(s_i)` without. Clipped to
    [0, 1]. `infoe="balanced_accuracy"`: :math:`(\mathrm{bacc} - 1/C)/(1 - 1/C)`.

    Invariant to permutation of latents and, for the NMI, to strictly monotone warps and sign
    flips (KSG only approximately; standardization removes scale); InfoE is linear and so not
    warp invariant. A duplicated latent splits its factor's NMI, lowering InfoC (penalized);
    InfoM is unaffected by duplication. Constant codes are inactive (InfoM = InfoC = 0, InfoE
    = 0). For pure-noise codes InfoE is near 0, but InfoM/InfoC are ratios of estimation noise
    and need not be (KSG estimates are clipped at 0, so a noise latent with a single positive
    estimate has ratio 1): read InfoM/InfoC together with InfoE. Deterministic given `seed`.

    Args:
        z: codes `[n, num_latents]`, continuous or discrete (see `discrete_latents`).
        s: factors `[n, num_factors]`, integer classes (bin continuous factors first with
            `qdjax.metrics.discretize`).
        discrete_latents: treat each distinct code value as a category.
        mi_estimator: "ksg" (default) or "binned", for continuous latents (validated even
            when `discrete_latents=True`). KSG needs every factor to have a class with at
            least 2 samples (a ValueError otherwise).
        num_bins: bins for `mi_estimator="binned"`.
        n_neighbors: KSG neighbours (reference: 10).
        active_rule: "range" (default), "variance", "nmi" or "all".
        active_threshold: threshold of the rule (defaults above).
        infoe: "nll" (default) or "balanced_accuracy".
        class_weight: "balanced" (default, reference) or None for the logistic regressions.
        max_iter: lbfgs iterations (reference: 100).
        seed: seeds KSG jitter and the solver.

    Returns:
        `InfoMECResult(infom, infoe, infoc, nmi, active_latents, infoe_per_factor)`.

    References:
        Hsu, Dorrell, Whittington, Wu & Finn, "Disentanglement via Latent Quantization",
        NeurIPS 2023 (kylehkhsu/latent_quantization `disentangle/metrics/infomec.py`).
        Kraskov, Stoegbauer & Grassberger, "Estimating mutual information", Phys. Rev. E 2004.
    """
    if mi_estimator not in ("ksg", "binned"):
        # checked up front: with discrete_latents=True the estimator is not used, but a typo
        # must not pass silently
        raise ValueError(f"mi_estimator must be 'ksg' or 'binned'; got {mi_estimator!r}")
    if infoe not in ("nll", "balanced_accuracy"):
        raise ValueError(f"infoe must be 'nll' or 'balanced_accuracy'; got {infoe!r}")
    if int(n_neighbors) < 1:
        raise ValueError(f"n_neighbors must be >= 1; got {n_neighbors}")
    z, s = as_codes_and_factors(z, s)
    check_factors_vary(s)
    s_labels = encode_labels(as_int_labels(s, "s"))
    entropy = discrete_entropy(s_labels)
    if np.any(entropy <= 0):
        bad = np.flatnonzero(entropy <= 0).tolist()
        raise ValueError(f"factors {bad} of s are constant (zero entropy); drop those columns")
    num_factors = s.shape[1]
    if not discrete_latents and mi_estimator == "ksg":
        # sklearn's KSG estimator drops the samples of singleton classes; a factor with no
        # repeated class leaves it no sample at all
        repeated = [np.bincount(s_labels[:, i]).max() >= 2 for i in range(num_factors)]
        if not all(repeated):
            bad = [i for i, ok in enumerate(repeated) if not ok]
            raise ValueError(
                f"infomec: too few samples (n={s.shape[0]}) for the KSG estimator: factors {bad} "
                "have no class with at least 2 samples (KSG drops singleton classes); pass more "
                "samples, or use mi_estimator='binned' or discrete_latents=True"
            )

    from sklearn import feature_selection, preprocessing

    if discrete_latents:
        z_labels = encode_labels(z)
        mi = discrete_mutual_info(s_labels, z_labels)
        # sparse one-hot design (CSR, one nonzero per latent and row): the same fit as the
        # dense design, without materializing [n, sum of distinct values] (as the reference)
        x = preprocessing.OneHotEncoder(sparse_output=True).fit_transform(z_labels).tocsr()
    else:
        x = preprocessing.StandardScaler().fit_transform(z)
        if mi_estimator == "ksg":
            mi = np.stack(
                [
                    feature_selection.mutual_info_classif(
                        x,
                        s_labels[:, i],
                        discrete_features=False,
                        n_neighbors=n_neighbors,
                        random_state=seed,
                    )
                    for i in range(num_factors)
                ]
            )
        else:
            mi = discrete_mutual_info(s_labels, discretize(z, num_bins=num_bins))
    nmi = np.clip(mi / entropy[:, None], 0.0, None)

    if discrete_latents and active_rule == "range" and active_threshold is None:
        ranges = z.max(axis=0) - z.min(axis=0)
        active = ranges > 0
    else:
        active = _active_latents(z, nmi, active_rule, active_threshold)
    infom, infoc = infom_infoc_from_nmi(nmi, active)

    per_factor = np.empty(num_factors)
    for i in range(num_factors):
        y = s_labels[:, i]
        counts = np.bincount(y)
        counts = counts[counts > 0]
        num_classes = counts.size
        nll, bacc = _logistic_nll_and_bacc(x, y, class_weight, max_iter, seed)
        if infoe == "nll":
            h0 = np.log(num_classes) if class_weight == "balanced" else entropy[i]
            per_factor[i] = np.clip(1.0 - nll / h0, 0.0, 1.0)
        else:
            per_factor[i] = np.clip((bacc - 1.0 / num_classes) / (1.0 - 1.0 / num_classes), 0, 1)
    return InfoMECResult(
        infom=infom,
        infoe=float(np.mean(per_factor)),
        infoc=infoc,
        nmi=nmi,
        active_latents=active,
        infoe_per_factor=per_factor,
    )

"""Separated attribute predictability (SAP)."""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from qdjax.metrics._mcc import abs_correlation
from qdjax.metrics._mutual_info import encode_labels, is_classification
from qdjax.metrics._validation import (
    check_factors_vary,
    standardize_splits,
    train_test_arrays,
)


class SAPResult(NamedTuple):
    """Result of `sap`.

    Attributes:
        score: mean over factors of the gap between the two most predictive codes.
        per_factor: `[num_factors]` gap (top1 - top2) of each factor's column.
        score_matrix: `[num_latents, num_factors]` predictability of each factor from each
            single code (test accuracy, or R^2 for continuous factors).
    """

    score: float
    per_factor: np.ndarray
    score_matrix: np.ndarray


def top_two_gap(score_matrix) -> np.ndarray:
    """`[num_factors]` difference between the largest and second largest entry of each column.

    With a single code the second entry is taken as 0.
    """
    m = np.sort(np.asarray(score_matrix, dtype=np.float64), axis=0)[::-1]
    return m[0] - (m[1] if m.shape[0] > 1 else 0.0)


def sap(
    z,
    s,
    *,
    z_test=None,
    s_test=None,
    train_size: int = 10_000,
    test_size: int = 5_000,
    task: Literal["auto", "classification", "regression"] = "auto",
    C: float = 0.01,
    standardize: bool = False,
    seed: int = 0,
) -> SAPResult:
    r"""Separated attribute predictability (Kumar et al., 2018) as in disentanglement_lib.

    Builds a score matrix :math:`S[j, k]` of how well factor k is predicted from code j
    alone, and returns :math:`\frac{1}{K}\sum_k (S_{(1)k} - S_{(2)k})`, the mean over factors
    of the gap between the best and second best code.

    * classification (integer factors): :math:`S[j, k]` is the test accuracy of
      `LinearSVC(C=C, class_weight="balanced")` trained on the raw single code `z[:, j]`
      (disentanglement_lib's discrete SAP).
    * regression (continuous factors): :math:`S[j, k] = \mathrm{corr}(z_j, s_k)^2`, the
      :math:`R^2` of a one-variable linear regression, on the training rows
      (disentanglement_lib's continuous SAP); 0 for a constant code.

    `task="auto"` classifies if every factor is integer-valued, else regresses.

    Ceiling of the classification variant: the second-best code of a perfect representation
    still scores chance accuracy (about 1/C with balanced class weights), so a perfect code
    scores about 1 - 1/C per factor (0.5 for binary factors), and single-code one-vs-rest
    linear SVMs cannot isolate middle classes, so factors with C > 2 ordered classes score
    lower still. Compare SAP values only across representations on the same factors.

    Invariant to code permutation; the regression variant is also invariant to sign flips and
    affine rescaling. The classification variant is *not* invariant to the codes' offset and
    scale, as in the reference: `LinearSVC(C=0.01)` on the raw code also penalizes the
    intercept, so shifting a code far from 0 (e.g. `z + 1000`) or shrinking it (e.g.
    `z * 1e-3`) leaves the regularized SVM unable to place its threshold and the score drops
    towards 0. Pass `standardize=True` to z-score each code (training-split mean and standard
    deviation, applied to both splits; a constant code is only centered) before the SVM, which
    makes the score invariant to per-code shift and positive or negative rescaling; the
    default (False) keeps the reference's numbers. Not invariant to nonlinear monotone warps
    (linear predictors). A duplicated code gives its factor a gap of 0 (penalized).
    Deterministic given `seed` (split and SVM).

    Args:
        z: codes `[n, num_latents]` (training set if `z_test` is given, else split).
        s: factors `[n, num_factors]`, integer classes or continuous (see `task`).
        z_test: optional test codes.
        s_test: optional test factors.
        train_size: training rows when splitting (see `qdjax.metrics.dci` for the rule).
        test_size: test rows when splitting.
        task: "auto", "classification" or "regression".
        C: SVM regularization (disentanglement_lib uses 0.01).
        standardize: z-score each code with the training split's statistics before the SVM
            (classification only; the regression variant is already affine invariant). Default
            False: raw codes, as in disentanglement_lib.
        seed: seeds the split and the SVM.

    Returns:
        `SAPResult(score, per_factor, score_matrix)`.

    References:
        Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent
        Concepts from Unlabeled Observations", ICLR 2018. Locatello et al., ICML 2019.
    """
    z_tr, s_tr, z_te, s_te = train_test_arrays(
        z, s, z_test, s_test, train_size=train_size, test_size=test_size, seed=seed
    )
    check_factors_vary(np.concatenate([s_tr, s_te]))
    classification = is_classification(task, s_tr, s_te)
    num_latents, num_factors = z_tr.shape[1], s_tr.shape[1]
    if not classification:
        matrix = abs_correlation(z_tr, s_tr).T ** 2
    else:
        from sklearn import svm  # here, not at module level: ~1 s at every CLI start

        labels = encode_labels(np.concatenate([s_tr, s_te]))
        y_tr, y_te = labels[: len(s_tr)], labels[len(s_tr) :]
        if standardize:
            z_tr, z_te = standardize_splits(z_tr, z_te)
        matrix = np.zeros((num_latents, num_factors))
        for i in range(num_latents):
            x_tr, x_te = z_tr[:, [i]], z_te[:, [i]]
            for k in range(num_factors):
                if np.unique(y_tr[:, k]).size < 2:
                    raise ValueError(f"factor {k} has one class in the training set; drop it")
                clf = svm.LinearSVC(C=C, class_weight="balanced", random_state=seed)
                clf.fit(x_tr, y_tr[:, k])
                matrix[i, k] = np.mean(clf.predict(x_te) == y_te[:, k])
    per_factor = top_two_gap(matrix)
    return SAPResult(float(np.mean(per_factor)), per_factor, matrix)

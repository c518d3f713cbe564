"""FactorVAE score (Kim & Mnih, 2018) from already-collected codes."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from qdjax.metrics._validation import as_matrix


class FactorVAEResult(NamedTuple):
    """Result of the FactorVAE score.

    Attributes:
        train_accuracy: accuracy of the majority-vote classifier on the training votes.
        eval_accuracy: its accuracy on the evaluation votes (the reported score).
        num_active: number of latents kept after pruning (0 -> both accuracies are 0).
        train_votes: `[num_active, num_factors]` vote counts (row: argmin latent, column: the
            fixed factor).
        eval_votes: `[num_active, num_factors]` vote counts of the evaluation batches.
    """

    train_accuracy: float
    eval_accuracy: float
    num_active: int
    train_votes: np.ndarray
    eval_votes: np.ndarray


def factorvae_global_scale(z_sample, *, prune_threshold: float = 0.05):
    """Global per-latent variance and the active-latent mask of the FactorVAE score.

    The pruning rule is the reference's (disentanglement_lib): a latent is active if its
    standard deviation is at least the *absolute* `prune_threshold`, so the rule depends on the
    codes' scale. Codes rescaled by a small factor (e.g. standardized to std 0.01) can lose
    every latent, and the score is then 0. When that happens while some latent does vary, a
    `UserWarning` says so; rescale the codes or lower `prune_threshold`.

    Args:
        z_sample: `[m, num_latents]` codes of a separate random sample (reference: 10 000).
        prune_threshold: latents with standard deviation below this are pruned (reference 0.05).

    Returns:
        `(global_variance [num_latents], active [num_latents] bool)`; variances use `ddof=1`.
    """
    z_sample = as_matrix(z_sample, "z_sample", "[m, num_latents]")
    variance = np.var(z_sample, axis=0, ddof=1)
    active = np.sqrt(variance) >= prune_threshold
    if not active.any() and np.any(variance > 0):
        warnings.warn(
            f"FactorVAE: the codes look rescaled: the reference's absolute "
            f"prune_threshold={prune_threshold} dropped every latent (largest std "
            f"{np.sqrt(variance.max()):.3g}), so no latent is active and the score is 0; "
            "rescale the codes or lower prune_threshold",
            UserWarning,
            stacklevel=2,
        )
    return variance, active


def factorvae_votes(
    batches: Iterable[tuple[int, np.ndarray]],
    global_variance,
    active,
    *,
    num_factors: int,
) -> np.ndarray:
    """Counts the argmin-normalized-variance votes of batches with one factor held fixed.

    For a batch with factor k fixed, the vote is the active latent j minimizing
    `var(z_batch[:, j], ddof=1) / global_variance[j]` (the variance of the codes divided by
    their global standard deviation); `votes[j, k]` is incremented.

    Args:
        batches: `(fixed_factor_index, z_batch [batch, num_latents])` pairs.
        global_variance: `[num_latents]` from `factorvae_global_scale`.
        active: `[num_latents]` bool mask from `factorvae_global_scale`.
        num_factors: number of ground-truth factors K.

    Returns:
        `[num_active, num_factors]` int64 vote counts.

    Raises:
        ValueError: if `global_variance` and `active` differ in length, or an active latent has
            a global variance that is not finite and > 0 (it would divide by zero).
    """
    active = np.asarray(active, dtype=bool)
    variance = np.asarray(global_variance, dtype=np.float64)
    if active.ndim != 1:
        raise ValueError(
            f"active must be a 1-D bool mask [num_latents]; got shape {active.shape} "
            "(use the mask from factorvae_global_scale)"
        )
    if variance.shape != active.shape:
        raise ValueError(
            f"global_variance has shape {variance.shape} but active has {active.shape}; pass "
            "both from factorvae_global_scale on the same codes"
        )
    bad = np.flatnonzero(active & ~(np.isfinite(variance) & (variance > 0)))
    if bad.size:
        raise ValueError(
            f"active latents {bad.tolist()} have global variance "
            f"{variance[bad].tolist()}, which must be finite and > 0; mark them inactive "
            "(factorvae_global_scale prunes latents with std < prune_threshold)"
        )
    scale = variance[active]
    votes = np.zeros((int(active.sum()), num_factors), dtype=np.int64)
    if votes.shape[0] == 0:
        return votes
    for factor_index, z_batch in batches:
        if not 0 <= int(factor_index) < num_factors:
            raise ValueError(f"factor index {factor_index} outside [0, {num_factors})")
        z_batch = as_matrix(z_batch, "z_batch", "[batch, num_latents]")
        if z_batch.shape[1] != active.size:
            raise ValueError(
                f"z_batch has {z_batch.shape[1]} latents but active has {active.size}; "
                "encode with the same model"
            )
        local = np.var(z_batch[:, active], axis=0, ddof=1) / scale
        votes[int(np.argmin(local)), int(factor_index)] += 1
    return votes


def factorvae_score_from_votes(train_votes, eval_votes) -> FactorVAEResult:
    r"""FactorVAE score from vote counts (Kim & Mnih, 2018), as in disentanglement_lib.

    The majority-vote classifier maps each latent j to the factor
    :math:`c(j) = \arg\max_k V^{train}_{jk}` (ties to the lowest index); its accuracy on a
    vote matrix V is :math:`\sum_j V_{j c(j)} / \sum_{jk} V_{jk}`. The reported score is the
    accuracy on `eval_votes`. With no active latent both accuracies are 0. Vote counts must be
    finite and non-negative (a ValueError otherwise).

    Args:
        train_votes: `[num_active, num_factors]` counts from `factorvae_votes`.
        eval_votes: `[num_active, num_factors]` counts from separate batches.

    Returns:
        `FactorVAEResult`.

    References:
        Kim & Mnih, "Disentangling by Factorising", ICML 2018. Locatello et al., ICML 2019.
    """
    train_votes = np.asarray(train_votes)
    eval_votes = np.asarray(eval_votes)
    if train_votes.ndim != 2 or train_votes.shape != eval_votes.shape:
        raise ValueError(
            f"train_votes and eval_votes must be [num_active, num_factors] of equal shape; "
            f"got {train_votes.shape} and {eval_votes.shape}"
        )
    for name, votes in (("train_votes", train_votes), ("eval_votes", eval_votes)):
        if not np.issubdtype(votes.dtype, np.number) or np.issubdtype(
            votes.dtype, np.complexfloating
        ):
            raise ValueError(f"{name} must hold numeric vote counts; got dtype {votes.dtype}")
        if not np.all(np.isfinite(votes)) or np.any(votes < 0):
            raise ValueError(
                f"{name} must hold finite non-negative vote counts; got min {votes.min()} "
                "(pass the counts from factorvae_votes)"
            )
    num_active = train_votes.shape[0]
    if num_active == 0 or train_votes.sum() == 0 or eval_votes.sum() == 0:
        return FactorVAEResult(0.0, 0.0, num_active, train_votes, eval_votes)
    classifier = np.argmax(train_votes, axis=1)
    rows = np.arange(num_active)
    train_acc = train_votes[rows, classifier].sum() / train_votes.sum()
    eval_acc = eval_votes[rows, classifier].sum() / eval_votes.sum()
    return FactorVAEResult(float(train_acc), float(eval_acc), num_active, train_votes, eval_votes)


def factorvae_score_from_batches(
    train_batches: Iterable[tuple[int, np.ndarray]],
    eval_batches: Iterable[tuple[int, np.ndarray]],
    z_sample,
    *,
    num_factors: int,
    prune_threshold: float = 0.05,
) -> FactorVAEResult:
    """FactorVAE score from `(fixed_factor_index, z_batch)` pairs.

    Computes the global variance on `z_sample` (pruning latents with std < `prune_threshold`,
    the reference's absolute rule: codes rescaled to a small std lose every latent and score
    0, with a warning; see `factorvae_global_scale`),
    counts votes on the train and eval batches with `factorvae_votes`, and scores them with
    `factorvae_score_from_votes` (see there for the definition). The reference protocol uses
    batches of 64 codes, 10 000 train votes, 5 000 eval votes and a 10 000-code `z_sample`;
    `qdjax.train.evaluate.factorvae_score` collects them from a model and a sampler.

    Args:
        train_batches: pairs for the training votes.
        eval_batches: pairs for the evaluation votes.
        z_sample: `[m, num_latents]` codes of independent random observations.
        num_factors: number of factors K.
        prune_threshold: std below which a latent is pruned.

    Returns:
        `FactorVAEResult`.
    """
    variance, active = factorvae_global_scale(z_sample, prune_threshold=prune_threshold)
    train = factorvae_votes(train_batches, variance, active, num_factors=num_factors)
    evaluation = factorvae_votes(eval_batches, variance, active, num_factors=num_factors)
    return factorvae_score_from_votes(train, evaluation)

"""Host-side, model-agnostic evaluation: encode data, collect samples, compute metrics.

Metrics in `qdjax.metrics` never call models or samplers; this module does, with any
`encode_fn` mapping a host batch `[b, ...]` to codes `[b, num_latents]` (e.g. a jitted model
forward). No flax or model code is imported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from qdjax import metrics as qm

EncodeFn = Callable[[np.ndarray], Any]


class FactorSampler(Protocol):
    """A ground-truth dataset that can sample factors and render observations.

    Attributes:
        factor_sizes: number of classes of each factor.
    """

    factor_sizes: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Returns int32 factors `[n, num_factors]`."""
        ...

    def sample_observations(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Returns float32 observations `[n, ...]` of the given factors."""
        ...


def encode(encode_fn: EncodeFn, x, *, batch_size: int = 1024) -> np.ndarray:
    """Encodes `x` in chunks of `batch_size`, padding the last chunk to `batch_size`.

    The padding (copies of the last row, dropped from the output) keeps every call at the same
    shape, so a jitted `encode_fn` compiles once.

    Args:
        encode_fn: maps a host batch `[batch_size, ...]` to codes `[batch_size, num_latents]`.
        x: observations `[n, ...]`.
        batch_size: rows per call.

    Returns:
        float codes `[n, num_latents]` as a NumPy array.
    """
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x must be [n, ...] with n >= 1; got shape {x.shape}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    out = []
    for start in range(0, x.shape[0], batch_size):
        chunk = x[start : start + batch_size]
        size = chunk.shape[0]
        if size < batch_size:
            pad = np.repeat(chunk[-1:], batch_size - size, axis=0)
            chunk = np.concatenate([chunk, pad], axis=0)
        codes = np.asarray(encode_fn(chunk))
        if codes.ndim != 2 or codes.shape[0] != batch_size:
            raise ValueError(
                f"encode_fn must return [batch, num_latents] = [{batch_size}, L]; "
                f"got shape {codes.shape} (flatten or select the code output)"
            )
        out.append(codes[:size])
    return np.concatenate(out, axis=0)


def _flatten(prefix: str, result) -> dict[str, float]:
    """Scalar fields of a metric NamedTuple as `{prefix/field: float}`; arrays are skipped."""
    flat = {}
    for field, value in zip(result._fields, result, strict=True):
        if np.ndim(value) == 0:
            flat[f"{prefix}/{field}"] = float(value)
    return flat


_METRICS: dict[str, Callable[..., Any]] = {
    "mcc": lambda z, s, seed, kw: qm.mcc(z, s, **kw),
    "dci": lambda z, s, seed, kw: qm.dci(z, s, seed=seed, **kw),
    "mig": lambda z, s, seed, kw: qm.mig(z, s, **kw),
    "sap": lambda z, s, seed, kw: qm.sap(z, s, seed=seed, **kw),
    "infomec": lambda z, s, seed, kw: qm.infomec(z, s, seed=seed, **kw),
}


def evaluate_metrics(
    z,
    s,
    *,
    metrics: Sequence[str] = ("mcc", "dci", "mig", "sap", "infomec"),
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, float]:
    """Computes several metrics on the same codes and flattens their scalar sub-scores.

    Args:
        z: codes `[n, num_latents]`.
        s: factors `[n, num_factors]`.
        metrics: names among "mcc", "dci", "mig", "sap", "infomec".
        seed: passed to the metrics that use randomness.
        options: per-metric keyword arguments, e.g. `{"dci": {"backend": "forest"}}`.

    Returns:
        `{"mcc/score": ..., "dci/disentanglement": ..., "infomec/infom": ...}`: every scalar
        field of each metric's result as a float (array fields are omitted).
    """
    options = dict(options or {})
    unknown = sorted(set(metrics) - set(_METRICS)) + sorted(set(options) - set(metrics))
    if unknown:
        raise ValueError(
            f"unknown or unrequested metric names {unknown}; choose from {sorted(_METRICS)}"
        )
    out: dict[str, float] = {}
    for name in metrics:
        result = _METRICS[name](z, s, seed, dict(options.get(name, {})))
        out.update(_flatten(name, result))
    return out


def factorvae_score(
    encode_fn: EncodeFn,
    sampler: FactorSampler,
    *,
    seed: int = 0,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
    encode_batch_size: int = 1024,
) -> qm.FactorVAEResult:
    """FactorVAE score (Kim & Mnih, 2018) of an encoder on a factor sampler.

    Protocol of disentanglement_lib: the global variance of each latent is estimated on
    `num_variance_estimate` random observations (latents with std < `prune_threshold` are
    pruned); each vote samples a factor index k uniformly and `batch_size` factor vectors that
    share the value of factor k, encodes their observations and votes for the active latent
    with the smallest variance divided by its global variance. `num_train` votes fit the
    majority-vote classifier, `num_eval` votes score it (`qdjax.metrics.factorvae_*`).
    Deterministic given `seed` (and a deterministic `encode_fn` / sampler).

    Args:
        encode_fn: maps `[b, ...]` observations to `[b, num_latents]` codes.
        sampler: a `FactorSampler`.
        seed: seeds a `np.random.Generator` used for everything.
        batch_size: codes per vote (reference: 64).
        num_train: training votes (reference: 10 000).
        num_eval: evaluation votes (reference: 5 000).
        num_variance_estimate: observations for the global variance (reference: 10 000).
        prune_threshold: std below which a latent is pruned (reference: 0.05).
        encode_batch_size: rows per `encode_fn` call; votes are rendered in groups of
            `max(1, encode_batch_size // batch_size)` to bound memory.

    Returns:
        `qdjax.metrics.FactorVAEResult`; `eval_accuracy` is the score.
    """
    rng = np.random.default_rng(seed)
    num_factors = len(sampler.factor_sizes)
    factors = sampler.sample_factors(num_variance_estimate, rng)
    z_sample = encode(
        encode_fn, sampler.sample_observations(factors, rng), batch_size=encode_batch_size
    )
    variance, active = qm.factorvae_global_scale(z_sample, prune_threshold=prune_threshold)

    def votes(num: int) -> np.ndarray:
        total = np.zeros((int(active.sum()), num_factors), dtype=np.int64)
        group = max(1, encode_batch_size // batch_size)
        for start in range(0, num, group):
            count = min(group, num - start)
            fixed = rng.integers(num_factors, size=count)
            f = sampler.sample_factors(count * batch_size, rng).reshape(count, batch_size, -1)
            rows = np.arange(count)
            f[rows, :, fixed] = f[rows, 0, fixed][:, None]
            x = sampler.sample_observations(f.reshape(count * batch_size, -1), rng)
            z = encode(encode_fn, x, batch_size=encode_batch_size).reshape(count, batch_size, -1)
            batches = zip(fixed.tolist(), z, strict=True)
            total += qm.factorvae_votes(batches, variance, active, num_factors=num_factors)
        return total

    train_votes = votes(num_train)
    eval_votes = votes(num_eval)
    return qm.factorvae_score_from_votes(train_votes, eval_votes)

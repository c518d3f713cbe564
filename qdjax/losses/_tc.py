"""Total correlation of the aggregate posterior (β-TCVAE, minibatch-weighted sampling)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike
from qdjax.losses._cliff import _check_latents

_LOG_2PI = math.log(2.0 * math.pi)


def total_correlation(
    z: ArrayLike, mean: ArrayLike, logvar: ArrayLike, *, dataset_size: int
) -> Array:
    """Minibatch-weighted-sampling estimate of the total correlation of `q(z)`, per example.

    With the aggregate posterior :math:`q(z) = \\frac1N \\sum_n q(z|x_n)`, the total
    correlation is :math:`\\mathrm{TC} = \\mathbb E_{q(z)}[\\log q(z) - \\sum_i \\log q(z_i)]`.
    On a batch of `M` samples :math:`z_b \\sim q(z|x_b)` (Chen et al. 2018, Sec. 4.1), the
    aggregate densities are importance-weighted averages over the batch posteriors:

    .. math::
        \\log q(z_b) &\\approx \\operatorname{logsumexp}_j
            \\Big[\\sum_i \\log q(z_{bi}|x_j) + \\log w_{bj}\\Big] \\\\
        \\log q(z_{bi}) &\\approx \\operatorname{logsumexp}_j
            \\big[\\log q(z_{bi}|x_j) + \\log w_{bj}\\big] \\\\
        \\mathrm{TC}_b &= \\log q(z_b) - \\sum_i \\log q(z_{bi})

    with :math:`\\log q(z_{bi}|x_j) = \\log \\mathcal N(z_{bi}; \\mu_{ji}, e^{v_{ji}})` and
    weights :math:`w_{bb} = 1/N` (the sample's own posterior is one of the `N` data
    points) and :math:`w_{bj} = (N-1)/(N(M-1))` for the other batch members (a sample
    of the remaining `N - 1`), so every row sums to one. (The paper's code uses the
    uniform weight :math:`1/(NM)`, which shifts the estimate by the constant
    :math:`(L-1)\\log N`; the weights here make the estimate consistent: it is 0 for
    a factorized `q(z)` as `M` grows.) When `N = M` all weights are `1/M` and the
    estimate is the exact TC of the batch's mixture of posteriors. The batch mean of
    the result is the estimate; it is biased for small `M` and can be slightly negative.
    Memory is `O(M^2 L)`. A β-TCVAE adds `(β - 1) * mean(total_correlation(...))` to
    the VAE objective.

    Args:
      z: posterior samples, `[batch, num_latents]` (batch >= 2).
      mean: posterior means, `[batch, num_latents]`.
      logvar: posterior log-variances, `[batch, num_latents]`.
      dataset_size: number of training examples `N` (>= batch).

    Returns:
      `[batch]` per-sample TC estimate in nats.

    Raises:
      TypeError: if `z`, `mean` or `logvar` is not floating point (as the Cliff losses).
      ValueError: on mismatched shapes, a batch of one, `dataset_size < batch`, or (eager
        calls only; under jit the estimate is NaN) NaN/Inf inputs.

    References:
      Chen, Li, Grosse, Duvenaud, Isolating Sources of Disentanglement in VAEs,
      NeurIPS 2018 (arXiv:1802.04942).

    Example:
      >>> z = jnp.zeros((4, 2))  # identical posteriors: q(z) factorizes exactly
      >>> float(jnp.abs(total_correlation(z, z, z, dataset_size=100)).max()) < 1e-5
      True
    """
    z, mean, logvar = jnp.asarray(z), jnp.asarray(mean), jnp.asarray(logvar)
    if not (z.shape == mean.shape == logvar.shape) or z.ndim != 2:
        raise ValueError(
            f"total_correlation: z {z.shape}, mean {mean.shape}, logvar {logvar.shape} must "
            "all be [batch, num_latents]"
        )
    m = z.shape[0]
    if m < 2 or dataset_size < m:
        raise ValueError(
            f"total_correlation: need 2 <= batch <= dataset_size; got batch {m}, "
            f"dataset_size {dataset_size}"
        )
    z = _check_latents(z, "total_correlation")
    mean = _check_latents(mean, "total_correlation", "mean")
    logvar = _check_latents(logvar, "total_correlation", "logvar")
    n = float(dataset_size)
    off = math.log((n - 1.0) / (n * (m - 1))) if n > 1 else -math.inf
    log_w = jnp.where(jnp.eye(m, dtype=bool), -math.log(n), off).astype(z.dtype)  # [b, j]
    # log q(z_bi | x_j): [b, j, i]
    diff = z[:, None, :] - mean[None, :, :]
    log_qzi = -0.5 * (_LOG_2PI + logvar[None] + jnp.square(diff) * jnp.exp(-logvar[None]))
    log_qz = jax.nn.logsumexp(jnp.sum(log_qzi, axis=-1) + log_w, axis=1)
    log_prod_marginals = jnp.sum(jax.nn.logsumexp(log_qzi + log_w[:, :, None], axis=1), axis=-1)
    return log_qz - log_prod_marginals

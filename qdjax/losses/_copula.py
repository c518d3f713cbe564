r"""Soft ranks: a differentiable per-axis copula transform of a batch of codes.

Identifiability of quantized factors (seed 000) holds up to permutation, axis reversal and
*any* monotone per-axis warp, so a criterion meant to have the true latents as its minimum
should not see those warps. Its values on the copula (per-axis ranks) cannot: every monotone
warp of an axis, a cell squashed toward a point, a narrow spike, all have the same ranks.
Exact ranks have no gradient; the soft rank of sample `i` on axis `k`,

.. math::

    u_{ik} = \sqrt{12}\,\Big(\frac{1}{B}\sum_{j=1}^{B}
        \Phi\Big(\frac{z_{ik} - z_{jk}}{h\,s_k}\Big) - \frac12\Big),

is the batch's Gaussian-KDE CDF at the sample (`s_k` the batch std of axis `k`, `h` the
bandwidth relative to it, `Phi` the standard normal CDF); it tends to the centred,
unit-variance rank as `h -> 0` and is smooth in `z`. Cost `O(B^2 d)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["soft_rank"]


def soft_rank(z: ArrayLike, *, bandwidth: float = 0.05, eps: float = 1e-8) -> jax.Array:
    """Centred, unit-variance soft ranks `[B, d]` of a batch `z: [B, d]` (module docstring).

    Args:
      z: `[B, d]` codes (float).
      bandwidth: KDE bandwidth relative to each axis's batch std (> 0; smaller = closer to
        the exact ranks, larger = smoother gradients).
      eps: floor of the std (a collapsed axis gives ranks of 0, not NaN).

    Returns:
      `[B, d]` soft ranks, each column ~ Uniform(-sqrt3, sqrt3) for distinct values.
    """
    z = jnp.asarray(z)
    if z.ndim != 2:
        raise ValueError(f"soft_rank expects [batch, dim] codes; got shape {z.shape}")
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0; got {bandwidth}")
    s = jnp.sqrt(jnp.var(z, axis=0) + eps)
    diff = (z[:, None, :] - z[None, :, :]) / (bandwidth * s)[None, None, :]
    cdf = jnp.mean(jax.scipy.stats.norm.cdf(diff), axis=1)
    return jnp.sqrt(12.0) * (cdf - 0.5)

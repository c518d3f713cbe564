r"""The seed-000 axis-alignment criterion: push KDE log-density gradients onto the axes.

Seed 000 (arXiv:2306.16334, Barin-Pacela et al.) recovers quantized factors by making the
density's cliffs axis-aligned. Per batch `z: [B, d]`, standardized per latent
(:math:`\tilde z = (z - \bar z) / s`), with a Parzen (Gaussian) KDE of fixed width
:math:`\sigma` on the same batch,

.. math::
    g_i = \nabla \log \hat p(\tilde z_i)
        = \frac{\sum_j K_{ij} (\tilde z_j - \tilde z_i)}{\sigma^2 \sum_j K_{ij}},\qquad
    K_{ij} = e^{-\lVert \tilde z_i - \tilde z_j \rVert^2 / (2\sigma^2)},

:math:`v_i = g_i / \lVert g_i \rVert_2` and the loss is
:math:`-\sum_i \alpha_i \lVert v_i \rVert_\infty`: it is minimal (:math:`-\sum_i \alpha_i`)
when every gradient points along an axis. :math:`\alpha_i` is the normalized magnitude of
the KDE log-density gradient of the *observation* :math:`x_i`
(:func:`observation_weights`), computed once before training, so samples near cliffs of
the data density dominate. Pairwise, chunked over rows: memory `O(chunk_size * B)`, so
`B = 5000` fits.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike
from qdjax.losses._cliff import _check_latents

__all__ = ["axis_alignment_loss", "kde_score", "observation_weights"]


def kde_score(z: ArrayLike, *, sigma: float, chunk_size: int = 512, eps: float = 1e-6) -> Array:
    r"""Gradient of the log Parzen density at every sample (standardized units), `[B, d]`.

    :math:`g_i = \sum_j K_{ij} (\tilde z_j - \tilde z_i) / (\sigma^2 \sum_j K_{ij})` on the
    standardized batch; rows are processed `chunk_size` at a time (`lax.map`).
    """
    z = jnp.asarray(z)
    if z.ndim != 2:
        raise ValueError(f"z must be [batch, num_latents]; got shape {z.shape}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0; got {sigma}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    b, d = z.shape
    zt = (z - z.mean(0, keepdims=True)) / jnp.sqrt(z.var(0, keepdims=True) + eps)
    c = min(chunk_size, b)
    pad = (-b) % c
    rows = jnp.concatenate([zt, jnp.zeros((pad, d), zt.dtype)]).reshape(-1, c, d)

    def block(zi):  # [c, d] rows against all B columns
        diff = zt[None, :, :] - zi[:, None, :]  # [c, B, d]
        logk = -jnp.sum(diff * diff, axis=-1) / (2 * sigma**2)
        w = jax.nn.softmax(logk, axis=1)  # K_ij / sum_j K_ij, stable
        return jnp.einsum("cb,cbd->cd", w, diff) / sigma**2

    return jax.lax.map(block, rows).reshape(-1, d)[:b]


def observation_weights(x: ArrayLike, *, sigma: float, chunk_size: int = 512) -> Array:
    r""":math:`\alpha_i = \lVert \nabla \log \hat p(\tilde x_i)\rVert / \sum_k \lVert \cdot
    \rVert` for observations `x: [B, D]` (compute once, before training)."""
    g = jnp.linalg.norm(kde_score(x, sigma=sigma, chunk_size=chunk_size), axis=1)
    return g / jnp.sum(g)


def axis_alignment_loss(
    z: ArrayLike,
    alpha: ArrayLike | None = None,
    *,
    sigma: float = 0.1,
    chunk_size: int = 512,
    eps: float = 1e-12,
) -> Array:
    r"""Per-example seed-000 loss :math:`-\alpha_i \lVert v_i \rVert_\infty`, `[B]`.

    Args:
      z: latents `[batch, num_latents]` (the global batch; standardized inside).
      alpha: `[batch]` observation weights (:func:`observation_weights`); None = `1 / B`.
      sigma: Parzen window width in standardized units.
      chunk_size: rows per block of the pairwise computation.
      eps: floor of :math:`\lVert g_i \rVert` in the normalization.

    Returns:
      `[batch]` per-example losses; the caller sums them.

    Raises:
      TypeError: if `z` is not floating point (as the Cliff losses).
      ValueError: if `z` is not `[batch, num_latents]`, has a batch below 2, or (eager calls
        only; under jit the loss is NaN) holds NaN/Inf; if `alpha` has the wrong shape.

    References:
      Barin-Pacela et al., On the Identifiability of Quantized Factors, CLeaR 2024.

    Example:
      >>> z = jnp.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.1], [4.0, 0.1]])
      >>> round(float(axis_alignment_loss(z, sigma=0.5).sum()), 2)  # gradients along axis 0
      -1.0
    """
    z = _check_latents(z, "axis_alignment_loss")
    g = kde_score(z, sigma=sigma, chunk_size=chunk_size)
    v = g / jnp.sqrt(jnp.sum(g * g, axis=1, keepdims=True) + eps)
    a = jnp.full((z.shape[0],), 1.0 / z.shape[0], z.dtype) if alpha is None else jnp.asarray(alpha)
    if a.shape != (z.shape[0],):
        raise ValueError(f"alpha must have shape [{z.shape[0]}]; got {a.shape}")
    return -a * jnp.max(jnp.abs(v), axis=1)

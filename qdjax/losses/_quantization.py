"""Codebook kernels of latent quantization (VQ-VAE / QLAE): quantization and commitment losses.

Both compare the continuous code `z_c` with its quantized value `z_q` and differ only in where
the gradient stops: the quantization loss moves the codebook towards the codes, the commitment
loss moves the encoder towards the codebook. QLAE weights each by 0.01 in its objective.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike


def _check(z_continuous: ArrayLike, z_quantized: ArrayLike, fn: str) -> tuple[Array, Array]:
    z_c, z_q = jnp.asarray(z_continuous), jnp.asarray(z_quantized)
    if z_c.shape != z_q.shape or z_c.ndim != 2:
        raise ValueError(
            f"{fn}: z_continuous {z_c.shape} and z_quantized {z_q.shape} must both be "
            "[batch, num_latents]"
        )
    for z in (z_c, z_q):
        if not jnp.issubdtype(z.dtype, jnp.floating):
            raise TypeError(f"{fn}: inputs must be floating point; got {z.dtype}")
    return z_c, z_q


def quantization_loss(z_continuous: ArrayLike, z_quantized: ArrayLike) -> Array:
    """Per-example codebook loss: moves the codebook values towards the (fixed) codes.

    .. math:: \\ell_b = \\frac1L \\sum_i (\\mathrm{sg}(z^c_{bi}) - z^q_{bi})^2

    Args:
      z_continuous: encoder codes `[batch, num_latents]` (gradient stopped).
      z_quantized: quantized codes `[batch, num_latents]` (differentiable w.r.t. the codebook).

    Returns:
      `[batch]` mean over latents.

    References:
      van den Oord et al., "Neural Discrete Representation Learning", NeurIPS 2017;
      Hsu et al., "Disentanglement via Latent Quantization", NeurIPS 2023.

    Example:
      >>> float(quantization_loss(jnp.array([[0.0, 1.0]]), jnp.array([[0.5, 1.0]]))[0])
      0.125
    """
    z_c, z_q = _check(z_continuous, z_quantized, "quantization_loss")
    return jnp.mean(jnp.square(jax.lax.stop_gradient(z_c) - z_q), axis=-1)


def commitment_loss(z_continuous: ArrayLike, z_quantized: ArrayLike) -> Array:
    """Per-example commitment loss: moves the codes towards their (fixed) codebook values.

    .. math:: \\ell_b = \\frac1L \\sum_i (z^c_{bi} - \\mathrm{sg}(z^q_{bi}))^2

    Args:
      z_continuous: encoder codes `[batch, num_latents]`.
      z_quantized: quantized codes `[batch, num_latents]` (gradient stopped).

    Returns:
      `[batch]` mean over latents.

    Example:
      >>> float(commitment_loss(jnp.array([[0.0, 1.0]]), jnp.array([[0.5, 1.0]]))[0])
      0.125
    """
    z_c, z_q = _check(z_continuous, z_quantized, "commitment_loss")
    return jnp.mean(jnp.square(z_c - jax.lax.stop_gradient(z_q)), axis=-1)

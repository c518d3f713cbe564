"""Quantization and commitment losses of a scalar-codebook quantizer (QLAE, VQ-VAE)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike


def _check_pair(z_continuous: ArrayLike, z_quantized: ArrayLike, fn: str) -> tuple[Array, Array]:
    z_c, z_q = jnp.asarray(z_continuous), jnp.asarray(z_quantized)
    if z_c.shape != z_q.shape or z_c.ndim != 2:
        raise ValueError(
            f"{fn}: z_continuous {z_c.shape} and z_quantized {z_q.shape} must both be "
            "[batch, num_latents]"
        )
    return z_c, z_q


def quantization_loss(z_continuous: ArrayLike, z_quantized: ArrayLike) -> Array:
    """Per-example codebook loss: pulls the chosen codebook values towards the codes.

    .. math:: \\ell_b = \\sum_i (\\mathrm{sg}(z^c_{bi}) - z^q_{bi})^2

    Only `z_quantized` (hence the codebook) receives gradient. The QLAE reference
    weights it 0.01 in the objective.

    Args:
      z_continuous: pre-quantization codes, `[batch, num_latents]`.
      z_quantized: the selected codebook values, `[batch, num_latents]`.

    Returns:
      `[batch]` summed squared distance.

    References:
      van den Oord et al., Neural Discrete Representation Learning, 2017;
      Hsu et al., Disentanglement via Latent Quantization, 2023.

    Example:
      >>> round(float(quantization_loss(jnp.array([[0.3, 0.0]]), jnp.array([[0.5, 0.0]]))[0]), 4)
      0.04
    """
    z_c, z_q = _check_pair(z_continuous, z_quantized, "quantization_loss")
    return jnp.sum(jnp.square(jax.lax.stop_gradient(z_c) - z_q), axis=-1)


def commitment_loss(z_continuous: ArrayLike, z_quantized: ArrayLike) -> Array:
    """Per-example commitment loss: pulls the encoder's codes towards their codebook values.

    .. math:: \\ell_b = \\sum_i (z^c_{bi} - \\mathrm{sg}(z^q_{bi}))^2

    Only `z_continuous` (hence the encoder) receives gradient; weighted 0.01 in QLAE.

    Args:
      z_continuous: pre-quantization codes, `[batch, num_latents]`.
      z_quantized: the selected codebook values, `[batch, num_latents]`.

    Returns:
      `[batch]` summed squared distance.

    Example:
      >>> round(float(commitment_loss(jnp.array([[0.3, 0.0]]), jnp.array([[0.5, 0.0]]))[0]), 4)
      0.04
    """
    z_c, z_q = _check_pair(z_continuous, z_quantized, "commitment_loss")
    return jnp.sum(jnp.square(z_c - jax.lax.stop_gradient(z_q)), axis=-1)

"""BioAE's latent penalties (Whittington et al. 2023), as the QLAE paper's baseline uses them.

Reference: Whittington, Dorrell, Behrens, Ganguli, El-Gaby. Disentanglement with biological
constraints: a theory of functional cell types. ICLR 2023. Implementation followed:
kylehkhsu/latent_quantization `disentangle/models/bio_ae.py` (weights in
`configs/model_partial/bio_ae.yaml`: nonnegative 1, activity 0.1, l2 1e-4 as weight decay).
"""

from __future__ import annotations

import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike


def _check(z: ArrayLike, fn: str) -> Array:
    z = jnp.asarray(z)
    if z.ndim != 2:
        raise ValueError(f"{fn}: z must be [batch, num_latents]; got shape {z.shape}")
    if not jnp.issubdtype(z.dtype, jnp.floating):
        raise TypeError(f"{fn}: z must be floating point; got {z.dtype}")
    return z


def nonnegativity_penalty(z: ArrayLike) -> Array:
    """Per-example :math:`\\frac1L \\sum_i \\max(-z_i, 0)`: pushes activations non-negative.

    Example:
      >>> nonnegativity_penalty(jnp.array([[-2.0, 1.0]])).tolist()
      [1.0]
    """
    z = _check(z, "nonnegativity_penalty")
    return jnp.mean(jnp.maximum(-z, 0.0), axis=-1)


def activity_penalty(z: ArrayLike) -> Array:
    """Per-example activity energy :math:`\\frac1L \\sum_i z_i^2`.

    Example:
      >>> activity_penalty(jnp.array([[-2.0, 1.0]])).tolist()
      [2.5]
    """
    z = _check(z, "activity_penalty")
    return jnp.mean(jnp.square(z), axis=-1)

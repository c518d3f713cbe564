"""Variational (β-VAE) kernels."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike


def gaussian_kl(mean: ArrayLike, logvar: ArrayLike) -> Array:
    """KL divergence of a diagonal Gaussian posterior from the standard normal prior.

    .. math::
        \\mathrm{KL}(\\mathcal N(\\mu, \\operatorname{diag} e^{v}) \\,\\|\\, \\mathcal N(0, I))
        = \\tfrac12 \\sum_i (\\mu_i^2 + e^{v_i} - v_i - 1)

    Multiply by β in the objective for a β-VAE (Higgins et al., 2017).

    Args:
      mean: posterior means, `[batch, num_latents]`.
      logvar: posterior log-variances, `[batch, num_latents]`.

    Returns:
      `[batch]` KL in nats.

    Example:
      >>> float(gaussian_kl(jnp.zeros((1, 3)), jnp.zeros((1, 3)))[0])
      0.0
    """
    mean, logvar = jnp.asarray(mean), jnp.asarray(logvar)
    if mean.shape != logvar.shape or mean.ndim != 2:
        raise ValueError(
            f"gaussian_kl: mean {mean.shape} and logvar {logvar.shape} must both be "
            "[batch, num_latents]"
        )
    return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(logvar) - logvar - 1.0, axis=-1)


def gaussian_sample(key: jax.Array, mean: ArrayLike, logvar: ArrayLike) -> Array:
    """Reparameterized posterior sample.

    .. math:: z = \\mu + e^{v/2} \\epsilon, \\qquad \\epsilon \\sim \\mathcal N(0, I)
    """
    mean, logvar = jnp.asarray(mean), jnp.asarray(logvar)
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    return mean + jnp.exp(0.5 * logvar) * eps

"""Reconstruction likelihood kernels (per example)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike


def _check_same_shape(a: Array, b: Array, fn: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: predictions {a.shape} and targets {b.shape} must have the same shape"
        )
    if a.ndim < 1:
        raise ValueError(f"{fn}: inputs must be [batch, ...]; got a scalar")


def squared_error(x_hat: ArrayLike, x: ArrayLike) -> Array:
    """Per-example summed squared error (Gaussian likelihood up to constants).

    .. math:: \\ell_b = \\sum_k (\\hat x_{bk} - x_{bk})^2

    Args:
      x_hat: predicted means, `[batch, ...]`.
      x: targets, `[batch, ...]`.

    Returns:
      `[batch]` summed squared error over all non-batch axes.

    Example:
      >>> float(squared_error(jnp.zeros((1, 2)), jnp.ones((1, 2)))[0])
      2.0
    """
    x_hat, x = jnp.asarray(x_hat), jnp.asarray(x)
    _check_same_shape(x_hat, x, "squared_error")
    return jnp.sum(jnp.square(x_hat - x).reshape(x.shape[0], -1), axis=-1)


def bernoulli_nll(logits: ArrayLike, x: ArrayLike) -> Array:
    """Per-example Bernoulli negative log-likelihood on logits (binary cross-entropy).

    Numerically stable form of :math:`-[x \\log \\sigma(l) + (1-x) \\log(1-\\sigma(l))]`:

    .. math:: \\ell_b = \\sum_k \\max(l_{bk}, 0) - l_{bk} x_{bk} + \\log(1 + e^{-|l_{bk}|})

    Targets may be soft (in `[0, 1]`), as for grey-level images.

    Args:
      logits: decoder logits, `[batch, ...]`.
      x: targets in `[0, 1]`, `[batch, ...]`.

    Returns:
      `[batch]` summed negative log-likelihood in nats.

    Example:
      >>> round(float(bernoulli_nll(jnp.zeros((1, 1)), jnp.ones((1, 1)))[0]), 4)
      0.6931
    """
    logits, x = jnp.asarray(logits), jnp.asarray(x)
    _check_same_shape(logits, x, "bernoulli_nll")
    per = jnp.maximum(logits, 0) - logits * x + jax.nn.softplus(-jnp.abs(logits))
    return jnp.sum(per.reshape(x.shape[0], -1), axis=-1)

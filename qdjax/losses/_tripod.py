"""Tripod's two regularizers: kernel latent multi-information and the normalized Hessian penalty.

References:
  Hsu, Hamid, Burns, Finn, Wu. Tripod: Three Complementary Inductive Biases for Disentangled
  Representation Learning. ICML 2024 (arXiv:2404.10282); code kylehkhsu/tripod,
  `disentangle/models/autoencoder.py` (`latent_multiinformation`, `hessian_regularization`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _check_latents(z: ArrayLike, scale: ArrayLike, fn: str) -> tuple[Array, Array]:
    z, scale = jnp.asarray(z), jnp.asarray(scale)
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"{fn}: z must be [batch >= 2, num_latents]; got shape {z.shape}")
    if not jnp.issubdtype(z.dtype, jnp.floating):
        raise TypeError(f"{fn}: z must be floating point; got {z.dtype}")
    if scale.shape != (z.shape[1],):
        raise ValueError(f"{fn}: scale must be [num_latents] = [{z.shape[1]}]; got {scale.shape}")
    return z, scale.astype(z.dtype)


def silverman_factor(num_latents: int, batch_size: int) -> float:
    """Squared Silverman factor of a `num_latents`-dim Gaussian KDE on `batch_size` points,
    :math:`((4/(d+2))^{1/(d+4)} B^{-1/(d+4)})^2` (Tripod's joint-bandwidth multiplier)."""
    d, b = float(num_latents), float(batch_size)
    return ((4.0 / (d + 2.0)) ** (1.0 / (d + 4.0)) * b ** (-1.0 / (d + 4.0))) ** 2


def kernel_multiinformation(z: ArrayLike, *, scale: ArrayLike) -> Array:
    """Per-example KDE estimate of the latent multi-information (total correlation), Tripod.

    With Gaussian kernels centred on the batch, per-latent bandwidths :math:`h_k` = `scale`
    (Tripod passes each latent's batch standard deviation) and the joint's diagonal bandwidth
    :math:`h_k \\sqrt{s}` with :math:`s` = :func:`silverman_factor` `(d, B)`:

    .. math::
        \\log q(z_b) &= \\operatorname{logsumexp}_j \\sum_k \\log\\mathcal N(z_{bk};
            z_{jk}, h_k^2 s) - \\log B \\\\
        \\log q_k(z_{bk}) &= \\operatorname{logsumexp}_j \\log\\mathcal N(z_{bk}; z_{jk},
            h_k^2) - \\log B \\\\
        \\mathrm{MI}_b &= \\log q(z_b) - \\sum_k \\log q_k(z_{bk})

    (each point is in its own KDE, as in the authors' code). The batch mean is the estimate.

    Args:
      z: latents `[batch, num_latents]` (Tripod: the quantized latents).
      scale: per-latent bandwidths `[num_latents]` (Tripod: `std(z_continuous, 0) + 1e-6`).

    Returns:
      `[batch]` per-example estimate in nats.

    Example:
      >>> z = jnp.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
      >>> kernel_multiinformation(z, scale=jnp.ones(2)).shape
      (3,)
    """
    z, h = _check_latents(z, scale, "kernel_multiinformation")
    b, d = z.shape
    diff = z[:, None, :] - z[None, :, :]  # [b, j, k]

    def log_normal(sigma):  # sigma: [k] -> [b, j, k]
        sigma = sigma[None, None, :]
        return -0.5 * jnp.square(diff / sigma) - jnp.log(sigma) - _LOG_SQRT_2PI

    log_b = math.log(b)
    log_marginals = jax.nn.logsumexp(log_normal(h), axis=1) - log_b  # [b, k]
    h_joint = h * math.sqrt(silverman_factor(d, b))
    log_joint = jax.nn.logsumexp(jnp.sum(log_normal(h_joint), axis=-1), axis=1) - log_b
    return log_joint - jnp.sum(log_marginals, axis=-1)


class HessianPenalty(NamedTuple):
    """Per-example Hessian penalties summed over the chosen activations.

    Attributes:
      normalized: Tripod's normalized penalty (its `hessian_penalty_normalized`), `[batch]`.
      unnormalized: the Hessian penalty of Peebles et al. 2020 (off-diagonal), `[batch]`.
    """

    normalized: Array
    unnormalized: Array


def normalized_hessian_penalty(
    fn: Callable[[Array], dict[str, Array]],
    z: ArrayLike,
    key: jax.Array,
    *,
    scale: ArrayLike,
    num_perturbations: int = 2,
    epsilon: float = 0.1,
) -> HessianPenalty:
    """Tripod's normalized Hessian penalty on activations `fn(z)`, by finite differences.

    For each example, `K = num_perturbations` directions :math:`v = \\epsilon\\, r \\odot h`
    with Rademacher :math:`r` and the latent scales :math:`h` = `scale` give second central
    differences :math:`D_v = (f(z+v) - 2f(z) + f(z-v))/\\epsilon^2` of every activation
    element; their variance over the `K` directions estimates twice the sum of squared
    *off-diagonal* Hessian entries (Peebles et al. 2020). The same with Gaussian directions
    estimates twice the sum of *all* squared entries. Per activation `a`:

    .. math::
        \\mathrm{HP}_a = \\overline{\\mathrm{Var}_r[D]}, \\qquad
        \\mathrm{NHP}_a = \\overline{\\mathrm{Var}_r[D]} /
            (\\overline{\\mathrm{Var}_g[D]} + 10^{-10})

    (means over the activation's elements); the results are summed over the activations.

    Args:
      fn: `[batch, num_latents] -> {name: [batch, ...]}` activations to regularize; must treat
        examples independently (no batch statistics).
      z: latents `[batch, num_latents]`.
      key: PRNG key for the directions.
      scale: per-latent scales `[num_latents]` (Tripod: the latents' batch std).
      num_perturbations: `K` (Tripod: 2).
      epsilon: finite-difference step relative to `scale` (Tripod: 0.1).

    Returns:
      :class:`HessianPenalty` of `[batch]` arrays.
    """
    z, h = _check_latents(z, scale, "normalized_hessian_penalty")
    if num_perturbations < 2:
        raise ValueError(f"num_perturbations must be >= 2 (a variance); got {num_perturbations}")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0; got {epsilon}")
    k_rad, k_norm = jax.random.split(key)
    f_z = fn(z)

    def second_differences(v):  # v: [K, batch, L] -> {name: [K, batch, ...]}
        def one(vk):
            return jax.tree.map(
                lambda p, c, m: (p - 2.0 * c + m) / epsilon**2, fn(z + vk), f_z, fn(z - vk)
            )

        return jax.vmap(one)(v)

    shape = (num_perturbations, *z.shape)
    h = h[None, None, :]
    rad = second_differences(epsilon * jax.random.rademacher(k_rad, shape, z.dtype) * h)
    gau = second_differences(epsilon * jax.random.normal(k_norm, shape, z.dtype) * h)

    def per_example_mean_var(d):  # [K, batch, ...] -> [batch]
        var = jnp.var(d, axis=0)
        return jnp.mean(var.reshape(var.shape[0], -1), axis=-1)

    normalized = jnp.zeros(z.shape[:1], z.dtype)
    unnormalized = jnp.zeros(z.shape[:1], z.dtype)
    for name in sorted(f_z):  # a handful of named activations: unrolled on purpose
        off = per_example_mean_var(rad[name])
        total = per_example_mean_var(gau[name])
        unnormalized = unnormalized + off
        normalized = normalized + off / (total + 1e-10)
    return HessianPenalty(normalized, unnormalized)

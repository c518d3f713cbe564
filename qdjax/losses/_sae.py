"""Sparse-autoencoder kernels: activations with custom gradients and the SAE loss terms.

Pure functions of arrays (no flax). The activations that need a surrogate gradient live
here so that the model (`qdjax.nn.SparseAutoencoder`) and any user model share them:

- :func:`jumprelu` and :func:`heaviside_step` with the straight-through *kernel
  pseudo-derivative* of Rajamanoharan et al. (2024) for the threshold;
- :func:`topk_activation` (per example) and :func:`batch_topk_activation` (over the batch);
- :func:`soft_threshold` (the ISTA proximal step).

Loss terms return per-example values; the caller reduces (STYLE.md):
:func:`sae_reconstruction_error`, :func:`l1_sparsity`, :func:`l0_sparsity`,
:func:`auxk_loss`, :func:`fraction_variance_unexplained`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike


def _rectangle(u: Array) -> Array:
    """The rectangle kernel K(u) = 1{|u| < 1/2}."""
    return (jnp.abs(u) < 0.5).astype(u.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def heaviside_step(z: ArrayLike, threshold: ArrayLike, bandwidth: float) -> Array:
    """H(z - θ) with a kernel pseudo-derivative for θ.

    .. math::
       \\frac{\\partial H(z-\\theta)}{\\partial \\theta} :=
       -\\frac{1}{\\varepsilon} K\\!\\left(\\frac{z-\\theta}{\\varepsilon}\\right),
       \\qquad \\frac{\\partial H}{\\partial z} := 0,

    with K the rectangle kernel and ε = ``bandwidth`` (Rajamanoharan et al., 2024, Eq. 11).
    Summed over latents this is the L0 norm whose threshold gradient JumpReLU SAEs train.

    Args:
      z: pre-activations ``[..., width]``.
      threshold: θ, broadcastable to ``z`` (positive).
      bandwidth: ε > 0 of the pseudo-derivative.

    Returns:
      ``(z > θ)`` as ``z``'s dtype.
    """
    z = jnp.asarray(z)
    return (z > jnp.broadcast_to(threshold, z.shape)).astype(z.dtype)


def _step_fwd(z, threshold, bandwidth):
    return heaviside_step(z, threshold, bandwidth), (z, threshold)


def _step_bwd(bandwidth, res, g):
    z, threshold = res
    t = jnp.broadcast_to(threshold, z.shape)
    dtheta = -(1.0 / bandwidth) * _rectangle((z - t) / bandwidth) * g
    return jnp.zeros_like(z), _sum_to(dtheta, jnp.shape(threshold))


heaviside_step.defvjp(_step_fwd, _step_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def jumprelu(z: ArrayLike, threshold: ArrayLike, bandwidth: float) -> Array:
    """JumpReLU z · H(z - θ) with a straight-through kernel pseudo-derivative for θ.

    .. math::
       \\frac{\\partial}{\\partial \\theta} z H(z-\\theta) :=
       -\\frac{\\theta}{\\varepsilon} K\\!\\left(\\frac{z-\\theta}{\\varepsilon}\\right),
       \\qquad \\frac{\\partial}{\\partial z} z H(z-\\theta) := H(z-\\theta).

    References: Rajamanoharan et al., "Jumping Ahead: Improving Reconstruction Fidelity with
    JumpReLU Sparse Autoencoders" (2024), Eqs. 10-11.

    Example:
      >>> import jax.numpy as jnp
      >>> jumprelu(jnp.array([0.1, 0.5]), jnp.array([0.2, 0.2]), 0.01).tolist()
      [0.0, 0.5]
    """
    z = jnp.asarray(z)
    return z * (z > jnp.broadcast_to(threshold, z.shape)).astype(z.dtype)


def _jump_fwd(z, threshold, bandwidth):
    return jumprelu(z, threshold, bandwidth), (z, threshold)


def _jump_bwd(bandwidth, res, g):
    z, threshold = res
    t = jnp.broadcast_to(threshold, z.shape)
    active = (z > t).astype(z.dtype)
    dtheta = -(t / bandwidth) * _rectangle((z - t) / bandwidth) * g
    return active * g, _sum_to(dtheta, jnp.shape(threshold))


jumprelu.defvjp(_jump_fwd, _jump_bwd)


def _sum_to(x: Array, shape: tuple[int, ...]) -> Array:
    """Sums a broadcast gradient back to `shape` (leading and size-1 axes)."""
    lead = x.ndim - len(shape)
    x = jnp.sum(x, axis=tuple(range(lead))) if lead else x
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    return jnp.sum(x, axis=axes, keepdims=True) if axes else x


def topk_activation(pre: ArrayLike, *, k: int) -> Array:
    """Keeps the k largest pre-activations of each example (ReLU'd), zeroes the rest.

    Gradient flows to the kept entries only (Gao et al., "Scaling and evaluating sparse
    autoencoders", 2024).

    Args:
      pre: ``[batch, width]`` pre-activations.
      k: number of active latents per example, ``1 <= k < width``.

    Returns:
      ``[batch, width]`` codes with at most k non-zeros per row.
    """
    pre = jnp.asarray(pre)
    width = pre.shape[-1]
    if not 1 <= k < width:
        raise ValueError(f"k must satisfy 1 <= k < width ({width}); got k={k}")
    values, idx = jax.lax.top_k(pre, k)
    rows = jnp.arange(pre.shape[0])[:, None]
    return jnp.zeros_like(pre).at[rows, idx].set(jax.nn.relu(values))


def batch_topk_activation(pre: ArrayLike, *, k: int) -> Array:
    """Keeps the ``k · batch`` largest pre-activations over the whole batch (BatchTopK).

    Examples may use more or fewer than k latents; the batch mean L0 is at most k
    (Bussmann et al., "BatchTopK Sparse Autoencoders", 2024).
    """
    pre = jnp.asarray(pre)
    batch, width = pre.shape
    if not 1 <= k < width:
        raise ValueError(f"k must satisfy 1 <= k < width ({width}); got k={k}")
    flat = pre.reshape(-1)
    values, idx = jax.lax.top_k(flat, k * batch)
    return jnp.zeros_like(flat).at[idx].set(jax.nn.relu(values)).reshape(batch, width)


def soft_threshold(u: ArrayLike, threshold: ArrayLike, *, nonnegative: bool = True) -> Array:
    """The proximal map of ``threshold · ||z||_1`` (restricted to z ≥ 0 if ``nonnegative``).

    .. math:: \\mathrm{prox}(u) = \\mathrm{sign}(u)\\,\\max(|u| - t, 0)
              \\quad\\text{or}\\quad \\max(u - t, 0).
    """
    u = jnp.asarray(u)
    if nonnegative:
        return jax.nn.relu(u - threshold)
    return jnp.sign(u) * jax.nn.relu(jnp.abs(u) - threshold)


def sae_reconstruction_error(x_hat: ArrayLike, x: ArrayLike) -> Array:
    """Per-example squared error ``||x - x_hat||²`` summed over features: ``[batch]``."""
    x_hat, x = jnp.asarray(x_hat), jnp.asarray(x)
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat shape {x_hat.shape} must equal x shape {x.shape}")
    return jnp.sum(jnp.square(x - x_hat), axis=-1)


def l1_sparsity(z: ArrayLike, *, decoder_norms: ArrayLike | None = None) -> Array:
    """Per-example ``Σ_i |z_i| · ||d_i||`` (``decoder_norms`` = 1 when columns are unit norm).

    Passing ``decoder_norms`` is the "fold the norm into the penalty" alternative to
    unit-norm decoder columns (Anthropic, April 2024 update); qdjax's SAE keeps columns
    unit norm instead, so it calls this without ``decoder_norms``.
    """
    z = jnp.abs(jnp.asarray(z))
    if decoder_norms is not None:
        z = z * jnp.asarray(decoder_norms)
    return jnp.sum(z, axis=-1)


def l0_sparsity(pre: ArrayLike, threshold: ArrayLike, *, bandwidth: float = 1e-3) -> Array:
    """Per-example ``Σ_i H(pre_i - θ_i)`` with the kernel pseudo-derivative for θ.

    The JumpReLU L0 penalty: its gradient reaches only the thresholds (see
    :func:`heaviside_step`).
    """
    return jnp.sum(heaviside_step(jnp.asarray(pre), jnp.asarray(threshold), bandwidth), axis=-1)


def auxk_loss(residual: ArrayLike, aux_x_hat: ArrayLike) -> Array:
    """AuxK: normalised squared error of the dead latents' reconstruction of the residual.

    .. math:: \\mathcal{L}_{aux} = \\frac{\\|e - \\hat e\\|^2}{\\|e - \\bar e\\|^2},
              \\quad e = \\mathrm{sg}(x - \\hat x)

    where ``aux_x_hat`` = ê is the decoder applied (without bias) to the top ``k_aux``
    pre-activations of the dead latents. Returns a scalar (it is normalised by the batch
    variance of the residual, as in Gao et al. 2024, App. A.2); the residual is detached.
    """
    e = jax.lax.stop_gradient(jnp.asarray(residual))
    err = jnp.sum(jnp.square(e - jnp.asarray(aux_x_hat)))
    var = jnp.sum(jnp.square(e - jnp.mean(e, axis=0, keepdims=True)))
    return err / jnp.maximum(var, 1e-12)


def fraction_variance_unexplained(x_hat: ArrayLike, x: ArrayLike) -> Array:
    """``Σ ||x - x̂||² / Σ ||x - x̄||²`` over the batch (a scalar; 0 is perfect)."""
    x_hat, x = jnp.asarray(x_hat), jnp.asarray(x)
    if x_hat.shape != x.shape or x.ndim < 1:
        raise ValueError(
            f"fraction_variance_unexplained: x_hat {x_hat.shape} and x {x.shape} must have the "
            "same [batch, ...] shape"
        )
    err = jnp.sum(jnp.square(x - x_hat))
    var = jnp.sum(jnp.square(x - jnp.mean(x, axis=0, keepdims=True)))
    return err / jnp.maximum(var, 1e-12)

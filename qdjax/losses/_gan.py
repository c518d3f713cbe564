"""Kernels of the (Info)WGAN-GP objective: critic and generator losses, gradient penalty and the
InfoGAN latent-regression loss. The critic's gradient w.r.t. its input is computed by the
caller (it needs the model); the penalty kernel only takes that gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike


def _as_vector(v: ArrayLike, fn: str) -> Array:
    v = jnp.asarray(v)
    if v.ndim == 2 and v.shape[-1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"{fn}: critic values must be [batch] or [batch, 1]; got {v.shape}")
    return v


def gradient_penalty(gradients: ArrayLike, *, target: float = 1.0) -> Array:
    """Per-example WGAN-GP penalty on the critic's input gradient.

    .. math:: \\ell_b = (\\lVert \\nabla_x D(\\hat x_b) \\rVert_2 - \\mathrm{target})^2

    with :math:`\\hat x_b = \\epsilon_b x_b + (1 - \\epsilon_b) \\tilde x_b` interpolating real
    and generated data. The norm is taken over all non-batch axes; a tiny constant inside the
    square root keeps the gradient finite at a zero input gradient.

    Args:
      gradients: `[batch, ...]` gradient of the critic value of each example w.r.t. its input.
      target: the Lipschitz target (1 for WGAN-GP).

    Returns:
      `[batch]` penalty.

    References:
      Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.

    Example:
      >>> float(gradient_penalty(jnp.array([[3.0, 4.0]]))[0])
      16.0
    """
    g = jnp.asarray(gradients)
    if g.ndim < 1:
        raise ValueError("gradient_penalty: gradients must be [batch, ...]")
    sq = jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), axis=-1)
    norm = jnp.sqrt(sq + 1e-12)
    return jnp.square(norm - target)


def wgan_critic_loss(real_values: ArrayLike, fake_values: ArrayLike) -> Array:
    """Per-example Wasserstein critic loss `D(x_fake) - D(x_real)` (to minimize), `[batch]`.

    Example:
      >>> float(wgan_critic_loss(jnp.array([2.0]), jnp.array([0.5]))[0])
      -1.5
    """
    real = _as_vector(real_values, "wgan_critic_loss")
    fake = _as_vector(fake_values, "wgan_critic_loss")
    if real.shape != fake.shape:
        raise ValueError(f"wgan_critic_loss: shapes {real.shape} and {fake.shape} differ")
    return fake - real


def wgan_generator_loss(fake_values: ArrayLike) -> Array:
    """Per-example Wasserstein generator loss `-D(x_fake)`, `[batch]`."""
    return -_as_vector(fake_values, "wgan_generator_loss")


def latent_regression_loss(z_predicted: ArrayLike, z_true: ArrayLike) -> Array:
    """InfoGAN latent loss for continuous/quantized codes: mean squared error over latents.

    .. math:: \\ell_b = \\frac1L \\sum_i (\\hat z_{bi} - z_{bi})^2

    (the Gaussian mutual-information lower bound with fixed variance, up to constants).

    Args:
      z_predicted: codes predicted from generated data `[batch, num_latents]`.
      z_true: codes the generator was given `[batch, num_latents]`.

    Returns:
      `[batch]` loss.

    References:
      Chen et al., "InfoGAN", NeurIPS 2016.
    """
    zp, zt = jnp.asarray(z_predicted), jnp.asarray(z_true)
    if zp.shape != zt.shape or zp.ndim != 2:
        raise ValueError(
            f"latent_regression_loss: shapes {zp.shape} and {zt.shape} must both be "
            "[batch, num_latents]"
        )
    return jnp.mean(jnp.square(zp - zt), axis=-1)


def interpolate(key: jax.Array, x_real: ArrayLike, x_fake: ArrayLike) -> Array:
    """Random per-example interpolates `eps x_real + (1 - eps) x_fake`, `eps ~ U[0, 1]`.

    (A helper, not a loss: the one kernel here that takes a key.)
    """
    xr, xf = jnp.asarray(x_real), jnp.asarray(x_fake)
    eps = jax.random.uniform(key, (xr.shape[0],) + (1,) * (xr.ndim - 1), xr.dtype)
    return eps * xr + (1.0 - eps) * xf

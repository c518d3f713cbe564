"""Wasserstein GAN losses and the WGAN-GP gradient penalty (pure functions of a critic)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike


def _check_scores(scores: Array, fn: str, name: str) -> Array:
    scores = jnp.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"{fn}: {name} must be per-example scores [batch]; got {scores.shape}")
    return scores


def wasserstein_critic_loss(real_scores: ArrayLike, fake_scores: ArrayLike) -> Array:
    """Critic loss: the negated Kantorovich-Rubinstein estimate of `W(p_data, p_G)`.

    .. math:: \\ell_D = \\frac1{M'} \\sum_b D(\\tilde x_b) - \\frac1M \\sum_b D(x_b)

    Args:
      real_scores: critic outputs on real data, `[batch]`.
      fake_scores: critic outputs on generated data, `[batch']`.

    Returns:
      scalar loss (minimized by the critic).

    References:
      Arjovsky, Chintala, Bottou, Wasserstein GAN, ICML 2017.

    Example:
      >>> float(wasserstein_critic_loss(jnp.array([2.0, 0.0]), jnp.array([0.5])))
      -0.5
    """
    real = _check_scores(real_scores, "wasserstein_critic_loss", "real_scores")
    fake = _check_scores(fake_scores, "wasserstein_critic_loss", "fake_scores")
    return jnp.mean(fake) - jnp.mean(real)


def wasserstein_generator_loss(fake_scores: ArrayLike) -> Array:
    """Generator loss :math:`\\ell_G = -\\frac1{M'} \\sum_b D(\\tilde x_b)` (scalar).

    Example:
      >>> float(wasserstein_generator_loss(jnp.array([1.0, 3.0])))
      -2.0
    """
    fake = _check_scores(fake_scores, "wasserstein_generator_loss", "fake_scores")
    return -jnp.mean(fake)


def gradient_penalty(
    critic_fn: Callable[[Array], Array],
    real: ArrayLike,
    fake: ArrayLike,
    key: jax.Array,
    *,
    target: float = 1.0,
) -> Array:
    """WGAN-GP penalty on random interpolates of real and generated examples, per example.

    .. math::
        \\hat x_b = \\epsilon_b x_b + (1 - \\epsilon_b) \\tilde x_b, \\quad
        \\epsilon_b \\sim U[0, 1], \\qquad
        \\ell_b = (\\lVert \\nabla_{\\hat x} D(\\hat x_b) \\rVert_2 - \\gamma)^2

    The gradient of each score is taken with respect to its own input via the
    gradient of `sum_b D(x_hat_b)`, which is exact when `critic_fn` treats examples
    independently (no batch norm, no batch-level statistics). The caller multiplies
    the mean by λ (10 in Gulrajani et al.).

    Args:
      critic_fn: `[batch, ...] -> [batch]` critic scores (a closure over the critic).
      real: real examples, `[batch, ...]`.
      fake: generated examples, same shape as `real`.
      key: PRNG key for the interpolation weights.
      target: the target gradient norm γ (1 for WGAN-GP).

    Returns:
      `[batch]` squared deviation of the input-gradient norm from `target`.

    References:
      Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017
      (arXiv:1704.00028).

    Example:
      >>> critic = lambda x: x @ jnp.array([0.6, 0.8])  # unit-norm gradient everywhere
      >>> x = jnp.ones((3, 2))
      >>> float(gradient_penalty(critic, x, -x, jax.random.key(0)).max()) < 1e-10
      True
    """
    real, fake = jnp.asarray(real), jnp.asarray(fake)
    if real.shape != fake.shape or real.ndim < 2:
        raise ValueError(
            f"gradient_penalty: real {real.shape} and fake {fake.shape} must both be [batch, ...]"
        )
    eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = jax.random.uniform(key, eps_shape, dtype=real.dtype)
    x_hat = eps * real + (1.0 - eps) * fake

    def total(x):
        scores = critic_fn(x)
        if scores.shape != (x.shape[0],):
            raise ValueError(
                f"gradient_penalty: critic_fn must return [batch] scores; got {scores.shape}"
            )
        return jnp.sum(scores)

    grads = jax.grad(total)(x_hat).reshape(real.shape[0], -1)
    # sqrt(sum g^2 + tiny): finite gradient of the penalty where the gradient vanishes
    norm = jnp.sqrt(jnp.sum(jnp.square(grads), axis=-1) + 1e-12)
    return jnp.square(norm - target)

"""WGAN-GP: gradient penalty vs closed forms; Wasserstein critic/generator losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdjax.losses._wgan import (
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)


def _images(key, shape=(6, 4, 4, 2)):
    k1, k2 = jax.random.split(key)
    return jax.random.normal(k1, shape), jax.random.normal(k2, shape)


def test_zero_for_unit_norm_linear_critic():
    real, fake = _images(jax.random.key(0))
    w = jax.random.normal(jax.random.key(1), real.shape[1:])
    w = w / jnp.linalg.norm(w)
    critic = lambda x: jnp.sum(x * w[None], axis=(1, 2, 3))  # noqa: E731
    gp = jax.jit(lambda r, f, k: gradient_penalty(critic, r, f, k))(real, fake, jax.random.key(2))
    assert gp.shape == (6,)
    np.testing.assert_allclose(gp, 0.0, atol=1e-10)


def test_linear_critic_closed_form():
    real, fake = _images(jax.random.key(0))
    w = 3.0 * jax.random.normal(jax.random.key(1), real.shape[1:])
    critic = lambda x: jnp.sum(x * w[None], axis=(1, 2, 3))  # noqa: E731
    gp = gradient_penalty(critic, real, fake, jax.random.key(2), target=0.5)
    # constant gradient w: (||w|| - target)^2 for every example, whatever the interpolation
    np.testing.assert_allclose(gp, (float(jnp.linalg.norm(w)) - 0.5) ** 2, rtol=1e-5)


def test_quadratic_critic_closed_form():
    real, fake = _images(jax.random.key(3), (5, 7))
    key = jax.random.key(4)
    critic = lambda x: 0.5 * jnp.sum(x**2, axis=-1)  # noqa: E731  grad = x
    gp = gradient_penalty(critic, real, fake, key)
    # same interpolation weights as the kernel (uniform [batch, 1] from the same key)
    eps = np.asarray(jax.random.uniform(key, (5, 1)))
    x_hat = eps * np.asarray(real) + (1 - eps) * np.asarray(fake)
    np.testing.assert_allclose(gp, (np.linalg.norm(x_hat, axis=-1) - 1.0) ** 2, rtol=1e-5)
    assert np.all(np.asarray(gp) > 0)


def test_gradient_penalty_differentiable_wrt_critic_params():
    real, fake = _images(jax.random.key(5), (4, 3))

    def penalty(w):
        return jnp.mean(gradient_penalty(lambda x: x @ w, real, fake, jax.random.key(0)))

    w = jnp.array([1.0, 2.0, 2.0])  # ||w|| = 3: d/dw (||w|| - 1)^2 = 2 (3 - 1) w / 3
    np.testing.assert_allclose(jax.grad(penalty)(w), 4.0 * w / 3.0, rtol=1e-5)


def test_wasserstein_losses():
    real, fake = jnp.array([1.0, 2.0, 3.0]), jnp.array([0.0, -1.0])
    np.testing.assert_allclose(wasserstein_critic_loss(real, fake), -0.5 - 2.0, rtol=1e-6)
    np.testing.assert_allclose(wasserstein_generator_loss(fake), 0.5, rtol=1e-6)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\[batch\]"):
        wasserstein_critic_loss(jnp.zeros((3, 1)), jnp.zeros((3,)))
    with pytest.raises(ValueError, match="same|batch"):
        gradient_penalty(lambda x: x[:, 0], jnp.zeros((3, 2)), jnp.zeros((4, 2)), jax.random.key(0))
    with pytest.raises(ValueError, match=r"\[batch\] scores"):
        gradient_penalty(lambda x: x, jnp.zeros((3, 2)), jnp.zeros((3, 2)), jax.random.key(0))

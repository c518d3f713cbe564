"""Reconstruction and Gaussian-KL kernels against closed forms and NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from qdjax import losses


def test_squared_error_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 3, 4))
    out = jax.jit(losses.squared_error)(a.astype(np.float32), b.astype(np.float32))
    np.testing.assert_allclose(out, ((a - b) ** 2).reshape(5, -1).sum(1), rtol=1e-5)


def test_bernoulli_nll_matches_naive_formula_and_is_stable():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 6)) * 3
    x = rng.uniform(size=(4, 6))
    p = 1 / (1 + np.exp(-logits))
    ref = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    out = jax.jit(losses.bernoulli_nll)(logits.astype(np.float32), x.astype(np.float32))
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    big = losses.bernoulli_nll(jnp.array([[1000.0, -1000.0]]), jnp.array([[0.0, 1.0]]))
    np.testing.assert_allclose(big, [2000.0], rtol=1e-6)


def test_gaussian_kl_closed_form_and_gradients():
    mean = np.array([[0.5, -1.0]], np.float32)
    logvar = np.array([[np.log(2.0), 0.0]], np.float32)
    # 0.5 * [(0.25 + 2 - ln2 - 1) + (1 + 1 - 0 - 1)]
    expected = 0.5 * ((0.25 + 2 - np.log(2) - 1) + 1.0)
    np.testing.assert_allclose(jax.jit(losses.gaussian_kl)(mean, logvar), [expected], rtol=1e-6)
    with jax.enable_x64(True):
        m = jnp.asarray(mean, jnp.float64)
        v = jnp.asarray(logvar, jnp.float64)
        check_grads(lambda a, b: losses.gaussian_kl(a, b).sum(), (m, v), order=2)


def test_gaussian_sample_has_the_posterior_moments():
    key = jax.random.key(0)
    mean = jnp.full((20_000, 2), 1.5)
    logvar = jnp.log(jnp.full((20_000, 2), 0.25))
    z = losses.gaussian_sample(key, mean, logvar)
    np.testing.assert_allclose(z.mean(0), 1.5, atol=0.02)
    np.testing.assert_allclose(z.std(0), 0.5, atol=0.02)


@pytest.mark.parametrize("fn", [losses.squared_error, losses.bernoulli_nll], ids=["mse", "bce"])
def test_shape_mismatch_is_a_value_error(fn):
    with pytest.raises(ValueError, match="same shape"):
        fn(jnp.zeros((2, 3)), jnp.zeros((2, 4)))

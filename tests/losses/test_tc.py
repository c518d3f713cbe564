"""β-TCVAE total correlation (minibatch-weighted sampling) vs Gaussian closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdjax.losses._tc import total_correlation


def _gaussian_tc(cov):
    """TC of N(0, cov) = 0.5 (sum_i log cov_ii - log det cov)."""
    return 0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1])


def _posterior_batch(key, n, mean_cov, post_var):
    """Means ~ N(0, mean_cov), z ~ N(mean, v I): aggregate q(z) = N(0, mean_cov + v I)."""
    k1, k2 = jax.random.split(key)
    d = mean_cov.shape[0]
    mean = jax.random.normal(k1, (n, d)) @ jnp.asarray(np.linalg.cholesky(mean_cov)).T
    logvar = jnp.full((n, d), np.log(post_var), jnp.float32)
    z = mean + np.sqrt(post_var) * jax.random.normal(k2, (n, d))
    return z, mean, logvar


def test_identical_posteriors_give_zero():
    mean = jnp.asarray(np.random.default_rng(0).normal(size=(1, 3)), jnp.float32)
    mean = jnp.tile(mean, (16, 1))
    z = mean + 0.3
    tc = jax.jit(lambda *a: total_correlation(*a, dataset_size=1000))(z, mean, jnp.zeros_like(z))
    np.testing.assert_allclose(tc, 0.0, atol=1e-5)


@pytest.mark.parametrize("rho", [0.0, 0.8], ids=["independent", "correlated"])
def test_matches_gaussian_closed_form(rho):
    d, n, v = 2, 2000, 0.3
    mean_cov = np.array([[1.0, rho], [rho, 1.0]]) * (1.0 - v)
    z, mean, logvar = _posterior_batch(jax.random.key(0), n, mean_cov, v)
    tc = float(jnp.mean(jax.jit(lambda *a: total_correlation(*a, dataset_size=n))(z, mean, logvar)))
    expected = _gaussian_tc(mean_cov + v * np.eye(d))  # 0 and 0.188 nats
    assert abs(tc - expected) < 0.05, (tc, expected)
    if rho:
        assert tc > 0.1


def test_invariant_to_latent_permutation_and_equivariant_to_batch_order():
    z, mean, logvar = _posterior_batch(jax.random.key(1), 64, np.eye(3) * 0.5, 0.2)
    fn = jax.jit(lambda *a: total_correlation(*a, dataset_size=500))
    tc = fn(z, mean, logvar)
    perm = np.array([2, 0, 1])
    tc_p = fn(z[:, perm], mean[:, perm], logvar[:, perm])
    np.testing.assert_allclose(tc_p, tc, rtol=1e-5, atol=1e-5)
    order = np.random.default_rng(0).permutation(64)
    tc_o = fn(z[order], mean[order], logvar[order])
    np.testing.assert_allclose(tc_o, tc[order], rtol=1e-5, atol=1e-5)


def test_finite_gradients():
    z, mean, logvar = _posterior_batch(jax.random.key(2), 32, np.eye(2), 0.1)
    loss = lambda m, lv: jnp.mean(total_correlation(z, m, lv, dataset_size=100))  # noqa: E731
    g = jax.jit(jax.grad(loss, argnums=(0, 1)))(mean, logvar)
    assert all(np.all(np.isfinite(x)) for x in g)


def test_bad_inputs():
    with pytest.raises(ValueError, match="batch, num_latents"):
        total_correlation(jnp.zeros((4, 2)), jnp.zeros((4, 3)), jnp.zeros((4, 2)), dataset_size=10)
    with pytest.raises(ValueError, match="dataset_size"):
        total_correlation(jnp.zeros((4, 2)), jnp.zeros((4, 2)), jnp.zeros((4, 2)), dataset_size=0)


def test_dataset_size_weights():
    # N = M: uniform 1/M weights, i.e. the exact TC of the batch mixture (NumPy reference)
    rng = np.random.default_rng(3)
    z, mean = rng.normal(size=(2, 6, 2))
    logvar = rng.normal(size=(6, 2)) * 0.3
    lq = -0.5 * (
        np.log(2 * np.pi) + logvar[None] + (z[:, None] - mean[None]) ** 2 / np.exp(logvar[None])
    )
    joint = np.log(np.mean(np.exp(lq.sum(-1)), axis=1))
    marg = np.log(np.mean(np.exp(lq), axis=1)).sum(-1)
    got = total_correlation(
        *(jnp.asarray(a, jnp.float32) for a in (z, mean, logvar)), dataset_size=6
    )
    np.testing.assert_allclose(got, joint - marg, rtol=1e-4, atol=1e-5)
    # N > M: the own posterior gets weight 1/N, the others (N-1)/(N(M-1))
    w = np.full((6, 6), 99 / (100 * 5))
    np.fill_diagonal(w, 1 / 100)
    joint = np.log(np.sum(w * np.exp(lq.sum(-1)), axis=1))
    marg = np.log(np.sum(w[:, :, None] * np.exp(lq), axis=1)).sum(-1)
    got = total_correlation(
        *(jnp.asarray(a, jnp.float32) for a in (z, mean, logvar)), dataset_size=100
    )
    np.testing.assert_allclose(got, joint - marg, rtol=1e-4, atol=1e-5)


def test_rejects_integer_and_nonfinite_inputs_like_cliff():
    # Before: integer z truncated the log-weights log(1/N) to integers (a wrong, finite TC).
    zi = jnp.zeros((8, 2), jnp.int32)
    zf = jnp.zeros((8, 2), jnp.float32)
    with pytest.raises(TypeError, match="z must be floating point; got int32"):
        total_correlation(zi, zf, zf, dataset_size=100)
    with pytest.raises(TypeError, match="mean must be floating point"):
        total_correlation(zf, zi, zf, dataset_size=100)
    with pytest.raises(TypeError, match="logvar must be floating point"):
        total_correlation(zf, zf, zi, dataset_size=100)
    bad = np.zeros((8, 2), np.float32)
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match=r"z holds NaN or Inf values in rows \[5\]"):
        total_correlation(bad, zf, zf, dataset_size=100)
    with pytest.raises(ValueError, match=r"logvar holds NaN or Inf values in rows \[5\]"):
        total_correlation(zf, zf, bad, dataset_size=100)
    # the float codes of the same (identical) posteriors give 0, as q(z) factorizes exactly
    np.testing.assert_allclose(total_correlation(zf, zf, zf, dataset_size=100), 0.0, atol=1e-5)

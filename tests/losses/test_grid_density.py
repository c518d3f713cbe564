"""`grid_log_prob`: a normalized density for every temperature, the hard grid density in the
limit, stable soft indicators, and one-line shape errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdjax import data, losses


def _params(k=3, d=2, seed=0):
    rng = np.random.default_rng(seed)
    lower = rng.normal(size=d).astype(np.float32)
    widths = rng.uniform(0.3, 2.0, (d, k)).astype(np.float32)
    logits = rng.normal(size=(k,) * d).astype(np.float32)
    return jnp.asarray(lower), jnp.asarray(widths), jnp.asarray(logits)


@pytest.mark.parametrize("temperature", [0.2, 0.05, 0.01])
def test_integrates_to_one_in_1d(temperature):
    lower, widths, logits = _params(k=4, d=1)
    span = float(jnp.sum(widths))
    t = np.linspace(float(lower[0]) - 3 * span, float(lower[0]) + 4 * span, 400_001)
    p = np.exp(
        np.asarray(
            losses.grid_log_prob(
                jnp.asarray(t[:, None]), lower, widths, logits, temperature=temperature
            ),
            np.float64,
        )
    )
    np.testing.assert_allclose(np.trapezoid(p, t), 1.0, atol=2e-4)


def test_integrates_to_one_in_2d_with_dependent_cells():
    lower, widths, logits = _params(k=3, d=2, seed=1)
    ends = lower + jnp.sum(widths, axis=1)
    axes = [np.linspace(float(lo) - 2.0, float(hi) + 2.0, 801) for lo, hi in zip(lower, ends)]
    g = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    lp = losses.grid_log_prob(jnp.asarray(g, jnp.float32), lower, widths, logits, temperature=0.02)
    p = np.exp(np.asarray(lp, np.float64)).reshape(801, 801)
    total = np.trapezoid(np.trapezoid(p, axes[1], axis=1), axes[0])
    np.testing.assert_allclose(total, 1.0, atol=2e-3)


def test_small_temperature_is_the_hard_grid_density():
    lower, widths, logits = _params(k=3, d=2, seed=2)
    edges = np.asarray(losses.grid_edges(lower, widths), np.float64)
    probs = np.exp(np.asarray(logits, np.float64))
    probs /= probs.sum()
    density = data.GridDensity(tuple(edges), probs)
    rng = np.random.default_rng(0)
    z, _ = density.sample(2000, rng)
    # away from the cliffs (beyond 20 logistic widths, tau = 1e-4 of the support) they agree
    near = np.zeros(len(z), bool)
    for k in range(2):
        near |= np.min(np.abs(z[:, k : k + 1] - edges[k][None]), axis=1) < 20 * 1e-4 * (
            edges[k][-1] - edges[k][0]
        )
    lp = losses.grid_log_prob(jnp.asarray(z, jnp.float32), lower, widths, logits, temperature=1e-4)
    np.testing.assert_allclose(np.asarray(lp)[~near], density.log_prob(z)[~near], atol=2e-3)
    assert (~near).mean() > 0.9


def test_soft_indicator_matches_the_naive_formula_and_stays_finite():
    a = np.array([1.0, 0.3, 5.0, -2.0])
    b = np.array([-1.0, 0.2, 4.0, -7.0])
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    np.testing.assert_allclose(
        np.asarray(losses.log_soft_indicator(a, b)), np.log(sig(a) - sig(b)), rtol=1e-5
    )
    far = losses.log_soft_indicator(jnp.array([80.0, -79.0]), jnp.array([79.0, -80.0]))
    assert np.all(np.isfinite(np.asarray(far)))
    # both deep in one tail: sigma(a) - sigma(b) ~ e^{-79}(1 - e^{-1})
    np.testing.assert_allclose(float(far[0]), -79.0 + np.log1p(-np.exp(-1.0)), rtol=1e-4)


def test_gradients_are_finite_far_outside_the_support():
    lower, widths, logits = _params(k=4, d=2)
    z = jnp.array([[50.0, -40.0], [0.0, 0.0]])
    g = jax.grad(
        lambda z: jnp.sum(losses.grid_log_prob(z, lower, widths, logits, temperature=0.01))
    )(z)
    assert np.all(np.isfinite(np.asarray(g)))


def test_shape_errors_are_one_line():
    lower, widths, logits = _params(k=3, d=2)
    with pytest.raises(ValueError, match="logits must have shape"):
        losses.grid_log_prob(jnp.zeros((4, 2)), lower, widths, logits[0])
    with pytest.raises(ValueError, match="z must be"):
        losses.grid_log_prob(jnp.zeros(4), lower, widths, logits)
    with pytest.raises(ValueError, match="lower must be"):
        losses.grid_log_prob(jnp.zeros((4, 3)), lower, widths, logits)
    for bad in (0.0, -0.01):  # 0 gave NaN log-densities, silently
        with pytest.raises(ValueError, match="temperature must be > 0"):
            losses.grid_log_prob(jnp.zeros((4, 2)), lower, widths, logits, temperature=bad)
    # a traced temperature (a schedule inside jit) is not checked, and works
    lp = jax.jit(
        lambda t: losses.grid_log_prob(jnp.zeros((4, 2)), lower, widths, logits, temperature=t)
    )
    assert np.all(np.isfinite(np.asarray(lp(0.05))))
    # a constant temperature closed over inside jit is checked without tracing the check
    const = jax.jit(lambda z: losses.grid_log_prob(z, lower, widths, logits, temperature=0.05))
    assert np.all(np.isfinite(np.asarray(const(jnp.zeros((4, 2))))))

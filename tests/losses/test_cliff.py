"""Tests for the Cliff kernels (qdjax/losses/_cliff.py).

The reference below is written independently of the kernels: NumPy float64, Python loops over
latents, pairs and conditioning values, and densities / derivatives evaluated one grid point at
a time directly from the formulas in the docstrings (no shared helpers, no einsum).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from qdjax.losses import _cliff
from tests.losses.contract import check_kernel_contract

SQRT3 = math.sqrt(3.0)
SMALL = dict(grid_size=24, grid_range=4.0, num_conditioning=4)


def _gauss(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def reference_terms(z, *, bandwidth, grid_size, grid_range, num_conditioning, eps=1e-6):
    """Univariate [d], bivariate [d, d] and uniform-KL [d] terms, straight from the formulas."""
    z = np.asarray(z, np.float64)
    num, d = z.shape
    zs = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + eps)
    h = bandwidth
    grid = np.linspace(-grid_range, grid_range, grid_size)

    def entropy(p):
        return -sum(pk * math.log(pk + eps) for pk in p)

    univariate = np.zeros(d)
    uniform = np.zeros(d)
    for i in range(d):
        deriv = np.array(
            [
                np.sum(-((t - zs[:, i]) / h) * _gauss((t - zs[:, i]) / h)) / (num * h * h)
                for t in grid
            ]
        )
        s = np.abs(deriv) / (np.abs(deriv).sum() + eps)
        univariate[i] = entropy(s)
        inside = [t for t in grid if abs(t) <= SQRT3]
        logs = [math.log(np.sum(_gauss((t - zs[:, i]) / h)) / (num * h) + eps) for t in inside]
        uniform[i] = -math.log(2.0 * SQRT3) - np.mean(logs)

    edges = np.linspace(-SQRT3, SQRT3, num_conditioning + 1)
    u = 0.5 * (edges[:-1] + edges[1:])
    bivariate = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            if i == j:
                continue
            dens_j = np.array([np.sum(_gauss((um - zs[:, j]) / h)) / (num * h) for um in u])
            pi = dens_j / dens_j.sum()
            qs = []
            for um in u:
                w = _gauss((zs[:, j] - um) / h)
                cond = np.array(
                    [
                        np.sum(w * -((t - zs[:, i]) / h) * _gauss((t - zs[:, i]) / h))
                        / (h * h * w.sum())
                        for t in grid
                    ]
                )
                qs.append(np.abs(cond) / (np.abs(cond).sum() + eps))
            mixture = sum(p * q for p, q in zip(pi, qs))
            bivariate[i, j] = entropy(mixture) - sum(p * entropy(q) for p, q in zip(pi, qs))
    return univariate, bivariate, uniform


_jit_loss = jax.jit(_cliff.cliff_loss)


def _mixed_batch(num=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    cols = [rng.uniform(size=num), rng.normal(size=num), rng.exponential(size=num)]
    return np.stack([cols[k % 3] * (k + 1) for k in range(d)], axis=1)


def _step(num, rng):
    """Density 0.5 on [0, 0.5) and 1.5 on [0.5, 1]: cliffs at 0, 0.5 and 1."""
    x = rng.uniform(size=num)
    return np.where(rng.uniform(size=num) < 0.25, 0.5 * x, 0.5 + 0.5 * x)


def _grid2d(num, rng):
    """Product of two piecewise-constant 3-cell densities on [0, 3]: an axis-aligned grid."""
    cols = [rng.choice(3, size=num, p=[0.2, 0.5, 0.3]) + rng.uniform(size=num) for _ in range(2)]
    return np.stack(cols, axis=1)


def _rotate(z, angle):
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return (z - z.mean(axis=0)) @ rot.T


# --- agreement with the reference -------------------------------------------------------------


@pytest.mark.parametrize("bandwidth", [0.3, 0.6], ids=["h0.3", "h0.6"])
def test_matches_reference_float64(bandwidth):
    z = _mixed_batch()
    uni, biv, unif = reference_terms(z, bandwidth=bandwidth, **SMALL)
    kw = dict(bandwidth=bandwidth, grid_size=SMALL["grid_size"], grid_range=SMALL["grid_range"])
    with jax.enable_x64(True):
        zj = jnp.asarray(z, jnp.float64)
        got_uni = jax.jit(lambda x: _cliff.cliff_univariate(x, **kw))(zj)
        got_biv = jax.jit(
            lambda x: _cliff.cliff_bivariate(x, num_conditioning=SMALL["num_conditioning"], **kw)
        )(zj)
        got_unif = jax.jit(lambda x: _cliff.cliff_uniform_kl(x, **kw))(zj)
        terms = jax.jit(lambda x: _cliff.cliff_loss(x, bandwidth=bandwidth, **SMALL))(zj)
    # float64 on both sides; only summation order differs.
    np.testing.assert_allclose(got_uni, uni, rtol=1e-10)
    np.testing.assert_allclose(got_biv, biv, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got_unif, unif, rtol=1e-10)
    np.testing.assert_allclose(terms.univariate, uni.mean(), rtol=1e-10)
    np.testing.assert_allclose(terms.bivariate, biv.sum() / 6.0, rtol=1e-9)
    np.testing.assert_allclose(terms.uniform, unif.mean(), rtol=1e-10)
    np.testing.assert_allclose(terms.total, uni.mean() + biv.sum() / 6.0 + unif.mean(), rtol=1e-9)


def test_matches_reference_float32():
    z = _mixed_batch(num=64, d=3, seed=1)
    uni, biv, unif = reference_terms(z, bandwidth=0.4, **SMALL)
    terms = jax.jit(lambda x: _cliff.cliff_loss(x, bandwidth=0.4, **SMALL))(
        jnp.asarray(z, jnp.float32)
    )
    assert terms.total.dtype == jnp.float32
    # float32 accumulation over the batch and the grid: relative error ~1e-6.
    np.testing.assert_allclose(terms.univariate, uni.mean(), rtol=1e-5)
    np.testing.assert_allclose(terms.bivariate, biv.sum() / 6.0, rtol=1e-4)
    np.testing.assert_allclose(terms.uniform, unif.mean(), rtol=1e-5)


def test_kde_marginals_integrates_to_one():
    z = jnp.asarray(_mixed_batch(num=200, d=2), jnp.float32)  # uniform, normal: inside +-4 std
    m = jax.jit(_cliff.kde_marginals)(z)
    spacing = float(m.grid[1] - m.grid[0])
    # Riemann sums on [-5, 5]: p integrates to 1 and p' to 0 (p vanishes at both ends).
    np.testing.assert_allclose(jnp.sum(m.density, axis=0) * spacing, 1.0, atol=2e-3)
    np.testing.assert_allclose(jnp.sum(m.derivative, axis=0) * spacing, 0.0, atol=2e-3)
    np.testing.assert_allclose(m.mean, np.mean(np.asarray(z), axis=0), rtol=1e-5)


def test_default_bandwidth_is_silverman():
    assert _cliff.silverman_bandwidth(1024) == pytest.approx(1.06 * 1024**-0.2)
    # floored at the grid spacing for huge batches
    assert _cliff.silverman_bandwidth(10**9) == pytest.approx(10.0 / 99.0)
    z = jnp.asarray(_mixed_batch(num=300, d=2), jnp.float32)
    h = _cliff.silverman_bandwidth(300)
    default = jax.jit(lambda x: _cliff.cliff_loss(x).total)(z)
    explicit = jax.jit(lambda x: _cliff.cliff_loss(x, bandwidth=h).total)(z)
    np.testing.assert_allclose(default, explicit, rtol=1e-6)


# --- gradients -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda z: _cliff.cliff_loss(z, bandwidth=0.5, **SMALL).total,
        lambda z: jnp.sum(_cliff.cliff_univariate(z, bandwidth=0.5, grid_size=24, grid_range=4.0)),
        lambda z: jnp.sum(_cliff.cliff_bivariate(z, bandwidth=0.5, **SMALL)),
        lambda z: jnp.sum(_cliff.cliff_uniform_kl(z, bandwidth=0.5, grid_size=24, grid_range=4.0)),
    ],
    ids=["loss", "univariate", "bivariate", "uniform"],
)
def test_grads_match_finite_differences(fn):
    with jax.enable_x64(True):
        z = jnp.asarray(_mixed_batch(num=12, d=3, seed=2), jnp.float64)
        # Small FD step: |p'| has kinks where p' changes sign at a grid point; a step of 1e-6
        # stays on one side of them (the default 1e-4 straddles one in the bivariate term).
        check_grads(jax.jit(fn), (z,), order=1, modes=["rev"], atol=1e-5, rtol=1e-5, eps=1e-6)


_loss_and_grad = jax.jit(jax.value_and_grad(lambda x: _cliff.cliff_loss(x).total))


@pytest.mark.parametrize("case", ["tied", "constant_latent", "two_points"])
def test_finite_grads_at_edge_cases(case):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(64, 3))
    if case == "tied":
        z[:32] = z[0]
    elif case == "constant_latent":
        z[:, 1] = 2.5
    else:
        z = np.tile(np.array([[0.0, 1.0, 2.0], [1.0, 0.0, -1.0]]), (32, 1))
    value, grad = _loss_and_grad(jnp.asarray(z, jnp.float32))
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(np.asarray(grad)))


# --- planted structure -----------------------------------------------------------------------


def test_smooth_density_has_higher_univariate_entropy_than_cliffs():
    rng = np.random.default_rng(4)
    num = 2048
    z = np.stack([rng.normal(size=num), rng.uniform(size=num), _step(num, rng)], axis=1)
    gauss, uniform, step = np.asarray(jax.jit(_cliff.cliff_univariate)(jnp.asarray(z, jnp.float32)))
    # A Gaussian has no cliffs: |p'| spreads over the grid. Uniform and step have sharp edges.
    assert gauss > uniform + 0.3
    assert gauss > step + 0.2


def test_find_cliffs_recovers_planted_step():
    rng = np.random.default_rng(5)
    num = 4096
    z = np.stack([_step(num, rng) * 4.0 - 1.0, rng.normal(size=num) * 3.0 + 7.0], axis=1)
    cliffs = jax.jit(_cliff.find_cliffs)(jnp.asarray(z, jnp.float32))
    positions, mask = np.asarray(cliffs.positions), np.asarray(cliffs.mask)
    found = positions[0][mask[0]]
    # planted at -1, 1, 3 in the original units (step 0, 0.5, 1 scaled by 4, shifted by -1)
    assert found.shape == (3,)
    np.testing.assert_allclose(found, [-1.0, 1.0, 3.0], atol=0.12)
    assert np.all(np.diff(positions[0][mask[0]]) > 0)
    assert np.all(np.isinf(positions[0][~mask[0]]))
    heights = np.asarray(cliffs.heights)[0][mask[0]]
    assert heights.max() == pytest.approx(1.0)
    assert heights[0] < heights[1] < heights[2]  # density jumps 0.5, 1, 1.5
    # A Gaussian's two highest |p'| maxima are at mean -+ std = 4 and 10 (sampling noise may
    # add low extra peaks above min_height).
    top2 = positions[1][np.argsort(-np.asarray(cliffs.heights)[1])[:2]]
    np.testing.assert_allclose(np.sort(top2), [4.0, 10.0], atol=1.0)


def test_rotated_grid_has_larger_bivariate_term():
    rng = np.random.default_rng(6)
    z = _grid2d(2048, rng)
    aligned = float(_jit_loss(jnp.asarray(z, jnp.float32)).bivariate)
    rotated = float(_jit_loss(jnp.asarray(_rotate(z, 0.5), jnp.float32)).bivariate)
    assert rotated > 2.0 * aligned
    assert aligned < 0.12


def test_collapse_raises_uniform_kl():
    rng = np.random.default_rng(7)
    num = 2048
    spread = rng.uniform(size=num)
    collapsed = rng.choice([0.0, 0.5, 1.0], size=num) + 1e-3 * rng.normal(size=num)
    z = jnp.asarray(np.stack([spread, collapsed], 1), jnp.float32)
    kl = np.asarray(jax.jit(_cliff.cliff_uniform_kl)(z))
    # Three atoms 5 bandwidths apart: the KDE dips between them (values measured: 0.06 vs 0.31).
    assert kl[0] < 0.1
    assert kl[1] > 3.0 * kl[0] + 0.1


@jax.jit
def _per_latent(z):
    kw = dict(grid_size=40)
    return (
        _cliff.cliff_univariate(z, **kw),
        _cliff.cliff_uniform_kl(z, **kw),
        _cliff.cliff_bivariate(z, **kw),
        _cliff.find_cliffs(z, **kw).mask,
    )


def test_latent_permutation_permutes_outputs():
    z = jnp.asarray(_mixed_batch(num=128, d=4, seed=8), jnp.float32)
    perm = np.array([2, 0, 3, 1])
    uni, unif, biv, mask = _per_latent(z)
    uni_p, unif_p, biv_p, mask_p = _per_latent(z[:, perm])
    np.testing.assert_allclose(uni_p, uni[perm], rtol=1e-6)
    np.testing.assert_allclose(unif_p, unif[perm], rtol=1e-6)
    np.testing.assert_allclose(biv_p, biv[perm][:, perm], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(mask_p, np.asarray(mask)[perm])


def test_batch_order_invariance():
    z = jnp.asarray(_mixed_batch(num=128, d=3, seed=9), jnp.float32)
    order = np.random.default_rng(0).permutation(128)
    a, b = _jit_loss(z), _jit_loss(z[order])
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5)


def test_single_latent_has_zero_bivariate():
    z = jnp.asarray(_mixed_batch(num=64, d=1), jnp.float32)
    terms = _jit_loss(z)
    assert float(terms.bivariate) == 0.0
    np.testing.assert_allclose(terms.total, terms.univariate + terms.uniform, rtol=1e-6)


def test_weights_are_applied():
    z = jnp.asarray(_mixed_batch(num=64, d=3), jnp.float32)
    w = _cliff.CliffWeights(univariate=0.5, bivariate=2.0, uniform=0.0)
    terms = jax.jit(lambda x: _cliff.cliff_loss(x, weights=w))(z)
    np.testing.assert_allclose(
        terms.total, 0.5 * terms.univariate + 2.0 * terms.bivariate, rtol=1e-6
    )


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="batch, num_latents"):
        _cliff.cliff_loss(jnp.zeros(8))
    with pytest.raises(TypeError, match="floating"):
        _cliff.cliff_loss(jnp.zeros((8, 2), jnp.int32))
    with pytest.raises(ValueError, match="at least 2"):
        _cliff.cliff_univariate(jnp.zeros((1, 2)))
    with pytest.raises(ValueError, match="grid_size"):
        _cliff.kde_marginals(jnp.zeros((8, 2)), grid_size=2)
    with pytest.raises(ValueError, match="num_conditioning"):
        _cliff.cliff_bivariate(jnp.ones((8, 2)), num_conditioning=0)
    with pytest.raises(ValueError, match="max_cliffs"):
        _cliff.find_cliffs(jnp.ones((8, 2)), grid_size=10, max_cliffs=9)


# --- registry contract -----------------------------------------------------------------------

LOSSES = {
    "cliff_loss": lambda z: _cliff.cliff_loss(z).total,
    "cliff_univariate": _cliff.cliff_univariate,
    "cliff_bivariate": _cliff.cliff_bivariate,
    "cliff_uniform_kl": _cliff.cliff_uniform_kl,
    "kde_marginals": lambda z: _cliff.kde_marginals(z).derivative,
}


@pytest.mark.parametrize("name", sorted(LOSSES), ids=sorted(LOSSES))
def test_registry_contract(name):
    fn = LOSSES[name]
    z = jnp.asarray(_mixed_batch(num=96, d=3, seed=10), jnp.float32)
    check_kernel_contract(fn, z)


def test_find_cliffs_jits_and_eval_shapes():
    z = jnp.asarray(_mixed_batch(num=96, d=3), jnp.float32)
    abstract = jax.eval_shape(
        lambda x: _cliff.find_cliffs(x, max_cliffs=5), jax.ShapeDtypeStruct(z.shape, z.dtype)
    )
    assert abstract.positions.shape == (3, 5) and abstract.mask.dtype == jnp.bool_
    cliffs = jax.jit(lambda x: _cliff.find_cliffs(x, max_cliffs=5))(z)
    assert cliffs.positions.dtype == jnp.float32


@pytest.mark.parametrize("bandwidth", [0.05, 0.1], ids=["h0.05", "h0.1"])
def test_finite_gradients_when_a_conditioning_slab_is_empty(bandwidth):
    # Two tight clusters at +-1: the conditioning values near 0 get no kernel mass at all
    # (exp(-0.5 (1/h)^2) underflows), which used to give 0/0 in the bivariate gradient.
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(-1, 0.01, (64, 2)), rng.normal(1, 0.01, (64, 2))])
    grads = jax.grad(lambda z: _cliff.cliff_loss(z, bandwidth=bandwidth).total)(
        jnp.asarray(z, jnp.float32)
    )
    assert np.all(np.isfinite(np.asarray(grads)))


# --- diagonal-skipping bivariate contraction (issue 16) ---------------------------------------


def _dense_bivariate(zs, dkernel, h, u, eps):
    """The previous formulation (commit 52551a2): all d^2 pairs in one einsum, diagonal masked."""
    d = zs.shape[1]
    w = jnp.exp(-0.5 * jnp.square((zs[:, None, :] - u[None, :, None]) / h))
    deriv = jnp.einsum("bmj,bti->ijmt", w, dkernel)
    mass = jnp.sum(w, axis=0)
    norm = jnp.square(h) * math.sqrt(2.0 * math.pi) * jnp.maximum(mass, eps)
    deriv = deriv / norm.T[None, :, :, None]
    q = jnp.abs(deriv) / (jnp.sum(jnp.abs(deriv), axis=-1, keepdims=True) + eps)
    pi = (mass / jnp.maximum(jnp.sum(mass, axis=0, keepdims=True), eps)).T
    mixture = jnp.einsum("jm,ijmt->ijt", pi, q)
    ent = lambda p: -jnp.sum(p * jnp.log(p + eps), axis=-1)  # noqa: E731
    jsd = ent(mixture) - jnp.einsum("jm,ijm->ij", pi, ent(q))
    return jsd * (1.0 - jnp.eye(d, dtype=jsd.dtype))


@pytest.mark.parametrize("d", [2, 3, 5])
def test_diagonal_skip_equals_previous_formulation(d):
    z = _mixed_batch(num=48, d=d, seed=d)
    with jax.enable_x64(True):
        zj = jnp.asarray(z, jnp.float64)
        zs, _, _, _, h, x = _cliff._setup(zj, 0.4, SMALL["grid_size"], SMALL["grid_range"], 1e-6)
        dkernel = -x * jnp.exp(-0.5 * jnp.square(x))
        u = _cliff._conditioning_values(SMALL["num_conditioning"], SQRT3, zj.dtype)
        ref = _dense_bivariate(zs, dkernel, h, u, 1e-6)
        got = jax.jit(lambda x: _cliff.cliff_bivariate(x, bandwidth=0.4, **SMALL))(zj)
        terms = jax.jit(lambda x: _cliff.cliff_loss(x, bandwidth=0.4, **SMALL))(zj)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(terms.bivariate, np.sum(np.asarray(ref)) / (d * (d - 1)), rtol=1e-12)
    if d == 3:  # and the naive pair-by-pair reference
        _, biv, _ = reference_terms(z, bandwidth=0.4, **SMALL)
        np.testing.assert_allclose(got, biv, rtol=1e-9, atol=1e-12)


def test_rejects_nonfinite_inputs_bad_bandwidth_and_zero_latents():
    z = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    for bad in (np.nan, np.inf, -np.inf):
        zb = z.copy()
        zb[3, 1] = bad
        with pytest.raises(ValueError, match="NaN or Inf"):
            _cliff.cliff_loss(zb)
    for h in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="bandwidth must be a finite scalar > 0"):
            _cliff.cliff_loss(z, bandwidth=h)
        with pytest.raises(ValueError, match="bandwidth"):
            _cliff.find_cliffs(z, bandwidth=h)
    with pytest.raises(ValueError, match="at least 1 latent"):
        _cliff.cliff_loss(np.zeros((16, 0), np.float32))
    # under jit the value check cannot run: a NaN input gives a NaN loss (reported by the loop)
    zb = z.copy()
    zb[0, 0] = np.nan
    assert np.isnan(float(_jit_loss(jnp.asarray(zb)).total))


def test_nonfinite_error_names_the_rows():
    z = np.random.default_rng(1).normal(size=(16, 2)).astype(np.float32)
    z[[2, 9], 0] = np.nan
    with pytest.raises(ValueError, match=r"cliff_loss: z holds NaN or Inf values in rows \[2, 9\]"):
        _cliff.cliff_loss(z)


def test_concrete_latents_closed_over_in_jit_are_accepted():
    # the NaN check runs on concrete values only; a constant captured by a jit trace is concrete
    z = jnp.asarray(np.random.default_rng(2).normal(size=(32, 2)), jnp.float32)
    total = jax.jit(lambda: _cliff.cliff_loss(z, **SMALL).total)()
    np.testing.assert_allclose(total, _cliff.cliff_loss(z, **SMALL).total, rtol=1e-5)

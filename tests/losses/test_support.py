"""Tests for the factorized-support baselines (qdjax/losses/_support.py).

The references are NumPy float64 with Python loops over latent pairs: they build the product
point sets explicitly and take nearest-neighbour distances point by point.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from qdjax.losses import _support
from tests.losses.contract import check_kernel_contract


def _standardize(z, eps=1e-6):
    return (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + eps)


def _soft_max(values, temperature):
    values = np.asarray(values, np.float64)
    if temperature is None:
        return values.max()
    top = values.max()
    return top + temperature * math.log(np.mean(np.exp((values - top) / temperature)))


def reference_hfs(z, *, temperature=None, standardize=True):
    z = np.asarray(z, np.float64)
    zs = _standardize(z) if standardize else z
    num, d = zs.shape
    out = np.zeros((d, d))
    for i in range(d):
        for j in range(i + 1, d):
            joint = zs[:, [i, j]]
            nearest = []
            for a in range(num):
                for b in range(num):
                    point = np.array([zs[a, i], zs[b, j]])
                    nearest.append(np.min(np.sum((joint - point) ** 2, axis=1)))
            out[i, j] = out[j, i] = _soft_max(nearest, temperature)
    return out


def reference_ioss(z, *, num_quantiles=10, temperature=None, standardize=True):
    z = np.asarray(z, np.float64)
    zs = _standardize(z) if standardize else z
    d = zs.shape[1]
    levels = np.linspace(0.0, 1.0, num_quantiles)
    out = np.zeros((d, d))
    for i in range(d):
        for j in range(i + 1, d):
            joint = zs[:, [i, j]]
            nearest = []
            for qi in np.quantile(zs[:, i], levels):
                for qj in np.quantile(zs[:, j], levels):
                    nearest.append(np.min(np.sum((joint - np.array([qi, qj])) ** 2, axis=1)))
            out[i, j] = out[j, i] = _soft_max(nearest, temperature)
    return out


def _batch(num=24, d=3, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.uniform(size=(num, d))
    z[:, 1] = z[:, 0] + 0.3 * z[:, 1]  # some dependence
    return z * np.arange(1, d + 1)


def _rotated_square(num, rng, angle=0.6):
    z = rng.uniform(size=(num, 2)) - 0.5
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return z, z @ rot.T


KERNELS = {
    "hfs": (_support.hfs_pairwise, reference_hfs),
    "ioss": (_support.ioss_pairwise, reference_ioss),
}


@pytest.mark.parametrize("temperature", [None, 0.05], ids=["hard", "soft"])
@pytest.mark.parametrize("standardize", [True, False], ids=["std", "raw"])
@pytest.mark.parametrize("name", sorted(KERNELS), ids=sorted(KERNELS))
def test_matches_reference_float64(name, standardize, temperature):
    fast, reference = KERNELS[name]
    z = _batch()
    expected = reference(z, temperature=temperature, standardize=standardize)
    with jax.enable_x64(True):
        fn = jax.jit(lambda x: fast(x, temperature=temperature, standardize=standardize))
        got = fn(jnp.asarray(z, jnp.float64))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(KERNELS), ids=sorted(KERNELS))
def test_matches_reference_float32(name):
    fast, reference = KERNELS[name]
    z = _batch(num=32, d=3, seed=1)
    got = jax.jit(lambda x: fast(x, temperature=0.1))(jnp.asarray(z, jnp.float32))
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, reference(z, temperature=0.1), rtol=1e-5, atol=1e-6)


def test_hfs_chunk_size_does_not_change_result():
    z = jnp.asarray(_batch(num=30, d=4), jnp.float32)
    a = jax.jit(lambda x: _support.hfs_pairwise(x, chunk_size=1))(z)
    b = jax.jit(lambda x: _support.hfs_pairwise(x, chunk_size=7))(z)  # 30 % 7 != 0
    np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(KERNELS), ids=sorted(KERNELS))
def test_rotation_breaks_factorized_support(name):
    fast, _ = KERNELS[name]
    square, rotated = _rotated_square(200, np.random.default_rng(2))
    fn = jax.jit(lambda x: fast(x, temperature=0.05)[0, 1])
    aligned = float(fn(jnp.asarray(square, jnp.float32)))
    tilted = float(fn(jnp.asarray(rotated, jnp.float32)))
    # The rotated square leaves its four bounding-box corners empty.
    assert tilted > 5.0 * aligned
    assert aligned < 0.1


@pytest.mark.parametrize("name", sorted(KERNELS), ids=sorted(KERNELS))
def test_grads_match_finite_differences(name):
    fast, _ = KERNELS[name]
    with jax.enable_x64(True):
        z = jnp.asarray(_batch(num=10, d=3, seed=3), jnp.float64)
        fn = jax.jit(lambda x: jnp.sum(fast(x, temperature=0.2)))
        # Nearest neighbours are piecewise constant: a small step keeps them fixed.
        check_grads(fn, (z,), order=1, modes=["rev"], atol=1e-5, rtol=1e-5, eps=1e-6)


@pytest.mark.parametrize("name", sorted(KERNELS), ids=sorted(KERNELS))
def test_permutation_and_batch_order(name):
    fast, _ = KERNELS[name]
    z = jnp.asarray(_batch(num=40, d=4, seed=4), jnp.float32)
    fn = jax.jit(lambda x: fast(x, temperature=0.1))
    base = fn(z)
    perm = np.array([3, 1, 0, 2])
    np.testing.assert_allclose(fn(z[:, perm]), base[perm][:, perm], rtol=1e-5, atol=1e-7)
    order = np.random.default_rng(0).permutation(40)
    np.testing.assert_allclose(fn(z[order]), base, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(base, base.T)
    np.testing.assert_array_equal(np.diag(base), 0.0)


@functools.cache
def _value_and_grad(name, temperature):
    fast, _ = KERNELS[name]
    return jax.jit(jax.value_and_grad(lambda x: jnp.sum(fast(x, temperature=temperature))))


@pytest.mark.parametrize("case", ["tied", "constant_latent"])
@pytest.mark.parametrize("name", sorted(KERNELS), ids=sorted(KERNELS))
def test_finite_grads_at_edge_cases(name, case):
    fast, _ = KERNELS[name]
    z = np.random.default_rng(5).normal(size=(32, 3))
    if case == "tied":
        z[:16] = z[0]
    else:
        z[:, 2] = -1.0
    for temperature in (None, 0.1):
        value, grad = _value_and_grad(name, temperature)(jnp.asarray(z, jnp.float32))
        assert np.isfinite(float(value))
        assert np.all(np.isfinite(np.asarray(grad)))


def test_rejects_bad_inputs():
    for fn in (_support.hfs_pairwise, _support.ioss_pairwise):
        with pytest.raises(ValueError, match="batch, num_latents"):
            fn(jnp.zeros(8))
        with pytest.raises(ValueError, match="num_latents >= 2"):
            fn(jnp.zeros((8, 1)))
        with pytest.raises(TypeError, match="floating"):
            fn(jnp.zeros((8, 2), jnp.int32))
        with pytest.raises(ValueError, match="temperature"):
            fn(jnp.ones((8, 2)), temperature=0.0)
    with pytest.raises(ValueError, match="num_quantiles"):
        _support.ioss_pairwise(jnp.ones((8, 2)), num_quantiles=1)
    with pytest.raises(ValueError, match="chunk_size"):
        _support.hfs_pairwise(jnp.ones((8, 2)), chunk_size=0)


LOSSES = {
    "hfs_pairwise": _support.hfs_pairwise,
    "hfs_pairwise_soft": lambda z: _support.hfs_pairwise(z, temperature=0.1),
    "ioss_pairwise": _support.ioss_pairwise,
    "ioss_pairwise_soft": lambda z: _support.ioss_pairwise(z, temperature=0.1),
}


@pytest.mark.parametrize("name", sorted(LOSSES), ids=sorted(LOSSES))
def test_registry_contract(name):
    fn = LOSSES[name]
    z = jnp.asarray(_batch(num=48, d=3, seed=6), jnp.float32)
    check_kernel_contract(fn, z, shape=(3, 3))


@pytest.mark.parametrize("name", ["hfs_pairwise", "ioss_pairwise"], ids=["hfs", "ioss"])
def test_rejects_nonfinite_and_single_sample_like_cliff(name):
    # Before: NaN input gave a NaN/-inf matrix silently. Same helper as the Cliff losses.
    fn = getattr(_support, name)
    z = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    z[3, 1] = np.nan
    z[7, 0] = -np.inf
    for standardize in (True, False):
        with pytest.raises(ValueError, match=r"NaN or Inf values in rows \[3, 7\]"):
            fn(z, standardize=standardize)
    with pytest.raises(ValueError, match="at least 2 samples"):
        fn(np.ones((1, 3), np.float32))

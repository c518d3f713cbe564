"""Scalar quantizers: nearest value vs NumPy brute force, straight-through gradients, codebook."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qdjax.losses._quantize import quantization_loss
from qdjax.nn import _codebooks


def _brute_force_nearest(z, codebook, sizes):
    """argmin_j |z_bi - V_ij| by explicit loops (reference for the vectorized op)."""
    num, num_latents = z.shape
    idx = np.zeros((num, num_latents), np.int64)
    for n in range(num):
        for i in range(num_latents):
            d = [abs(z[n, i] - codebook[i, j]) for j in range(sizes[i])]
            idx[n, i] = int(np.argmin(d))
    return idx


def test_codebook_init_evenly_spaced():
    q = _codebooks.LatentQuantizer(3, 5, rngs=nnx.Rngs(0))
    assert q.codebook.shape == (3, 5)
    np.testing.assert_allclose(
        q.codebook[...], np.tile(np.linspace(-0.5, 0.5, 5), (3, 1)), rtol=1e-6
    )
    g = _codebooks.GlobalQuantizer(3, 4, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(g.codebook[...], np.linspace(-0.5, 0.5, 4), rtol=1e-6)


@pytest.mark.parametrize("num_values", [7, (3, 7, 5, 1)], ids=["uniform", "ragged"])
def test_latent_quantizer_picks_nearest_value(num_values):
    rng = np.random.default_rng(0)
    q = _codebooks.LatentQuantizer(4, num_values, rngs=nnx.Rngs(0))
    sizes = np.broadcast_to(np.asarray(num_values), (4,))
    # random (unsorted) codebook, padding left as is: the mask must exclude it
    cb = rng.normal(size=q.codebook.shape).astype(np.float32)
    q.codebook[...] = jnp.asarray(cb)
    z = rng.normal(size=(64, 4)).astype(np.float32)
    out = jax.jit(lambda m, z: m(z))(q, z)
    idx = _brute_force_nearest(z, cb, sizes)
    np.testing.assert_array_equal(out.indices, idx)
    expected = np.take_along_axis(cb, idx.T, axis=1).T
    np.testing.assert_allclose(out.z_quantized, expected, rtol=1e-6)
    np.testing.assert_allclose(out.z, expected, rtol=1e-6, atol=1e-6)  # forward value = z_q
    np.testing.assert_allclose(out.z_continuous, z, rtol=1e-6)
    np.testing.assert_allclose(q.lookup(out.indices), expected, rtol=1e-6)
    assert np.all(out.indices < sizes[None])


def test_global_quantizer_picks_nearest_value():
    rng = np.random.default_rng(1)
    q = _codebooks.GlobalQuantizer(3, 6, rngs=nnx.Rngs(0))
    cb = rng.normal(size=(6,)).astype(np.float32)
    q.codebook[...] = jnp.asarray(cb)
    z = rng.normal(size=(32, 3)).astype(np.float32)
    out = q(z)
    idx = np.argmin(np.abs(z[:, :, None] - cb[None, None]), axis=-1)
    np.testing.assert_array_equal(out.indices, idx)
    np.testing.assert_allclose(out.z_quantized, cb[idx], rtol=1e-6)


@pytest.mark.parametrize("levels", [5, 4, (3, 8), (2, 6)], ids=["odd", "even", "mixed", "binary"])
def test_fsq_levels(levels):
    q = _codebooks.FSQQuantizer(2, levels, rngs=nnx.Rngs(0))
    z = jnp.linspace(-6.0, 6.0, 2001)[:, None] * jnp.ones((1, 2))
    out = q(z)
    for i, n in enumerate(np.broadcast_to(np.asarray(levels), (2,))):
        vals = np.unique(np.asarray(out.z_quantized[:, i]))
        assert len(vals) == n  # exactly L levels are reachable
        assert vals.min() >= -1.0 and vals.max() <= 1.0
        np.testing.assert_array_equal(np.unique(out.indices[:, i]), np.arange(n))
    np.testing.assert_allclose(q.lookup(out.indices), out.z_quantized, rtol=1e-6)
    # z_q is the rounding of the bounded code (within half a level of it)
    width = np.floor(np.broadcast_to(np.asarray(levels), (2,)) / 2)
    assert np.all(np.abs(np.asarray(out.z_continuous - out.z_quantized)) * width <= 0.5 + 1e-6)
    assert not nnx.state(q, nnx.Param)  # no learnable parameters
    assert np.all(np.isfinite(np.asarray(out.z)))


def test_fsq_binary_level_is_the_sign_and_odd_levels_centre_zero():
    """L = 2 (atanh(o/h) undefined: it was NaN everywhere): the sign of z picks the level,
    with a finite straight-through gradient; odd L puts z = 0 on the middle level."""
    q = _codebooks.FSQQuantizer(2, (2, 5), rngs=nnx.Rngs(0))
    z = jnp.asarray([[-2.0, 0.0], [-0.01, 0.0], [0.01, 0.0], [2.0, 0.0]])
    out = q(z)
    np.testing.assert_array_equal(out.indices[:, 0], [0, 0, 1, 1])
    np.testing.assert_array_equal(out.indices[:, 1], [2, 2, 2, 2])
    g = jax.grad(lambda z: jnp.sum(q(z).z))(z)
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g) > 0)


@pytest.mark.parametrize("kind", ["latent", "global"])
def test_gradient_passes_straight_through(kind):
    cls = {"latent": _codebooks.LatentQuantizer, "global": _codebooks.GlobalQuantizer}[kind]
    q = cls(3, 5, rngs=nnx.Rngs(0))
    z = jax.random.normal(jax.random.key(0), (8, 3))
    g = jax.grad(lambda z: jnp.sum(q(z).z))(z)
    np.testing.assert_array_equal(g, np.ones((8, 3)))
    w = jax.random.normal(jax.random.key(1), (8, 3))
    g = jax.grad(lambda z: jnp.sum(w * jnp.sin(q(z).z)))(z)  # upstream grad passed unchanged
    np.testing.assert_allclose(g, w * jnp.cos(q(z).z_quantized), rtol=1e-6)


def test_fsq_straight_through_to_bounded_code():
    q = _codebooks.FSQQuantizer(3, 5, rngs=nnx.Rngs(0))
    z = jax.random.normal(jax.random.key(0), (8, 3))
    g_z = jax.grad(lambda z: jnp.sum(q(z).z))(z)
    g_c = jax.grad(lambda z: jnp.sum(q(z).z_continuous))(z)
    np.testing.assert_allclose(g_z, g_c, rtol=1e-6)
    assert np.all(np.asarray(g_z) > 0)


@pytest.mark.parametrize("kind", ["latent", "global"])
def test_codebook_learns_from_quantization_loss_only(kind):
    cls = {"latent": _codebooks.LatentQuantizer, "global": _codebooks.GlobalQuantizer}[kind]
    q = cls(3, 5, rngs=nnx.Rngs(0))
    z = jax.random.normal(jax.random.key(0), (16, 3))

    def recon_path(q):  # anything downstream of the straight-through latent
        return jnp.sum(jnp.square(q(z).z - 1.0))

    def codebook_path(q):
        out = q(z)
        return jnp.sum(quantization_loss(out.z_continuous, out.z_quantized))

    g_recon = nnx.grad(recon_path)(q)
    np.testing.assert_array_equal(g_recon.codebook[...], 0.0)
    g_q = nnx.grad(codebook_path)(q)
    out = q(z)
    # closed form: dL/dV_ij = -2 sum_{b: q_bi = j} (z_bi - V_ij)
    resid = -2.0 * np.asarray(out.z_continuous - out.z_quantized)
    onehot = np.asarray(jax.nn.one_hot(out.indices, 5))  # [b, l, v]
    expected = np.einsum("bl,blv->lv", resid, onehot)
    if kind == "global":
        expected = expected.sum(0)
    np.testing.assert_allclose(g_q.codebook[...], expected, rtol=1e-5, atol=1e-6)
    assert np.any(expected != 0)


def test_bad_shapes():
    q = _codebooks.LatentQuantizer(3, 5, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"\[batch, 3\]"):
        q(jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="num_values"):
        _codebooks.LatentQuantizer(3, 0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="num_levels"):
        _codebooks.FSQQuantizer(2, 1, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("kind", ["latent", "latent_ragged", "global", "fsq"])
def test_lookup_rejects_out_of_range_indices_and_clips_under_jit(kind):
    sizes = {"latent": 4, "latent_ragged": (4, 2, 3), "global": 4, "fsq": (4, 2, 3)}[kind]
    q = {
        "latent": lambda: _codebooks.LatentQuantizer(3, sizes, rngs=nnx.Rngs(0)),
        "latent_ragged": lambda: _codebooks.LatentQuantizer(3, sizes, rngs=nnx.Rngs(0)),
        "global": lambda: _codebooks.GlobalQuantizer(3, sizes, rngs=nnx.Rngs(0)),
        "fsq": lambda: _codebooks.FSQQuantizer(3, sizes, rngs=nnx.Rngs(0)),
    }[kind]()
    top = np.broadcast_to(np.asarray(sizes), (3,)) - 1
    ok = np.stack([np.zeros(3, np.int32), top.astype(np.int32)])
    last = q.lookup(ok)
    assert np.all(np.isfinite(np.asarray(last)))
    for bad, latent in (
        ([0, 0, -1], 2),
        ([int(top[0]) + 1, 0, 0], 0),
        ([0, int(top[1]) + 1, 0], 1),
    ):
        with pytest.raises(ValueError, match=f"out of range for latent {latent}"):
            q.lookup(np.asarray([bad], np.int32))
    with pytest.raises(TypeError, match="integers"):
        q.lookup(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="expected indices"):
        q.lookup(np.zeros((1, 2), np.int32))
    # under jit the check cannot run: indices are clipped to the valid range (documented)
    far = np.asarray([[-5, -5, -5], [99, 99, 99]], np.int32)
    np.testing.assert_allclose(jax.jit(q.lookup)(far), last, rtol=1e-6)

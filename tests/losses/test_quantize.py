"""Quantization and commitment losses: values, which side receives gradient, shape errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qdjax.losses._quantize import commitment_loss, quantization_loss

KERNELS = {"quantization": quantization_loss, "commitment": commitment_loss}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_value_matches_numpy(name):
    rng = np.random.default_rng(0)
    z_c, z_q = rng.normal(size=(2, 5, 3)).astype(np.float32)
    got = jax.jit(KERNELS[name])(z_c, z_q)
    np.testing.assert_allclose(got, np.sum((z_c - z_q) ** 2, axis=1), rtol=1e-6)
    assert got.shape == (5,) and got.dtype == jnp.float32


def test_gradients_go_to_one_side_only():
    rng = np.random.default_rng(1)
    z_c, z_q = (jnp.asarray(a) for a in rng.normal(size=(2, 4, 3)).astype(np.float32))
    gq_c, gq_q = jax.grad(lambda a, b: jnp.sum(quantization_loss(a, b)), argnums=(0, 1))(z_c, z_q)
    np.testing.assert_array_equal(gq_c, 0.0)
    np.testing.assert_allclose(gq_q, 2 * (z_q - z_c), rtol=1e-6)
    gc_c, gc_q = jax.grad(lambda a, b: jnp.sum(commitment_loss(a, b)), argnums=(0, 1))(z_c, z_q)
    np.testing.assert_allclose(gc_c, 2 * (z_c - z_q), rtol=1e-6)
    np.testing.assert_array_equal(gc_q, 0.0)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_bad_shapes(name):
    with pytest.raises(ValueError, match="batch, num_latents"):
        KERNELS[name](jnp.zeros((4, 3)), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch, num_latents"):
        KERNELS[name](jnp.zeros((4,)), jnp.zeros((4,)))

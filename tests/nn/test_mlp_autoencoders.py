"""MLP autoencoder and Gaussian VAE: shapes, the model contract, determinism of encode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qdjax import nn


@pytest.mark.parametrize("shape", [(5,), (4, 4, 1)], ids=["vector", "image"])
@pytest.mark.parametrize("variational", [False, True], ids=["ae", "vae"])
def test_output_shapes_and_contract(shape, variational):
    model = nn.mlp_autoencoder(shape, 3, hidden=(8,), variational=variational, rngs=nnx.Rngs(0))
    x = jnp.ones((2, *shape))
    out = model(x, key=jax.random.key(1))
    assert out.x_hat.shape == x.shape
    assert out.z.shape == out.z_mean.shape == (2, 3)
    assert model.encode(x).shape == (2, 3)
    np.testing.assert_allclose(model.encode(x), out.z_mean, rtol=1e-6)
    if variational:
        assert out.z_logvar.shape == (2, 3)
        assert not np.allclose(out.z, out.z_mean)  # sampled
        np.testing.assert_allclose(model(x).z, out.z_mean, rtol=1e-6)  # no key: the mean
    else:
        assert out.z_logvar is None


def test_bad_latent_count():
    with pytest.raises(ValueError, match="num_latents"):
        nn.mlp_autoencoder((3,), 0, rngs=nnx.Rngs(0))
    for hidden in ((-1,), (0, 8), (2.5,)):  # (-1,) was a JAX broadcasting error
        with pytest.raises(ValueError, match="MLP widths must be integers >= 1"):
            nn.mlp_autoencoder((3,), 2, hidden=hidden, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("shape", [(4, 2, 1), (2,), (4, 4)])
def test_mlp_autoencoder_refuses_inputs_of_another_shape(shape):
    # Only the element count used to be checked: (4, 2, 1) into a (2,)-model came back (4, 2).
    model = nn.mlp_autoencoder((2,), 2, hidden=(8,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"expected inputs \[batch, 2\]"):
        model(jnp.zeros(shape, jnp.float32))


def test_mlp_autoencoder_refuses_integer_inputs():
    model = nn.mlp_autoencoder((2,), 2, hidden=(8,), rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="floating point"):
        model(jnp.zeros((4, 2), jnp.uint8))

"""`CouplingFlow` is exactly invertible with the right log-determinant; `GridPrior.cells`
reads the grid's cells; `GridFlow` composes them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qdjax import nn


def _perturbed_flow(d, seed=0):
    flow = nn.CouplingFlow(d, num_layers=4, hidden=(16, 16), rngs=nnx.Rngs(seed))
    graphdef, state = nnx.split(flow)
    leaves, tree = jax.tree.flatten(state)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    leaves = [v + 0.3 * jax.random.normal(k, v.shape) for v, k in zip(leaves, keys)]
    return nnx.merge(graphdef, jax.tree.unflatten(tree, leaves))


def test_flow_starts_as_the_identity():
    flow = nn.CouplingFlow(3, num_layers=3, hidden=(8,), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (5, 3))
    z, log_det = flow.forward(x)
    np.testing.assert_allclose(np.asarray(z), np.asarray(x), atol=1e-6)
    np.testing.assert_allclose(np.asarray(log_det), 0.0, atol=1e-6)


@pytest.mark.parametrize("d", [2, 3])
def test_inverse_and_log_det_against_autodiff(d):
    flow = _perturbed_flow(d)
    x = jax.random.normal(jax.random.key(2), (7, d))
    z, log_det = flow.forward(x)
    assert not np.allclose(np.asarray(z), np.asarray(x), atol=1e-2)  # not the identity
    np.testing.assert_allclose(np.asarray(flow.inverse(z)), np.asarray(x), atol=1e-4, rtol=1e-3)
    jac = jax.vmap(jax.jacfwd(lambda v: flow.forward(v[None])[0][0]))(x)
    np.testing.assert_allclose(
        np.asarray(log_det), np.linalg.slogdet(np.asarray(jac))[1], atol=1e-4, rtol=1e-3
    )


def test_every_coordinate_is_transformed():
    flow = _perturbed_flow(3)
    x = jax.random.normal(jax.random.key(3), (4, 3))
    z, _ = flow.forward(x)
    assert np.all(np.abs(np.asarray(z - x)).max(axis=0) > 1e-3)


def test_prior_cells_and_equal_initial_cells():
    prior = nn.GridPrior(2, 4, span=2.0)
    np.testing.assert_allclose(np.asarray(prior.edges), [[-2, -1, 0, 1, 2]] * 2, atol=1e-3)
    z = jnp.array([[-1.5, 0.5], [-3.0, 9.0], [0.999, -0.001]])
    np.testing.assert_array_equal(np.asarray(prior.cells(z)), [[0, 2], [0, 3], [2, 1]])


def test_grid_flow_output_and_errors():
    model = nn.GridFlow(2, 3, num_layers=2, hidden=(8, 8), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(4), (6, 2))
    out = model(x)
    np.testing.assert_allclose(np.asarray(out.x_hat), np.asarray(x), atol=1e-5)
    np.testing.assert_allclose(np.asarray(out.z), np.asarray(model.encode(x)))
    assert model.cells(x).shape == (6, 2) and out.log_det.shape == (6,)
    lp = model.log_prob(x, 0.05)
    np.testing.assert_allclose(
        np.asarray(lp), np.asarray(model.prior.log_prob(out.z, 0.05) + out.log_det), rtol=1e-6
    )
    with pytest.raises(ValueError, match="num_dims >= 2"):
        nn.CouplingFlow(1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="num_cells"):
        nn.GridPrior(2, 0)

"""`CouplingFlow` is exactly invertible with the right log-determinant; `GridPrior.cells`
reads the grid's cells; `GridFlow` composes them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qdjax import nn


def _perturbed_flow(d, seed=0, rotation=None):
    """A flow with every trained parameter perturbed (its fixed rotation kept)."""
    flow = nn.CouplingFlow(d, num_layers=4, hidden=(16, 16), rotation=rotation, rngs=nnx.Rngs(seed))
    graphdef, params, rest = nnx.split(flow, nnx.Param, ...)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    leaves = [v + 0.3 * jax.random.normal(k, v.shape) for v, k in zip(leaves, keys)]
    return nnx.merge(graphdef, jax.tree.unflatten(tree, leaves), rest)


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
    # a wrong width or rank is named (was a JAX broadcasting error deep in the matmul)
    for bad in (jnp.zeros((6, 3)), jnp.zeros(6), jnp.zeros((2, 6, 2))):
        with pytest.raises(ValueError, match=r"must be \[batch, 2\]"):
            model.log_prob(bad, 0.05)
    with pytest.raises(ValueError, match=r"z must be \[batch, 2\]"):
        model.flow.inverse(jnp.zeros((6, 3)))
    with pytest.raises(ValueError, match="floating point"):
        model.encode(jnp.zeros((6, 2), jnp.int32))
    with pytest.raises(ValueError, match=r"\[batch, 2\] codes"):
        model.prior.cells(jnp.zeros((6, 3)))


def test_start_rotations():
    np.testing.assert_array_equal(nn.start_rotation(3, 0, 4), np.eye(3))
    # 2-D: evenly spread over the 90 degrees that a start can change
    for i, deg in enumerate([0.0, 22.5, 45.0, 67.5]):
        a = np.deg2rad(deg)
        want = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        np.testing.assert_allclose(nn.start_rotation(2, i, 4), want, atol=1e-6)
    r = nn.start_rotation(4, 2, 3, seed=5)
    np.testing.assert_allclose(r @ r.T, np.eye(4), atol=1e-5)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(r, nn.start_rotation(4, 2, 3, seed=5))  # pure in (seed, i)
    assert not np.allclose(r, nn.start_rotation(4, 2, 3, seed=6))
    with pytest.raises(ValueError, match="0 <= index < count"):
        nn.start_rotation(2, 4, 4)


def test_rotated_flow_is_the_flow_of_the_rotated_input():
    """A fixed rotation R first: forward(x) = plain flow(x R), the same log-determinant
    (|det R| = 1), and the inverse undoes both."""
    rot = nn.start_rotation(3, 1, 2, seed=0)
    rotated = _perturbed_flow(3, rotation=rot)
    plain = _perturbed_flow(3)  # same seed: the same coupling layers
    x = jax.random.normal(jax.random.key(3), (6, 3))
    z, log_det = rotated.forward(x)
    z0, log_det0 = plain.forward(x @ jnp.asarray(rot))
    np.testing.assert_allclose(np.asarray(z), np.asarray(z0), atol=1e-5)
    np.testing.assert_allclose(np.asarray(log_det), np.asarray(log_det0), atol=1e-5)
    np.testing.assert_allclose(np.asarray(rotated.inverse(z)), np.asarray(x), atol=1e-4)
    with pytest.raises(ValueError, match="orthogonal"):
        nn.CouplingFlow(2, num_layers=1, hidden=(4,), rotation=2 * np.eye(2), rngs=nnx.Rngs(0))


def test_the_rotation_is_not_trained():
    model = nn.GridFlow(
        2, 3, num_layers=2, hidden=(8,), rotation=nn.start_rotation(2, 1, 2), rngs=nnx.Rngs(0)
    )
    params = nnx.state(model, nnx.Param)
    assert not any(
        "rotation" in "/".join(map(str, path))
        for path, _ in jax.tree_util.tree_leaves_with_path(params)
    )
    np.testing.assert_allclose(np.asarray(model.flow.rotation[...]), nn.start_rotation(2, 1, 2))

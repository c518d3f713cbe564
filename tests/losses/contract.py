"""Shared check of the loss-kernel contract (jit, eval_shape, float32, finite grads, sharding)."""

import jax
import jax.numpy as jnp
import numpy as np


def check_kernel_contract(fn, z, shape=None):
    """`fn(z)` jits, matches `eval_shape`, is float32 and finite with finite gradients, and
    gives the same value with the batch sharded over two devices (Auto axes, as in
    qdjax/train/step.py; Explicit axes would need out_sharding on the batch contraction).

    Returns the unsharded output; `shape`, if given, is the expected output shape.
    """
    out = jax.jit(fn)(z)
    abstract = jax.eval_shape(fn, jax.ShapeDtypeStruct(z.shape, jnp.float32))
    assert abstract.shape == out.shape
    if shape is not None:
        assert out.shape == shape
    assert out.dtype == abstract.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(out)))
    grad = jax.jit(jax.grad(lambda x: jnp.sum(fn(x))))(z)
    assert grad.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(grad)))
    if len(jax.devices()) >= 2:
        auto = (jax.sharding.AxisType.Auto,)
        mesh = jax.make_mesh((2,), ("data",), axis_types=auto, devices=jax.devices()[:2])
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
        sharded = jax.jit(fn)(jax.device_put(z, sharding))
        np.testing.assert_allclose(sharded, out, rtol=1e-5, atol=1e-6)
    return out

"""The functional train step and its data-parallel placement.

A step has the contract `step(graphdef, state, batch, key) -> (state, aux)` over
`graphdef, state = nnx.split((model, optimizer))`. The loop jits it once with the
state donated and replicated over a 1-D device mesh and the batch sharded along
its leading axis (`NamedSharding(mesh, P("data"))`); XLA inserts the gradient
all-reduce. Batch-level kernels (KDE, pairwise supports) therefore see the
*global* batch, exactly as on one device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from qdjax._src.typing import Batch

DATA_AXIS = "data"


def make_train_step(objective: Callable) -> Callable:
    """Wraps `objective(model, batch, key, step) -> (loss, aux)` into a functional step.

    `step` is the optimizer's update count (for scheduled term weights).

    The step merges `(model, optimizer)`, differentiates the objective with respect
    to the model's `nnx.Param`s, applies the optimizer update and returns the new
    state with `aux` extended by `grad_norm` (global L2 norm of the gradient).
    """

    def step(graphdef, state, batch: Batch, key: jax.Array):
        model, optimizer = nnx.merge(graphdef, state)
        grad_fn = nnx.value_and_grad(objective, has_aux=True)
        (_, aux), grads = grad_fn(model, batch, key, optimizer.step[...])
        optimizer.update(model, grads)
        aux = dict(aux)
        aux["grad_norm"] = optax.tree.norm(grads)
        return nnx.state((model, optimizer)), aux

    return step


def make_data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named `"data"` over `devices` (default: all devices of all processes)."""
    devices = list(jax.devices() if devices is None else devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def put_batch(batch: Batch, mesh: Mesh) -> Batch:
    """Places a host batch on the mesh, split along the batch axis.

    Single process: `device_put` of the global batch. Multi-process: each process
    holds the same global batch (sources are pure functions of `(seed, step)`) and
    contributes its contiguous slice through `jax.make_array_from_process_local_data`;
    global arrays from a device-resident source are kept (or resharded) as they are.
    """
    size = mesh.devices.size
    n = np.shape(batch.x)[0]
    if n % size:
        raise ValueError(
            f"batch size {n} must be divisible by the number of devices ({size}); "
            f"use a batch size that is a multiple of {size}"
        )
    sharding = batch_sharding(mesh)
    if jax.process_count() == 1:
        return jax.device_put(batch, sharding)
    per = n // jax.process_count()
    lo = jax.process_index() * per

    def place(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:  # a device source's batch
            return (
                a if a.sharding.is_equivalent_to(sharding, a.ndim) else jax.device_put(a, sharding)
            )
        return jax.make_array_from_process_local_data(
            sharding, np.asarray(a)[lo : lo + per], np.shape(a)
        )

    return jax.tree.map(place, batch)


def jit_step(step: Callable, graphdef, mesh: Mesh) -> Callable:
    """`jax.jit(state, batch, key) -> (state, aux)` with the state donated and kept replicated."""
    rep = replicated(mesh)

    def fn(state, batch, key):
        return step(graphdef, state, batch, key)

    return jax.jit(fn, donate_argnums=0, out_shardings=rep)

"""Orbax checkpoints of the train state: save every N steps, keep the last K, resume.

A checkpoint holds `{"state": nnx.State of (model, optimizer), "key": raw PRNG key data}`
under the step number. Saves are asynchronous; Orbax writes to a temporary
directory and renames it when complete, so a run killed mid-save (even by
SIGKILL) leaves the previous checkpoints intact and the partial one is ignored.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp
from jax.sharding import Mesh

from qdjax.train.step import replicated


class Checkpointer:
    """Thin wrapper over `ocp.CheckpointManager` for replicated train states.

    Args:
      directory: where step directories are written (created if missing).
      keep: how many of the most recent checkpoints to keep (>= 1).
    """

    def __init__(self, directory: str, *, keep: int = 3, async_save: bool = True):
        if keep < 1:
            raise ValueError(f"keep must be >= 1; got {keep}")
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=async_save
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state, key: jax.Array) -> None:
        tree = {"state": state, "key": jax.random.key_data(key)}
        self._manager.save(step, args=ocp.args.StandardSave(tree))

    def restore(self, step: int, abstract_state, key_impl_like: jax.Array, mesh: Mesh):
        """Restores `(state, key)` at `step` onto the structure of `abstract_state`, replicated."""
        rep = replicated(mesh)
        key_data = jax.random.key_data(key_impl_like)

        def spec(x):
            return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep)

        target = {"state": jax.tree.map(spec, abstract_state), "key": spec(key_data)}
        tree = self._manager.restore(step, args=ocp.args.StandardRestore(target))
        key = jax.random.wrap_key_data(tree["key"], impl=jax.random.key_impl(key_impl_like))
        return tree["state"], key

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

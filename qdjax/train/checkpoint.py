"""Orbax checkpoints of the train state: save every N steps, keep the last K, resume.

A checkpoint holds `{"state": nnx.State of (model, optimizer), "key": raw PRNG key data}`
under the step number. Saves are asynchronous; Orbax writes to a temporary
directory and renames it when complete, so a run killed mid-save (even by
SIGKILL) leaves the previous checkpoints intact and the partial one is ignored.

A damaged checkpoint (truncated data file, missing manifest or metadata, an empty
step directory, ...) does not stop a run: :meth:`Checkpointer.restore_latest` checks
each step directory, newest first, tries to restore it, and moves every one that
fails aside to `<directory>_bad/<step>` (never deleting it), saying in one line which
step was skipped and why; the run resumes from the newest checkpoint that restores.

With several processes (`jax.distributed`), every process takes part in saving and
restoring (as Orbax intends); only process 0 moves damaged checkpoints aside.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import NamedTuple

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from qdjax.train.step import replicated

# Files every complete StandardSave step directory holds (Orbax 0.11-0.12).
_REQUIRED_FILES = ("_CHECKPOINT_METADATA", "default/_METADATA", "default/manifest.ocdbt")


class SkippedCheckpoint(NamedTuple):
    """A damaged checkpoint that :meth:`Checkpointer.restore_latest` moved aside."""

    step: int
    reason: str
    moved_to: str


def _one_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    text = f"{type(e).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def checkpoint_problem(step_dir: str) -> str | None:
    """A one-line reason why `step_dir` is not a complete checkpoint, or None if it looks whole."""
    if not os.path.isdir(step_dir):
        return "not a directory"
    if not os.listdir(step_dir):
        return "empty directory"
    for name in _REQUIRED_FILES:
        if not os.path.isfile(os.path.join(step_dir, name)):
            return f"missing {name}"
    return None


class CheckpointMismatchError(ValueError):
    """A whole checkpoint that was written for another model or optimizer (its tree structure
    or array shapes differ): never moved aside or overwritten, the run is refused."""


# Orbax's messages when a whole checkpoint does not fit the requested structure or shapes.
_MISMATCH = (
    "tree structures do not match",
    "not compatible with the stored shape",
    "Requested shape",
    "structure mismatch",
    "Dict key mismatch",
)


class Checkpointer:
    """Thin wrapper over `ocp.CheckpointManager` for replicated train states.

    Args:
      directory: where step directories are written (created if missing).
      keep: how many of the most recent checkpoints to keep (>= 1).
      async_save: write checkpoints in a background thread.
    """

    def __init__(self, directory: str, *, keep: int = 3, async_save: bool = True):
        if keep < 1:
            raise ValueError(f"keep must be >= 1; got {keep}")
        self.directory = os.path.abspath(directory)
        self.bad_directory = self.directory + "_bad"
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=async_save
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def step_directories(self) -> list[int]:
        """Every step directory on disk (complete or not), newest first."""
        if not os.path.isdir(self.directory):
            return []
        names = [n for n in os.listdir(self.directory) if n.isdigit()]
        return sorted((int(n) for n in names), reverse=True)

    def save(self, step: int, state, key: jax.Array) -> None:
        """Saves `state` and `key` (a typed PRNG key or its raw key data) at `step`."""
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        tree = {"state": state, "key": key}
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

    def restore_latest(self, abstract_state, key_impl_like: jax.Array, mesh: Mesh):
        """Restores the newest checkpoint that restores, moving damaged newer ones aside.

        A whole checkpoint whose tree structure or shapes differ from `abstract_state` (another
        model or optimizer) raises :class:`CheckpointMismatchError` instead: it is not damaged,
        and moving it aside would lose that run's progress.

        Returns:
          `(step, state, key, skipped)`: `step` is None (and `state`, `key` are None) when
          no checkpoint restores; `skipped` lists the :class:`SkippedCheckpoint`s moved
          aside, each announced on stderr in one line.
        """
        skipped: list[SkippedCheckpoint] = []
        for step in self.step_directories():
            reason = checkpoint_problem(os.path.join(self.directory, str(step)))
            if reason is None:
                try:
                    state, key = self.restore(step, abstract_state, key_impl_like, mesh)
                except Exception as e:  # noqa: BLE001 - any failure means "use an older one"
                    reason = _one_line(e)
                    if any(m in str(e) for m in _MISMATCH):  # whole, but for another model
                        raise CheckpointMismatchError(
                            f"the checkpoint at step {step} in {self.directory} was written for "
                            f"another model or optimizer ({reason[:200]}); train into another "
                            f"workdir, or move {self.directory} aside to start afresh"
                        ) from None
                else:
                    return step, state, key, skipped
            skipped.append(self._move_aside(step, reason))
        return None, None, None, skipped

    def _move_aside(self, step: int, reason: str) -> SkippedCheckpoint:
        src = os.path.join(self.directory, str(step))
        dst = os.path.join(self.bad_directory, str(step))
        n = 1
        while os.path.exists(dst):
            dst = os.path.join(self.bad_directory, f"{step}.{n}")
            n += 1
        if jax.process_index() == 0:
            os.makedirs(self.bad_directory, exist_ok=True)
            shutil.move(src, dst)
            print(
                f"warning: skipped damaged checkpoint at step {step} ({reason}); moved it to {dst}",
                file=sys.stderr,
                flush=True,
            )
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices(f"qdjax_checkpoint_move_{step}")
        self._manager.reload()
        return SkippedCheckpoint(step, reason, dst)

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

"""Metric writers: JSON lines (`metrics.jsonl`), TensorBoard events, results file.

With several processes (`jax.distributed`) only process 0 writes; the other processes'
writers are no-ops, so a shared workdir gets every row and file exactly once.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import jax


def is_writer() -> bool:
    """Whether this process writes host-side files (process 0 of a multi-process job)."""
    return jax.process_index() == 0


def _jsonable_tree(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable_tree(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable_tree(x) for x in v]
    return _jsonable(v)


def _jsonable(v: Any) -> Any:
    if getattr(v, "ndim", 0) and hasattr(v, "tolist"):
        return [_jsonable(x) for x in v.tolist()]
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class MetricWriter:
    """Appends `{"step": ..., **scalars}` lines to `workdir/metrics.jsonl` and TensorBoard.

    The JSON file is flushed after every write so a killed run keeps what it logged.
    TensorBoard events go to `workdir/tensorboard/` (tensorboardX; no TensorFlow needed).

    Args:
      workdir: the run's directory.
      tensorboard: also write TensorBoard events.
      truncate_after: drop existing rows with a step above this one first (a run resuming
        from the checkpoint at this step rewrites the rows after it; None keeps all).
    """

    def __init__(
        self, workdir: str, *, tensorboard: bool = True, truncate_after: int | None = None
    ):
        self._file = self._tb = None
        if not is_writer():
            return
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, "metrics.jsonl")
        if truncate_after is not None:
            truncate_metrics(path, truncate_after)
        self._file = open(path, "a", encoding="utf-8")
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, scalars: Mapping[str, Any]) -> None:
        if self._file is None:
            return
        row = {"step": int(step), **{k: _jsonable(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, int | float):
                    self._tb.add_scalar(k, v, global_step=step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._tb is not None:
            self._tb.close()


def truncate_metrics(path: str, last_step: int) -> int:
    """Rewrites `metrics.jsonl` at `path` without rows above `last_step` (or cut by a kill).

    Returns the number of lines dropped. The rewrite is atomic (temporary file + rename).
    """
    if not os.path.exists(path):
        return 0
    keep, dropped = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
                ok = int(row["step"]) <= last_step
            except (ValueError, KeyError, TypeError):
                ok = False
            if ok:
                keep.append(line if line.endswith("\n") else line + "\n")
            elif line.strip():
                dropped += 1
    if dropped:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(keep)
        os.replace(tmp, path)
    return dropped


def read_metrics(workdir: str) -> dict[int, dict[str, Any]]:
    """Reads `metrics.jsonl`; for a step logged twice (a resumed run) the last line wins.

    Lines with the same step are merged (training and evaluation rows).
    """
    rows: dict[int, dict[str, Any]] = {}
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            rows.setdefault(row["step"], {}).update(row)
    return rows


def write_json(path: str, obj: Any, **dump_kwargs) -> None:
    """Writes `obj` as JSON to `path` atomically (a temporary file, then `os.replace`), so a
    kill never leaves a half-written record."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, **dump_kwargs)
    os.replace(tmp, path)


def write_results(workdir: str, results: Mapping[str, Any]) -> str:
    """Writes `workdir/results.json` atomically (process 0 only) and returns its path."""
    path = os.path.join(workdir, "results.json")
    if is_writer():
        write_json(path, _jsonable_tree(results), indent=2, sort_keys=True)
    return path

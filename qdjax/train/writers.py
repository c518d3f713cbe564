"""Metric writers: JSON lines (`metrics.jsonl`), TensorBoard events, results file."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class MetricWriter:
    """Appends `{"step": ..., **scalars}` lines to `workdir/metrics.jsonl` and TensorBoard.

    The JSON file is flushed after every write so a killed run keeps what it logged.
    TensorBoard events go to `workdir/tensorboard/` (tensorboardX; no TensorFlow needed).
    """

    def __init__(self, workdir: str, *, tensorboard: bool = True):
        os.makedirs(workdir, exist_ok=True)
        self._file = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, scalars: Mapping[str, Any]) -> None:
        row = {"step": int(step), **{k: _jsonable(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, int | float):
                    self._tb.add_scalar(k, v, global_step=step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


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


def write_results(workdir: str, results: Mapping[str, Any]) -> str:
    """Writes `workdir/results.json` atomically and returns its path."""
    path = os.path.join(workdir, "results.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({k: _jsonable(v) for k, v in results.items()}, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return path

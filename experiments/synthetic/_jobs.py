"""Helpers shared by the synthetic analysis scripts (large_samples, partial_grids)."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence

from experiments.synthetic.protocol import parse_seeds


def int_list(text: str, flag: str) -> list[int]:
    """`'0,1,5-7'` -> `[0, 1, 5, 6, 7]`; anything else exits with one line naming `flag`."""
    try:
        values = parse_seeds(text)
    except ValueError:
        values = []
    if not values:
        sys.exit(f"error: {flag} must look like '0,1,5-7'; got {text!r}")
    return values


def map_jobs(fn: Callable, jobs: Sequence, workers: int) -> list:
    """`[fn(j) for j in jobs]`, in `workers` spawned processes when more than one."""
    if workers == 1:
        return [fn(j) for j in jobs]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(fn, jobs, chunksize=1)

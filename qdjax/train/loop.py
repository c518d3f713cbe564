"""The one training loop every experiment uses.

`train(modules, step_fn, source, ...)` runs a jitted, data-parallel step over
`nnx.split(modules)`, logs to `metrics.jsonl` + TensorBoard, shows a progress bar,
checkpoints every `checkpoint_every` steps (keeping the last `keep_checkpoints`)
and resumes automatically from the latest checkpoint in `workdir`. Because the
batch of step `t` is `source.batch(t)` and the step key is `fold_in(key(seed), t)`,
a run killed at any moment and started again with the same arguments reproduces
the losses of an uninterrupted run.

A non-finite value in a step's metrics stops the run with
:class:`NonFiniteLossError` naming the step and the offending terms; checkpoints
are only written after the metrics of every step up to them were checked, so the
last good checkpoint stays intact.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from absl import logging
from flax import nnx

from qdjax._src.typing import Batch, check_batch
from qdjax.data import BatchSource
from qdjax.train.checkpoint import Checkpointer
from qdjax.train.step import jit_step, make_data_mesh, put_batch, replicated
from qdjax.train.writers import MetricWriter


class NonFiniteLossError(FloatingPointError):
    """A training step produced a NaN or Inf loss term."""


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
      modules: the trained modules (same structure as passed in), on device.
      step: number of completed steps.
      last_metrics: the host metrics of the final step.
      resumed_from: the checkpoint step the run resumed from, or None.
      wall_time: seconds spent in this call (compilation included).
      examples_per_sec: mean training throughput of this call (excluding the first step).
    """

    modules: Any
    step: int
    last_metrics: dict[str, float]
    resumed_from: int | None
    wall_time: float
    examples_per_sec: float


def _check_finite(step: int, metrics: dict[str, float], last_good: int | None) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        terms = [k for k in bad if k not in ("loss", "grad_norm")] or sorted(bad)
        raise NonFiniteLossError(
            f"non-finite loss at step {step}: term(s) {', '.join(terms)} = "
            f"{', '.join(str(bad[k]) for k in terms)}; last good checkpoint: "
            f"{'none' if last_good is None else f'step {last_good}'}"
        )


def _validate(num_steps, checkpoint_every, keep_checkpoints, log_every, eval_every) -> None:
    for name, value, low in [
        ("num_steps", num_steps, 0),
        ("checkpoint_every", checkpoint_every, 1),
        ("keep_checkpoints", keep_checkpoints, 1),
        ("log_every", log_every, 1),
        ("eval_every", eval_every, 0),
    ]:
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value}")


def train(
    modules: Any,
    step_fn: Callable,
    source: BatchSource,
    *,
    num_steps: int,
    workdir: str,
    seed: int = 0,
    checkpoint_every: int = 1000,
    keep_checkpoints: int = 3,
    log_every: int = 100,
    eval_every: int = 0,
    eval_fn: Callable[[Any, int], dict[str, float]] | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
    tensorboard: bool = True,
) -> TrainResult:
    """Trains `modules` (e.g. `(model, optimizer)`) for `num_steps` steps.

    Args:
      modules: NNX modules split once into `(graphdef, state)`; typically `(model, optimizer)`.
      step_fn: `step(graphdef, state, batch, key) -> (state, aux)`, e.g. from
        :func:`qdjax.train.make_train_step`; `aux` is a dict of scalars including `"loss"`.
      source: `source.batch(step) -> Batch` of host arrays (pure in `(seed, step)`).
      num_steps: total number of steps of the run (a resumed run continues up to it).
      workdir: where `checkpoints/`, `metrics.jsonl` and `tensorboard/` go.
      seed: seeds the per-step PRNG keys `fold_in(key(seed), step)`.
      checkpoint_every: save every this many steps (and at the end).
      keep_checkpoints: how many recent checkpoints to keep.
      log_every: metrics are fetched, checked and written every this many steps.
      eval_every: call `eval_fn(modules, step)` every this many steps (0: only at the end).
      eval_fn: optional evaluation returning scalars (logged with an `eval/` prefix).
      devices: devices of the data-parallel mesh (default: all).
      progress: show a tqdm progress bar.
      tensorboard: also write TensorBoard event files.

    Returns:
      A :class:`TrainResult`.

    Raises:
      NonFiniteLossError: a step produced a NaN/Inf metric.
      ValueError: bad arguments or a malformed batch (message names the fix).
    """
    _validate(num_steps, checkpoint_every, keep_checkpoints, log_every, eval_every)
    start_time = time.perf_counter()
    os.makedirs(workdir, exist_ok=True)
    mesh = make_data_mesh(devices)
    graphdef, state = nnx.split(modules)
    key = jax.random.key(seed)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep=keep_checkpoints)
    start = ckpt.latest_step()
    if start is not None:
        logging.info("resuming from checkpoint at step %d in %s", start, ckpt.directory)
        state, key = ckpt.restore(start, state, key, mesh)
    else:
        state = jax.device_put(state, replicated(mesh))
    begin = start or 0
    writer = MetricWriter(workdir, tensorboard=tensorboard)
    step = jit_step(step_fn, graphdef, mesh)

    def load(t: int) -> Batch:
        b = source.batch(t)
        check_batch(b, name=f"batch of step {t}")
        return put_batch(b, mesh)

    def evaluate(t: int) -> None:
        if eval_fn is None:
            return
        scalars = eval_fn(nnx.merge(graphdef, state), t)
        writer.write(t, {f"eval/{k}": v for k, v in scalars.items()})

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=num_steps,
            initial=begin,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            mininterval=1.0,
        )
    pending: list[tuple[int, dict[str, jax.Array]]] = []
    last_good = start
    last_metrics: dict[str, float] = {}
    throughput: list[float] = []
    window_start, window_steps = time.perf_counter(), 0

    def flush() -> None:
        nonlocal last_metrics, window_start, window_steps
        if not pending:
            return
        fetched = jax.device_get(pending)
        pending.clear()
        now = time.perf_counter()
        rate = window_steps * source.batch_size / max(now - window_start, 1e-9)
        for t, aux in fetched:
            metrics = {k: float(v) for k, v in aux.items()}
            _check_finite(t, metrics, last_good)
            last_metrics = metrics
        writer.write(fetched[-1][0], {**last_metrics, "examples_per_sec": rate})
        if bar is not None:
            bar.set_postfix(loss=f"{last_metrics['loss']:.4g}", ex_s=f"{rate:.0f}")
        if fetched[-1][0] > begin + 1:  # skip the compile-dominated first window
            throughput.append(rate)
        window_start, window_steps = now, 0

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        nxt = pool.submit(load, begin) if begin < num_steps else None
        for t in range(begin, num_steps):
            batch = nxt.result()
            nxt = pool.submit(load, t + 1) if t + 1 < num_steps else None
            state, aux = step(state, batch, jax.random.fold_in(key, t))
            pending.append((t + 1, aux))
            window_steps += 1
            done = t + 1
            if bar is not None:
                bar.update(1)
            if done % log_every == 0 or done == num_steps or done % checkpoint_every == 0:
                flush()
            if done % checkpoint_every == 0 or done == num_steps:
                ckpt.save(done, state, key)
                last_good = done
            if eval_every and done % eval_every == 0 and done != num_steps:
                evaluate(done)
        flush()
        ckpt.wait()
        evaluate(max(num_steps, begin))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
        ckpt.close()
        writer.close()
    return TrainResult(
        modules=nnx.merge(graphdef, state),
        step=max(num_steps, begin),
        last_metrics=last_metrics,
        resumed_from=start,
        wall_time=time.perf_counter() - start_time,
        examples_per_sec=float(np.mean(throughput)) if throughput else float("nan"),
    )

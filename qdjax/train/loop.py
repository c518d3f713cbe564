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
last good checkpoint stays intact. Before each save the parameters and optimizer
state themselves are checked too, so a saved checkpoint never holds NaN/Inf.

Workdir safety (every experiment inherits it):

* an exclusive lock on `workdir` (:class:`qdjax.train.workdir.WorkdirLock`; a second
  run raises :class:`WorkdirInUseError` naming the holder's pid);
* a damaged newest checkpoint is moved aside and the newest one that restores is used
  (:meth:`Checkpointer.restore_latest`);
* `metrics.jsonl` is cut back to the checkpoint step on resume (no duplicate rows);
* SIGTERM / SIGINT (a scheduler's pre-emption, Ctrl-C) save a checkpoint at the
  current step and raise :class:`TrainingInterrupted`; running again resumes;
* a loss that ends `DIVERGENCE_FACTOR` times above where it started warns with
  :class:`LossDivergenceWarning`;
* the first step's compilation is timed apart (`TrainResult.compile_time`) and the
  progress bar starts after it, so its ETA counts only training steps.

With several processes (`jax.distributed`) every process runs the same loop on its
slice of the global batch; process 0 alone writes `metrics.jsonl`, TensorBoard and
the lock; every process takes part in Orbax saves and restores; a stop signal is
agreed on across processes at logging steps; the returned modules (and what
`eval_fn` sees) are process-local replicas, so evaluation runs identically everywhere.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import nnx
from jax.experimental import multihost_utils

from qdjax._src.typing import Batch, check_batch
from qdjax.data import BatchSource
from qdjax.train.checkpoint import Checkpointer, CheckpointMismatchError, SkippedCheckpoint
from qdjax.train.step import jit_step, make_data_mesh, put_batch, replicated
from qdjax.train.workdir import WorkdirLock
from qdjax.train.writers import (
    MetricWriter,
    _jsonable_tree,
    is_writer,
    read_metrics,
    write_json,
)

# A run whose final loss is this many times above its first logged loss has diverged.
DIVERGENCE_FACTOR = 1e5


class NonFiniteLossError(FloatingPointError):
    """A training step produced a NaN or Inf loss term (or non-finite parameters)."""


class TrainingInterrupted(Exception):
    """SIGTERM/SIGINT stopped the run after saving a checkpoint at `step`.

    Attributes:
      signum: the signal received.
      step: the step of the checkpoint just saved (the run resumes from it).
    """

    def __init__(self, signum: int, step: int, workdir: str):
        self.signum, self.step = signum, step
        name = signal.Signals(signum).name
        super().__init__(
            f"{name} received: saved a checkpoint at step {step} in {workdir}; "
            f"run the same command again to resume"
        )


class LossDivergenceWarning(UserWarning):
    """The run's final loss is `DIVERGENCE_FACTOR` times above its first logged loss."""


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
      compile_time: seconds of the first step of this call (compilation + one step).
      skipped_checkpoints: damaged checkpoints moved aside before resuming.
      diverged: the final loss is `DIVERGENCE_FACTOR` times above the first logged loss.
    """

    modules: Any
    step: int
    last_metrics: dict[str, float]
    resumed_from: int | None
    wall_time: float
    examples_per_sec: float
    compile_time: float = float("nan")
    skipped_checkpoints: list[SkippedCheckpoint] = dataclasses.field(default_factory=list)
    diverged: bool = False


def _check_finite(step: int, metrics: dict[str, float], last_good: int | None) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        terms = [k for k in bad if k not in ("loss", "grad_norm")] or sorted(bad)
        raise NonFiniteLossError(
            f"non-finite loss at step {step}: term(s) {', '.join(terms)} = "
            f"{', '.join(str(bad[k]) for k in terms)}; last good checkpoint: "
            f"{'none' if last_good is None else f'step {last_good}'}"
        )


@jax.jit
def _leaf_finite(leaves):
    return jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])


def _check_finite_state(step: int, state, last_good: int | None) -> None:
    """Raises NonFiniteLossError naming the first parameters that hold NaN/Inf."""
    paths, leaves = [], []
    for path, x in jax.tree_util.tree_leaves_with_path(state):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.inexact):
            paths.append(jax.tree_util.keystr(path))
            leaves.append(x)
    if not leaves:
        return
    ok = np.asarray(jax.device_get(_localize(_leaf_finite(leaves))))
    if not ok.all():
        bad = [p for p, good in zip(paths, ok) if not good]
        raise NonFiniteLossError(
            f"non-finite state at step {step} (not saved): {', '.join(bad[:3])}"
            f"{' ...' if len(bad) > 3 else ''}; last good checkpoint: "
            f"{'none' if last_good is None else f'step {last_good}'}"
        )


def _localize(tree):
    """Process-local copies of replicated global arrays (identity with one process)."""
    if jax.process_count() == 1:
        return tree
    device = jax.local_devices()[0]

    def local(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return jax.device_put(x.addressable_shards[0].data, device)
        return x

    return jax.tree.map(local, tree)


class _InlineExecutor:
    """`submit` runs the call at once and returns its finished future."""

    def submit(self, fn, *args) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except Exception as e:  # noqa: BLE001 - re-raised by future.result()
            future.set_exception(e)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        del wait, cancel_futures


def _global_key_data(key: jax.Array, mesh) -> jax.Array:
    """The raw data of `key` as an array replicated over `mesh` (what Orbax saves)."""
    data = np.asarray(jax.device_get(_localize(jax.random.key_data(key))))
    return jax.make_array_from_callback(data.shape, replicated(mesh), lambda index: data[index])


@contextlib.contextmanager
def _stop_signals():
    """Records SIGTERM/SIGINT in `flag["signum"]` instead of dying; a second one kills."""
    flag: dict[str, int | None] = {"signum": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {}

    def handler(signum, frame):
        if flag["signum"] is not None:  # second signal: give up on the clean stop
            signal.signal(signum, previous.get(signum, signal.SIG_DFL))
            os.kill(os.getpid(), signum)
            return
        flag["signum"] = signum

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield flag
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def _agreed_signal(local: int | None) -> int | None:
    """The stop signal if any process received one (a collective with several processes)."""
    if jax.process_count() == 1:
        return local
    got = multihost_utils.process_allgather(np.int32(local or 0))
    got = [int(v) for v in np.ravel(got) if v]
    return got[0] if got else None


def _first_loss(workdir: str, up_to: int) -> float | None:
    rows = read_metrics(workdir)
    steps = [t for t in sorted(rows) if t <= up_to and "loss" in rows[t]]
    if not steps:
        return None
    try:
        return float(rows[steps[0]]["loss"])
    except (TypeError, ValueError):
        return None


def _diverged(first: float | None, final: float | None) -> bool:
    if first is None or final is None or not (math.isfinite(first) and math.isfinite(final)):
        return False
    return abs(final) > DIVERGENCE_FACTOR * max(abs(first), 1e-12)


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
    run_config: Mapping[str, Any] | None = None,
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
      run_config: what else defines this run (learning rate, loss weights, data settings:
        JSON-serializable values; NumPy values are converted). Recorded in
        `workdir/run_config.json` by a fresh run; resuming with a different one (or with
        none where one was recorded, or the reverse) raises :class:`CheckpointMismatchError`
        naming the keys that differ. Without it a resume checks only what the checkpoint
        itself shows (model and optimizer structure, seed, step), so a rerun with another
        learning rate or loss weight would continue the old run.

    Returns:
      A :class:`TrainResult`.

    Raises:
      NonFiniteLossError: a step produced a NaN/Inf metric, or the state to save holds NaN/Inf.
      TrainingInterrupted: SIGTERM/SIGINT arrived; a checkpoint at the current step was saved.
      WorkdirInUseError: another live run holds `workdir`.
      CheckpointMismatchError: `workdir` holds a checkpoint of another model, optimizer or
        `run_config`; it is left in place.
      ValueError: bad arguments or a malformed batch (message names the fix).

    Warns:
      LossDivergenceWarning: the final loss is `DIVERGENCE_FACTOR` times above the first.
    """
    _validate(num_steps, checkpoint_every, keep_checkpoints, log_every, eval_every)
    lock = WorkdirLock(workdir) if is_writer() else contextlib.nullcontext()
    with lock, _stop_signals() as stop:
        return _train(
            modules,
            step_fn,
            source,
            stop,
            num_steps=num_steps,
            workdir=workdir,
            seed=seed,
            checkpoint_every=checkpoint_every,
            keep_checkpoints=keep_checkpoints,
            log_every=log_every,
            eval_every=eval_every,
            eval_fn=eval_fn,
            devices=devices,
            progress=progress,
            tensorboard=tensorboard,
            run_config=_normalized_config(run_config),
        )


RUN_CONFIG_RECORD = "run_config.json"


def _normalized_config(run_config: Mapping[str, Any] | None) -> dict | None:
    """`run_config` as it reads back from JSON (tuples as lists, NumPy values as Python's)."""
    if run_config is None:
        return None
    if not isinstance(run_config, Mapping):
        raise TypeError(f"run_config must be a mapping (e.g. a dict); got {type(run_config)}")

    def refuse(value):
        raise TypeError(
            f"run_config values must be JSON-serializable (numbers, strings, lists, dicts); got "
            f"{type(value).__name__} {value!r:.60}: record a name or number that identifies it"
        )

    plain = _jsonable_tree(run_config)  # NumPy / JAX values as Python's, as results.json
    return json.loads(json.dumps(plain, sort_keys=True, default=refuse))


def _check_run_config(workdir: str, start: int, run_config: dict | None) -> None:
    """CheckpointMismatchError if the run resumed at `start` was recorded with another config."""
    path = os.path.join(workdir, RUN_CONFIG_RECORD)
    try:
        with open(path, encoding="utf-8") as f:
            recorded = json.load(f)
        if not isinstance(recorded, dict):
            raise ValueError(f"it holds a {type(recorded).__name__}, not a JSON object")
    except FileNotFoundError:
        recorded = None
    except (OSError, ValueError) as e:
        raise CheckpointMismatchError(
            f"{path} cannot be read ({e}), so the checkpoint at step {start} cannot be checked "
            "against run_config; train into another workdir"
        ) from None
    if recorded == run_config:
        return
    if recorded is None or run_config is None:
        which = "without" if recorded is None else "with"
        raise CheckpointMismatchError(
            f"{workdir} holds a checkpoint (step {start}) of a run made {which} run_config, "
            f"and this call passes {'one' if recorded is None else 'none'}; pass the same "
            "run_config to continue it, or train into another workdir"
        )
    keys = sorted(
        k
        for k in set(recorded) | set(run_config)
        if recorded.get(k, _MISSING) != run_config.get(k, _MISSING)
    )
    diff = ", ".join(
        f"{k}: {recorded.get(k, '(absent)')!r} -> {run_config.get(k, '(absent)')!r}"
        for k in keys[:5]
    )
    more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
    raise CheckpointMismatchError(
        f"{workdir} holds a checkpoint (step {start}) of a run with another run_config "
        f"({diff}{more}); train into another workdir, or pass that run's run_config to continue it"
    )


_MISSING = object()


def _write_run_config(workdir: str, run_config: dict | None) -> None:
    path = os.path.join(workdir, RUN_CONFIG_RECORD)
    if run_config is None:
        if os.path.exists(path):  # a stale record of a run that never checkpointed
            os.remove(path)
        return
    write_json(path, run_config, indent=1, sort_keys=True)


def _check_resume(workdir: str, start: int, restored_key, seed: int, num_steps: int) -> None:
    """ValueError if the checkpoint at `start` is another seed's run or past `num_steps`."""
    saved_key = np.asarray(jax.device_get(_localize(jax.random.key_data(restored_key))))
    if not np.array_equal(saved_key, np.asarray(jax.random.key_data(jax.random.key(seed)))):
        raise ValueError(
            f"{workdir} holds a run trained with another seed (the base key of its "
            f"checkpoint at step {start} is not key({seed})); train into another workdir, "
            "or pass the seed that run was made with"
        )
    if start > num_steps:
        raise ValueError(
            f"{workdir} holds a checkpoint at step {start} > num_steps={num_steps}; pass "
            f"num_steps >= {start} to continue that run, or train into another workdir"
        )


def _train(
    modules,
    step_fn,
    source,
    stop,
    *,
    num_steps,
    workdir,
    seed,
    checkpoint_every,
    keep_checkpoints,
    log_every,
    eval_every,
    eval_fn,
    devices,
    progress,
    tensorboard,
    run_config,
) -> TrainResult:
    start_time = time.perf_counter()
    os.makedirs(workdir, exist_ok=True)
    mesh = make_data_mesh(devices)
    graphdef, state = nnx.split(modules)
    key = jax.random.key(seed)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep=keep_checkpoints)
    try:  # another run's workdir (model, optimizer, seed, more steps) is refused, left in place
        start, restored, restored_key, skipped = ckpt.restore_latest(state, key, mesh)
        if start is not None:
            _check_resume(workdir, start, restored_key, seed, num_steps)
            _check_run_config(workdir, start, run_config)
    except ValueError:
        ckpt.close()
        raise
    if start is None and is_writer():  # a fresh run (re)writes its record
        _write_run_config(workdir, run_config)
    if start is not None:
        logging.info("resuming from checkpoint at step %d in %s", start, ckpt.directory)
        state, key = restored, restored_key
    else:
        state = jax.device_put(state, replicated(mesh))
    begin = start or 0
    first_loss = _first_loss(workdir, begin) if begin else None
    writer = MetricWriter(workdir, tensorboard=tensorboard, truncate_after=begin)
    step = jit_step(step_fn, graphdef, mesh)
    multi = jax.process_count() > 1

    def load(t: int) -> Batch:
        b = source.batch(t)
        if not isinstance(b.x, jax.Array):  # device-resident sources hand over placed arrays
            check_batch(b, name=f"batch of step {t}")
        return put_batch(b, mesh)

    def evaluate(t: int) -> None:
        if eval_fn is None:
            return
        scalars = eval_fn(nnx.merge(graphdef, _localize(state)), t)
        writer.write(t, {f"eval/{k}": v for k, v in scalars.items()})

    bar = None
    pending: list[tuple[int, dict[str, jax.Array]]] = []
    last_good = start
    saved = start
    last_metrics: dict[str, float] = {}
    throughput: list[float] = []
    compile_time = float("nan")
    window_start, window_steps = time.perf_counter(), 0

    def flush() -> None:
        nonlocal last_metrics, window_start, window_steps, first_loss
        if not pending:
            return
        fetched = jax.device_get(_localize(pending))
        pending.clear()
        now = time.perf_counter()
        rate = window_steps * source.batch_size / max(now - window_start, 1e-9)
        for t, aux in fetched:
            metrics = {k: float(v) for k, v in aux.items()}
            _check_finite(t, metrics, last_good)
            last_metrics = metrics
            if first_loss is None and "loss" in metrics:
                first_loss = metrics["loss"]
        extra = {"examples_per_sec": rate}
        if fetched[0][0] == begin + 1:
            extra["compile_time_s"] = compile_time
        writer.write(fetched[-1][0], {**last_metrics, **extra})
        if bar is not None:
            bar.set_postfix(loss=f"{last_metrics['loss']:.4g}", ex_s=f"{rate:.0f}")
        if fetched[-1][0] > begin + 1:  # skip the compile-dominated first window
            throughput.append(rate)
        window_start, window_steps = now, 0

    def save(done: int) -> None:
        nonlocal last_good, saved
        if saved == done:
            return
        _check_finite_state(done, state, last_good)
        ckpt.save(done, state, _global_key_data(key, mesh))
        last_good = saved = done

    # One process: the next batch is prepared in a thread while the step runs. Several: in
    # the main thread, so that every process launches device work (a device-resident
    # source's jitted draw, collectives) in the same order; a thread would deadlock them.
    pool = _InlineExecutor() if multi else concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        nxt = pool.submit(load, begin) if begin < num_steps else None
        for t in range(begin, num_steps):
            batch = nxt.result()
            nxt = pool.submit(load, t + 1) if t + 1 < num_steps else None
            state, aux = step(state, batch, jax.random.fold_in(key, t))
            pending.append((t + 1, aux))
            window_steps += 1
            done = t + 1
            if t == begin:  # compilation + one step, timed apart from the progress bar's ETA
                jax.block_until_ready(aux)
                compile_time = time.perf_counter() - window_start
                logging.info("first step (compilation included) took %.1f s", compile_time)
                if progress and is_writer():
                    from tqdm.auto import tqdm

                    bar = tqdm(
                        total=num_steps,
                        initial=done,
                        desc=f"train (compiled in {compile_time:.1f}s)",
                        unit="step",
                        dynamic_ncols=True,
                        mininterval=1.0,
                    )
            elif bar is not None:
                bar.update(1)
            logging_step = done % log_every == 0 or done == num_steps
            if logging_step or done % checkpoint_every == 0:
                flush()
            if done % checkpoint_every == 0 or done == num_steps:
                save(done)
            signum = stop["signum"]
            if multi:  # agree across processes, at steps every process reaches
                signum = _agreed_signal(signum) if logging_step else None
            if signum is not None:
                flush()
                save(done)
                ckpt.wait()
                raise TrainingInterrupted(signum, done, workdir)
            if eval_every and done % eval_every == 0 and done != num_steps:
                evaluate(done)
        flush()
        ckpt.wait()
        already = read_metrics(workdir).get(begin, {}) if begin >= num_steps else {}
        if not any(k.startswith("eval/") for k in already):  # a rerun adds no duplicate row
            evaluate(max(num_steps, begin))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
        ckpt.close()
        writer.close()
    final_loss = last_metrics.get("loss")
    diverged = _diverged(first_loss, final_loss)
    if diverged:
        warnings.warn(
            LossDivergenceWarning(
                f"the loss diverged: it ended at {final_loss:.4g}, more than "
                f"{DIVERGENCE_FACTOR:.0e} times its start {first_loss:.4g}; lower the "
                f"learning rate or the regularizer weight"
            ),
            stacklevel=3,
        )
    return TrainResult(
        modules=nnx.merge(graphdef, _localize(state)),
        step=max(num_steps, begin),
        last_metrics=last_metrics,
        resumed_from=start,
        wall_time=time.perf_counter() - start_time,
        examples_per_sec=float(np.mean(throughput)) if throughput else float("nan"),
        compile_time=compile_time,
        skipped_checkpoints=skipped,
        diverged=diverged,
    )

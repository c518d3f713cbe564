"""Shared entrypoint plumbing for `python -m experiments.<name>`.

Each experiment's `__main__.py` is three lines: it defines `--config` (an
`ml_collections` config file, overridable as `--config.train.num_steps=...`) and
`--workdir`, and calls :func:`run`. Flagfiles (`--flagfile=...`) are parsed by absl
before the config overrides. Bad configuration values raise :class:`ConfigError`,
printed as a one-line usage error naming the flag.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import jax
from absl import app, flags, logging
from ml_collections import config_flags


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the `--config.*` flag."""


def require(ok: bool, flag: str, message: str) -> None:
    """Raises `ConfigError("--config.<flag> <message>")` unless `ok`."""
    if not ok:
        raise ConfigError(f"--config.{flag} {message}")


def validate_train(train) -> None:
    """Checks the `train` section shared by every experiment (steps, batch, lr, intervals)."""
    require(train.num_steps >= 1, "train.num_steps", f"must be >= 1; got {train.num_steps}")
    n_dev = jax.device_count()
    require(
        train.batch_size >= 1 and train.batch_size % n_dev == 0,
        "train.batch_size",
        f"must be a positive multiple of the device count ({n_dev}); got {train.batch_size}",
    )
    require(
        train.learning_rate > 0, "train.learning_rate", f"must be > 0; got {train.learning_rate}"
    )
    for name in ("checkpoint_every", "keep_checkpoints", "log_every"):
        require(train[name] >= 1, f"train.{name}", f"must be >= 1; got {train[name]}")
    require(train.eval_every >= 0, "train.eval_every", f"must be >= 0; got {train.eval_every}")


def loop_kwargs(train) -> dict:
    """The `qdjax.train.train` keyword arguments held in a config's `train` section."""
    names = (
        "num_steps",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "eval_every",
        "progress",
    )
    return {name: train[name] for name in names}


def define_flags(default_config: str) -> None:
    config_flags.DEFINE_config_file(
        "config", default_config, "Experiment configuration file.", lock_config=True
    )
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and plots.")


def run(train_and_evaluate: Callable) -> None:
    """Parses flags and calls `train_and_evaluate(config, workdir)`."""

    def main(argv):
        if os.environ.get("QDJAX_DISTRIBUTED", "0") == "1":
            # Multi-host: coordinator/process ids from the environment (Slurm, TPU pods,
            # or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID).
            env = os.environ
            kwargs = {}
            if "JAX_NUM_PROCESSES" in env:
                kwargs["num_processes"] = int(env["JAX_NUM_PROCESSES"])
            if "JAX_PROCESS_ID" in env:
                kwargs["process_id"] = int(env["JAX_PROCESS_ID"])
            jax.distributed.initialize(**kwargs)
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        if not flags.FLAGS["verbosity"].present:  # keep library INFO chatter (Orbax) out
            logging.set_verbosity(logging.WARNING)
        cfg = flags.FLAGS.config
        workdir = flags.FLAGS.workdir
        if not workdir:
            raise app.UsageError("--workdir is required (e.g. --workdir=runs/synthetic)")
        print(
            f"JAX devices: {jax.devices()} (process {jax.process_index()} of "
            f"{jax.process_count()})",
            flush=True,
        )
        try:
            train_and_evaluate(cfg, workdir)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    app.run(main)

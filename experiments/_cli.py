"""Shared entrypoint plumbing for `python -m experiments.<name>`: flags, workdir, errors.

An experiment's `__main__.py` is three lines::

    from experiments import _cli
    from experiments.<name> import train

    _cli.define_flags("experiments/<name>/configs/default.py")
    if __name__ == "__main__":
        _cli.run(train.train_and_evaluate)

`train.train_and_evaluate(config, workdir) -> dict` receives the resolved
`ml_collections.ConfigDict` and trains through :func:`qdjax.train.train`. Everything
else is done here, once, for every experiment:

* **Flags.** `--config` (file, `file.py:arg`, overrides `--config.a.b=v`), `--workdir`,
  `--flagfile`, `--overwrite`, `--verbose`, `--debug`; `--help` prints them with an
  example.
* **Errors.** Every user error is one line `error: ...` naming the fix and a non-zero exit
  (2: bad flag, config value or config change; 1: a run-time stop such as NaN or a
  workdir in use); the traceback only with `--debug` or `QDJAX_DEBUG=1`. Raise
  :class:`ConfigError` (via :func:`require`) for bad config values.
* **The workdir.** :func:`workdir_session` takes the workdir's lock (one run per workdir;
  a lock left by a killed run is free again), compares the config with the one recorded
  in `workdir/config.json` by the first run and refuses a change to anything that changes
  the model, data or objective (:func:`config_changes`; `--overwrite` moves the old run
  aside to `<workdir>.replaced-<time>/` and starts afresh). Keys in :data:`MAY_CHANGE`
  (raising `train.num_steps`, intervals, progress, `eval.*`), plus the experiment's own
  `run(..., may_change=...)` patterns, may differ: the run continues from its checkpoint.
  The session adds the resolved config to a results.json written inside it (`"config"`),
  so the results say what produced them. It also refuses `data.num_eval` < 100
  (:func:`validate_num_eval`).
* **Stopping.** SIGTERM / Ctrl-C save a checkpoint at the current step (the engine does
  it) and exit with one line and code 128 + signal (143 / 130).
* **Divergence.** A run whose loss ends `1e5` times above its start finishes, writes its
  results, prints one `warning:` line and exits with code 3.
* **Output.** Orbax/absl INFO lines are hidden unless `--verbose`.
* **Multi-host** (`QDJAX_DISTRIBUTED=1`): `jax.distributed.initialize()` first; process 0
  alone takes the lock and writes the config record; a failure on any process prints one
  line and ends that process at once, which ends the job (the others lose their peer at
  the next collective, or their peer watch finds it silent for `QDJAX_HEARTBEAT_TIMEOUT`
  s, default 30, and they end with one error line; see `_PeerWatch`).

`run` keeps its old signature (`run(train_and_evaluate)`); `may_change` is a new optional
keyword. Scripts that call `train_and_evaluate` themselves (sweeps) use
:func:`workdir_session` and :func:`quiet_logging` directly.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging as std_logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from qdjax.train.writers import write_json

CONFIG_RECORD = "config.json"
# Config keys that may differ between runs in one workdir: they do not change the model,
# the data or the objective. `train.num_steps` may only go up.
MAY_CHANGE = (
    "train.num_steps",
    "train.progress",
    "train.log_every",
    "train.eval_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "eval.*",
)
EXIT_USAGE, EXIT_RUNTIME, EXIT_DIVERGED = 2, 1, 3


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the `--config.*` flag."""


class ConfigMismatchError(ConfigError):
    """The workdir holds a run made with a config that differs in a fixed key."""


def require(ok: bool, flag: str, message: str) -> None:
    """Raises `ConfigError("--config.<flag> <message>")` unless `ok`."""
    if not ok:
        raise ConfigError(f"--config.{flag} {message}")


def require_widths(value, flag: str, *, allow_empty: bool = False) -> None:
    """Layer widths: a tuple of positive ints (`()` only if `allow_empty`), or ConfigError."""
    ok = isinstance(value, (tuple, list)) and all(
        isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in value
    )
    require(
        ok and (allow_empty or len(value) > 0),
        flag,
        f"must be a tuple of positive integers{' (or ())' if allow_empty else ''}, e.g. "
        f"'(64, 64)'; got {value!r}",
    )


def require_seed(seed) -> None:
    """`config.seed`: a non-negative integer (NumPy's generators refuse negative seeds)."""
    require(
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
        "seed",
        f"must be an integer >= 0; got {seed!r}",
    )


def validate_train(train) -> None:
    """Checks the `train` section shared by every experiment (steps, batch, lr, intervals)."""
    require(train.num_steps >= 1, "train.num_steps", f"must be >= 1; got {train.num_steps}")
    n_dev = jax.device_count()
    require(
        train.batch_size >= 1 and train.batch_size % n_dev == 0,
        "train.batch_size",
        f"must be a positive multiple of the device count ({n_dev}); got {train.batch_size}",
    )
    lr = train.learning_rate
    require(0 < lr < float("inf"), "train.learning_rate", f"must be finite and > 0; got {lr}")
    for name in ("checkpoint_every", "keep_checkpoints", "log_every"):
        require(train[name] >= 1, f"train.{name}", f"must be >= 1; got {train[name]}")
    require(train.eval_every >= 0, "train.eval_every", f"must be >= 0; got {train.eval_every}")


def validate_num_eval(num_eval: int, flag: str = "data.num_eval", minimum: int = 100) -> None:
    """Refuses held-out sets too small for a metric to mean anything (MCC of 2 points is 1)."""
    require(
        num_eval >= minimum,
        flag,
        f"must be >= {minimum} held-out samples for the metrics to mean anything; got {num_eval}",
    )


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


# ----------------------------------------------------------------------------- config record


def config_record(config) -> dict:
    """The resolved config as plain JSON data (tuples become lists), for results.json."""
    return json.loads(json.dumps(config.to_dict(), default=str))


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


_ABSENT = "<absent>"


def config_changes(
    recorded: dict, requested: dict, may_change: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """`(fixed, allowed)`: the dotted keys that differ, split by whether they may change.

    A key may change if it matches a pattern of :data:`MAY_CHANGE` or `may_change`
    (`fnmatch` patterns); `train.num_steps` only upwards. A key missing on one side and
    None on the other (a config key added later, left unset) is no change.
    """
    a, b = _flatten(recorded), _flatten(requested)
    patterns = (*MAY_CHANGE, *may_change)
    fixed, allowed = [], []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key, _ABSENT), b.get(key, _ABSENT)
        if old == new or (old is None and new is _ABSENT) or (old is _ABSENT and new is None):
            continue  # equal, or a key added to the config later and left unset
        ok = any(fnmatch.fnmatchcase(key, p) for p in patterns)
        if key == "train.num_steps" and isinstance(old, int) and isinstance(new, int):
            ok = new >= old
        (allowed if ok else fixed).append(f"{key} {old!r} -> {new!r}")
    return fixed, allowed


def read_config_record(workdir: str) -> dict | None:
    path = os.path.join(workdir, CONFIG_RECORD)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)["config"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError):
        return {}  # unreadable: treated as a config that differs in everything


def _write_config_record(workdir: str, record: dict) -> None:
    payload = {"config": record, "command": _COMMAND or sys.argv, "time": time.time()}
    write_json(os.path.join(workdir, CONFIG_RECORD), payload, indent=2)


def move_run_aside(workdir: str) -> str:
    """Moves everything in `workdir` (but its lock) to `<workdir>.replaced-<time>/`."""
    dst = f"{os.path.abspath(workdir)}.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
    n = 1
    while os.path.exists(dst):
        dst, n = f"{dst.rsplit('~', 1)[0]}~{n}", n + 1
    os.makedirs(dst)
    from qdjax.train.workdir import LOCK_NAME

    for name in os.listdir(workdir):
        if name != LOCK_NAME:
            os.replace(os.path.join(workdir, name), os.path.join(dst, name))
    return dst


def check_workdir_config(config, workdir: str, *, may_change: Iterable[str] = ()) -> list[str]:
    """The fixed keys in which `config` differs from the one recorded in `workdir` ([] = ok).

    A workdir whose record is missing although it holds checkpoints or results (a deleted
    `config.json`, a copied run), or whose record cannot be read, cannot be checked: its one
    "difference" says so, so the run is refused rather than resumed from a checkpoint of an
    unknown config.
    """
    path = os.path.join(workdir, CONFIG_RECORD)
    recorded = read_config_record(workdir)
    if recorded is None:
        if _has_checkpoints(workdir) or os.path.exists(os.path.join(workdir, "results.json")):
            return [
                f"no {CONFIG_RECORD} beside its checkpoints/results, so their config is unknown"
            ]
        return []
    if not recorded and os.path.exists(path):
        return [f"its {CONFIG_RECORD} is unreadable (damaged), so its config is unknown"]
    fixed, _ = config_changes(recorded, config_record(config), may_change)
    return fixed


def _writable(workdir: str) -> None:
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ConfigError(f"--workdir={workdir} is a file, not a directory; choose a directory")
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, f".write_test.{os.getpid()}")
        with open(probe, "w") as f:
            f.write("")
        os.remove(probe)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(
            f"--workdir={workdir} is not writable ({reason}); choose a directory you can write"
        ) from None


@contextlib.contextmanager
def workdir_session(
    config, workdir: str, *, overwrite: bool = False, may_change: Iterable[str] = ()
) -> Iterator[None]:
    """Holds the workdir's lock, checks and records its config, for the body's duration.

    Raises:
      ConfigError: the workdir is not writable.
      ConfigMismatchError: the workdir's recorded config differs in a fixed key (and not
        `overwrite`).
      qdjax.train.WorkdirInUseError: another live run holds the workdir.
    """
    from qdjax.train.workdir import WorkdirLock

    if "data" in config and "num_eval" in config.data:
        validate_num_eval(config.data.num_eval)
    if jax.process_index() != 0:  # process 0 alone owns the workdir's files
        yield
        return
    _writable(workdir)
    with WorkdirLock(workdir):
        fixed = check_workdir_config(config, workdir, may_change=may_change)
        if fixed and overwrite:
            dst = move_run_aside(workdir)
            print(f"--overwrite: moved the previous run to {dst}", file=sys.stderr, flush=True)
        elif fixed:
            shown = "; ".join(fixed[:4]) + (
                f"; and {len(fixed) - 4} more" if len(fixed) > 4 else ""
            )
            raise ConfigMismatchError(
                f"--workdir={workdir} holds a run with a different config ({shown}); use "
                f"another --workdir, or --overwrite to move that run aside and start afresh"
            )
        record = config_record(config)
        first = read_config_record(workdir) is None
        _write_config_record(workdir, record)
        started = time.time()
        try:
            yield
        except BaseException:
            if first and not _has_checkpoints(workdir):  # e.g. a bad value: nothing ran
                os.remove(os.path.join(workdir, CONFIG_RECORD))
            raise
        _add_config_to_results(workdir, record, since=started)


def _has_checkpoints(workdir: str) -> bool:
    d = os.path.join(workdir, "checkpoints")
    return os.path.isdir(d) and any(n.isdigit() for n in os.listdir(d))


def _add_config_to_results(workdir: str, record: dict, *, since: float) -> None:
    """Adds `"config": record` to a results.json written during the session."""
    path = os.path.join(workdir, "results.json")
    try:
        if os.path.getmtime(path) < since - 1:
            return
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, ValueError):
        return
    results.setdefault("config", record)
    write_json(path, results, indent=2, sort_keys=True)


# ------------------------------------------------------------------------------- entrypoint


class _PlainFormatter(std_logging.Formatter):
    """`warning: message` instead of absl's `W1129 14:37:35.41 12345 file.py:71] message`."""

    def format(self, record) -> str:
        level = record.levelname.lower()
        if record.levelno >= std_logging.ERROR:  # a library's error, not our one-line verdict
            return f"{record.module}: {level}: {record.getMessage()}"
        return f"{level}: {record.getMessage()}"


def provenance(module: str | None = None, argv: list[str] | None = None) -> str:
    """`commit <sha>[ (+ uncommitted changes)]; command: python -m <module> <args>`.

    Every results table an experiment writes starts with this line, so the numbers in it
    name the code and the command that produced them (checked by tests/train/test_documents.py).
    `module` defaults to the running program's module, `argv` (the arguments after the
    program name) to `sys.argv[1:]`.
    """
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args):
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        except OSError:
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    sha = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = (
        " (+ uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    )
    module = module or f"experiments.{_experiment_name()}"
    args = " ".join((_COMMAND or sys.argv)[1:] if argv is None else argv)
    return f"commit {sha}{dirty}; command: python -m {module} {args}".rstrip()


def json_options(text: str, flag: str = "--options") -> dict:
    """`text` parsed as a JSON object of keyword arguments; anything else exits with one
    `error:` line naming `flag` (analysis scripts pass it on to e.g. `recover_grid`)."""
    try:
        options = json.loads(text)
    except ValueError:
        options = None
    if not isinstance(options, dict):
        sys.exit(f"error: {flag} must be a JSON object of keyword arguments; got {text!r}")
    return options


def check_out_path(path: str, flag: str = "--out") -> None:
    """Ends with one `error:` line, before any work, when `path` (a file, or a prefix that
    suffixes such as `.md` are added to) cannot be written: its directory is missing, is not
    a directory, or is not writable. An empty `path` (print only) passes.

    Scripts that compute for minutes and write at the end call it first, so a typo in
    `--out` does not lose the run in a traceback.
    """
    if not path:
        return
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        fail(f"{flag}={path}: the directory {d} does not exist; create it or pass another path")
    if not os.access(d, os.W_OK | os.X_OK):
        fail(f"{flag}={path}: the directory {d} is not writable; pass another path")
    if os.path.isdir(path):
        fail(f"{flag}={path} is a directory; pass a file path (or a file-name prefix)")


def write_report(path: str, module: str, body: str) -> str:
    """`<!-- produced by: <provenance> -->` + `body` as markdown; written to `path` if given.

    Returns the text (callers print it).
    """
    text = f"<!-- produced by: {provenance(module)} -->\n\n{body}\n"
    if path:
        with open(path, "w") as f:
            f.write(text)
    return text


def quiet_logging(verbose: bool = False) -> None:
    """Warnings and our own lines only (absl/Orbax INFO hidden) unless `verbose`."""
    logging.set_verbosity(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        for name in ("absl", "orbax", "jax", "tensorstore"):
            std_logging.getLogger(name).setLevel(std_logging.WARNING)
        logging.get_absl_handler().setFormatter(_PlainFormatter())


def _debug() -> bool:
    return os.environ.get("QDJAX_DEBUG", "0") not in ("", "0") or "--debug" in sys.argv


def _one_line(e: BaseException) -> str:
    text = str(e)
    if isinstance(e, KeyError) and e.args:
        text = str(e.args[0])
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # ml_collections wraps the cause in a multi-line message: keep its first and last lines
    if len(lines) > 2:
        lines = [lines[0], lines[-1]]
    return " ".join(lines) or type(e).__name__


# Held by whichever thread ends a distributed process first (the main thread's `fail`, or
# the peer watch's `_lost_peer`), so that the process prints one error line.
_ENDING = threading.Lock()


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Prints `error: <message>` and ends the process with `code` (at once if distributed)."""
    if jax.distributed.is_initialized():
        _ENDING.acquire()  # never released: the process ends below
    print(f"error: {message}", file=sys.stderr, flush=True)
    _exit(code)


def _exit(code: int) -> None:
    if jax.distributed.is_initialized():
        sys.stdout.flush()
        os._exit(code)  # no shutdown barrier: the other processes must see us go
    sys.exit(code)


def _lost_peer_message(detail: str) -> str:
    return (
        f"another process of this job died or hangs ({detail}; its own output says why); "
        "run the same command on every process to resume from the last checkpoint"
    )


def _lost_peer(detail: str) -> None:
    """One error line (unless another thread is already ending the process), then exit."""
    _ENDING.acquire()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os.write(2, f"error: {_lost_peer_message(detail)}\n".encode())
    os._exit(EXIT_RUNTIME)


class _PeerWatch(threading.Thread):
    """Liveness of the other processes of a distributed job, through the coordination KV store.

    Every `every` s each process bumps its counter `qdjax/beat/<id>` and reads everyone's;
    a peer whose counter has not moved for `timeout` s (and has not written
    `qdjax/done/<id>`), or a store that cannot be reached (the coordinator, process 0, is
    gone), ends this process with one error line (`_lost_peer`). JAX's own heartbeat
    would instead abort the process (SIGABRT, a C++ fatal log, a list of extension
    modules) from a background thread, racing the Python error of a failing collective;
    `_initialize_distributed` therefore gives JAX a longer heartbeat than this watch.
    """

    def __init__(self, client, process_id: int, num_processes: int, timeout: float, every=1.0):
        super().__init__(name="qdjax-peer-watch", daemon=True)
        self.client, self.me, self.n = client, process_id, num_processes
        self.timeout, self.every = timeout, every
        self.finished = threading.Event()

    def run(self) -> None:
        beat, seen = 0, {}
        start = time.monotonic()
        while not self.finished.wait(self.every if beat else 0.0):
            beat += 1
            try:
                self.client.key_value_set(f"qdjax/beat/{self.me}", str(beat), allow_overwrite=True)
                store = dict(self.client.key_value_dir_get("qdjax/"))
            except Exception as e:  # noqa: BLE001 - any failure means the job is gone
                if self.finished.is_set():
                    return
                _lost_peer(f"the coordinator cannot be reached: {_one_line(e)[:200]}")
                return  # (_lost_peer ends the process; a stand-in may return)
            now = time.monotonic()
            for p in range(self.n):
                if p == self.me or f"qdjax/done/{p}" in store:
                    continue
                value = store.get(f"qdjax/beat/{p}")
                if p not in seen or seen[p][0] != value:
                    seen[p] = (value, now if p in seen else start)
                elif now - seen[p][1] > self.timeout and not self.finished.is_set():
                    _lost_peer(f"process {p} silent for {now - seen[p][1]:.0f} s")
                    return

    def finish(self) -> None:
        """This process ends normally: peers stop watching it, and it stops watching them."""
        self.finished.set()
        with contextlib.suppress(Exception):
            self.client.key_value_set(f"qdjax/done/{self.me}", "1", allow_overwrite=True)


_WATCH: _PeerWatch | None = None


_HELP = """\
usage: python -m experiments.{name} --config=CONFIG --workdir=DIR [--config.KEY=VALUE ...]

example:
  python -m experiments.{name} --config={default} --workdir=runs/{name} \\
      --config.train.num_steps=500

flags:
  --config=FILE[:ARG]   experiment config file (default {default}); `FILE:ARG` passes ARG to
                        get_config; override any value with --config.<section>.<key>=VALUE
  --workdir=DIR         checkpoints, metrics.jsonl, tensorboard/, results.json, plots; running
                        the same command again resumes there (one run per DIR at a time)
  --flagfile=FILE       read flags (one per line) from FILE, e.g. experiments/{name}/flags/*.flags
  --overwrite           DIR holds a run with another config: move it aside and start afresh
  --verbose             also show library INFO logs (Orbax, absl)
  --debug               show tracebacks for errors (also QDJAX_DEBUG=1)

environment: QDJAX_DISTRIBUTED=1 (multi-host, see BUILD.md), QDJAX_DEBUG=1.
exit codes: 0 done, 1 run-time stop (NaN, workdir in use), 2 bad flag / config / config
change, 3 loss diverged (results written), 130 / 143 interrupted (checkpoint saved).
"""


def _experiment_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", "") or ""
    return name.split(".")[1] if name.startswith("experiments.") else "<name>"


_COMMAND: list[str] = []  # the command as typed, when `define_flags` rewrote sys.argv


def last_config_overrides(argv: list[str]) -> list[str] | None:
    """`argv` with flagfiles expanded and only the last `--config.<key>=...` of each key kept.

    absl lets the last value of a repeated scalar flag win, but concatenates a repeated tuple
    (`--config.model.hidden=(32,) --config.model.hidden=(64,)` gave `(32, 64)`), so a tuple
    set in a flagfile and overridden on the command line silently merged both. Keeping the
    last occurrence makes every override "last wins". Returns None when no key repeats
    (`argv` is then parsed as given). A missing flagfile raises here.
    """
    expanded = flags.FLAGS.read_flags_from_files(argv[1:], force_gnu=False)
    last = {}
    for i, a in enumerate(expanded):
        if a.startswith("--config.") and "=" in a:
            last[a.split("=", 1)[0]] = i
    kept = [
        a
        for i, a in enumerate(expanded)
        if not (a.startswith("--config.") and "=" in a) or last[a.split("=", 1)[0]] == i
    ]
    return [argv[0], *kept] if len(kept) < len(expanded) else None


def define_flags(default_config: str) -> None:
    """Defines `--config`, `--workdir`, `--overwrite`, `--verbose`, `--debug`."""
    global _DEFAULT_CONFIG
    _DEFAULT_CONFIG = default_config
    try:
        deduped = last_config_overrides(sys.argv)
        if deduped is not None:  # a --config key was repeated: parse only its last value
            _COMMAND[:] = list(sys.argv)  # provenance keeps the command as typed
            sys.argv = deduped
        config_flags.DEFINE_config_file(
            "config", default_config, "Experiment configuration file.", lock_config=True
        )
    except Exception as e:  # a missing --flagfile or an unknown config key fails here
        if _debug():
            raise
        fail(_flag_error(e, sys.argv))
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and plots.")
    flags.DEFINE_bool("overwrite", False, "Move a run with another config aside; start afresh.")
    flags.DEFINE_bool("verbose", False, "Show library INFO logs (Orbax, absl).")
    flags.DEFINE_bool("debug", False, "Show tracebacks for errors (also QDJAX_DEBUG=1).")


def _flag_error(e: BaseException, argv: list[str]) -> str:
    """One line for a flag-parsing failure, naming the flag and the fix."""
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    text = text.encode().decode("unicode_escape") if "\\n" in text else text
    meant = re.search(r'Did you mean "(\w+)" instead of "(\w+)"', text)
    if meant:
        good, bad = meant.groups()
        flag = next((a.split("=")[0] for a in argv if f".{bad}" in a.split("=")[0]), bad)
        return f"unknown config key {flag}: did you mean {good}? (see the config file)"
    if isinstance(e, flags.UnrecognizedFlagError):
        return f"{_one_line(e)} (see --help)"
    missing = re.search(r"Unable to open flagfile: .*No such file or directory: '([^']+)'", text)
    if missing:
        return (
            f"--flagfile={missing.group(1)}: no such file; give an existing flags file "
            "(e.g. one under experiments/<name>/flags/)"
        )
    cfg_file = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    if "earlier failure to load" in text and cfg_file:  # overrides of a config that failed
        reason = "no such file" if "No such file" in text else "it failed to load"
        return (
            f"--config={cfg_file}: cannot load it ({reason}); give a config file such as "
            f"{_DEFAULT_CONFIG}"
        )
    before = re.search(r"Found (--config\.\S+?)(=\S*)? in argv before a value for --config", text)
    if before:
        return f"{before.group(1)} comes before --config=...; put --config first"
    # ml_collections reports an unknown field as a bare quoted name: "'nope'"
    bare = re.fullmatch(r"""["']*(\w+)["']*""", text.strip())
    if bare:
        key = bare.group(1)
        flag = next(
            (
                a.split("=")[0]
                for a in argv
                if a.startswith("--config.") and a.split("=")[0].split(".")[-1] == key
            ),
            None,
        )
        if flag:
            return (
                f"unknown config key {flag}: the config has no field {key!r} (see the config file)"
            )
    return _one_line(e)


_DEFAULT_CONFIG = "experiments/<name>/configs/default.py"
_HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "--helpfull", "-?")


def _print_help() -> None:
    print(_HELP.format(name=_experiment_name(), default=_DEFAULT_CONFIG), end="")
    main = sys.modules.get("__main__")
    own = flags.FLAGS.flags_by_module_dict().get(getattr(main, "__file__", None) or "", [])
    own = own or flags.FLAGS.flags_by_module_dict().get(sys.argv[0], [])
    if own:
        print("experiment flags:")
        for flag in own:
            print(f"  --{flag.name}=...  {flag.help}")


def _parse_flags(argv: list[str]) -> list[str]:
    if any(a in _HELP_FLAGS for a in argv[1:]):
        _print_help()
        sys.exit(0)
    try:
        rest = flags.FLAGS(argv)
    except Exception as e:
        if _debug():
            raise
        fail(_flag_error(e, argv))
    cfg = flags.FLAGS.config
    if type(cfg).__name__ == "_ErrorConfig":  # ml_collections defers a failed config load
        cause = object.__getattribute__(cfg, "_error")
        reason = "no such file" if "No such file" in str(cause) else _one_line(cause)
        fail(
            f"--config={flags.FLAGS['config'].config_filename}: cannot load it ({reason}); "
            f"give a config file such as experiments/<name>/configs/default.py"
        )
    return rest


def _env_int(name: str, default: int | None = None, *, least: int = 0) -> int | None:
    """An integer environment variable (>= `least`), or a one-line error naming it."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < least:
        fail(f"{name}={raw!r}: must be a whole number >= {least} (unset it for the default)")
    return value


def _initialize_distributed() -> None:
    env = os.environ
    kwargs = {}
    if "JAX_NUM_PROCESSES" in env:
        kwargs["num_processes"] = _env_int("JAX_NUM_PROCESSES", least=1)
    if "JAX_PROCESS_ID" in env:
        kwargs["process_id"] = _env_int("JAX_PROCESS_ID")
    # The job notices a dead or hung peer through `_PeerWatch` (one error line) after
    # QDJAX_HEARTBEAT_TIMEOUT s; JAX's own heartbeat, which aborts the process instead, is
    # kept as a backstop well beyond it.
    timeout = _env_int("QDJAX_HEARTBEAT_TIMEOUT", 30, least=2)
    kwargs["heartbeat_timeout_seconds"] = 2 * timeout + 30
    jax.distributed.initialize(**kwargs)
    from jax._src import distributed as _distributed

    client = getattr(getattr(_distributed, "global_state", None), "client", None)
    if client is None or not hasattr(client, "key_value_dir_get"):
        logging.warning("no JAX coordination client to watch peers with: JAX's heartbeat only")
        return
    global _WATCH
    _WATCH = _PeerWatch(client, jax.process_index(), jax.process_count(), timeout)
    _WATCH.start()


def _all_ok(ok: bool) -> bool:
    """True if every process is ok (a collective with several processes)."""
    if jax.process_count() == 1:
        return ok
    import numpy as np
    from jax.experimental import multihost_utils

    return bool(np.all(multihost_utils.process_allgather(np.int32(ok))))


def run(train_and_evaluate: Callable, *, may_change: Iterable[str] = ()) -> None:
    """Parses flags and calls `train_and_evaluate(config, workdir)` in a workdir session.

    Args:
      train_and_evaluate: `(config, workdir) -> results dict`.
      may_change: extra `fnmatch` patterns of config keys that may differ from the
        workdir's recorded config (e.g. `("data.num_eval",)` for an evaluation-only key).
    """
    from qdjax.train import (
        LossDivergenceWarning,
        NonFiniteLossError,
        TrainingInterrupted,
        WorkdirInUseError,
    )

    def main(argv):
        verbose = flags.FLAGS.verbose or flags.FLAGS["verbosity"].present
        quiet_logging(verbose)
        if os.environ.get("QDJAX_DISTRIBUTED", "0") == "1":
            # Multi-host: coordinator/process ids from the environment (Slurm, TPU pods,
            # or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID).
            _initialize_distributed()
            if jax.process_index() > 0 and not verbose:  # process 0 prints the results
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        if len(argv) > 1:
            fail(f"unexpected arguments: {' '.join(argv[1:])} (flags look like --name=value)")
        cfg = flags.FLAGS.config
        workdir = flags.FLAGS.workdir
        if not workdir:
            fail("--workdir is required (e.g. --workdir=runs/synthetic)")
        if jax.process_index() == 0:
            print(
                f"JAX devices: {jax.devices()} (process {jax.process_index()} of "
                f"{jax.process_count()})",
                flush=True,
            )
        code, message = 0, None
        try:
            with warnings.catch_warnings(record=True) as caught, contextlib.ExitStack() as stack:
                warnings.simplefilter("always", LossDivergenceWarning)
                try:
                    stack.enter_context(
                        workdir_session(
                            cfg, workdir, overwrite=flags.FLAGS.overwrite, may_change=may_change
                        )
                    )
                except BaseException:
                    _all_ok(False)  # tell the other processes before ending
                    raise
                if not _all_ok(True):
                    raise RuntimeError("process 0 could not open the workdir (see its output)")
                train_and_evaluate(cfg, workdir)
            for w in caught:
                if issubclass(w.category, LossDivergenceWarning):
                    code, message = EXIT_DIVERGED, f"warning: {w.message}"
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        except ConfigError as e:
            if _debug():
                raise
            fail(str(e), EXIT_USAGE)
        except TrainingInterrupted as e:
            print(f"stopped: {e}", file=sys.stderr, flush=True)
            code = 128 + e.signum
        except KeyboardInterrupt:
            if _debug():
                raise
            fail("interrupted outside training (nothing to save); run the command again", 130)
        except NonFiniteLossError as e:
            if _debug():
                raise
            fail(f"{e}; lower --config.train.learning_rate or the loss weights", EXIT_RUNTIME)
        except WorkdirInUseError as e:
            if _debug():
                raise
            fail(str(e), EXIT_RUNTIME)
        except Exception as e:
            if _debug():
                raise
            fail(f"{type(e).__name__}: {_one_line(e)} (rerun with --debug for the traceback)", 1)
        if _WATCH is not None and code < 128:  # an interrupted process stays watched
            _WATCH.finish()
        if message is not None:
            print(message, file=sys.stderr, flush=True)
        if code:
            _exit(code)

    app.run(main, flags_parser=_parse_flags)


__all__ = [
    "ConfigError",
    "ConfigMismatchError",
    "MAY_CHANGE",
    "check_workdir_config",
    "config_changes",
    "config_record",
    "define_flags",
    "fail",
    "loop_kwargs",
    "move_run_aside",
    "quiet_logging",
    "require",
    "run",
    "validate_num_eval",
    "validate_train",
    "workdir_session",
]

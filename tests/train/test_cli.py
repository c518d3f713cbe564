"""The experiment CLI: one-line errors, the workdir's config record, --help, NaN stop."""

import json
import os
import subprocess
import sys

import ml_collections
import pytest

from experiments import _cli
from qdjax.train.workdir import WorkdirLock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_CONFIG = "--config=experiments/synthetic/configs/test.py"


def _config(**train):
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.method = "ae"
    c.model = ml_collections.ConfigDict({"hidden": (32, 32)})
    c.data = ml_collections.ConfigDict({"num_eval": 256})
    c.train = ml_collections.ConfigDict(
        {"num_steps": 10, "learning_rate": 1e-3, "progress": True, "log_every": 5}
    )
    c.eval = ml_collections.ConfigDict({"plot": True})
    c.train.update(train)
    return c


def test_config_changes_classify_keys():
    old = _cli.config_record(_config())
    new = _config(num_steps=20, log_every=1, progress=False)
    new.eval.plot = False
    assert _cli.config_changes(old, _cli.config_record(new)) == (
        [],
        [
            "eval.plot True -> False",
            "train.log_every 5 -> 1",
            "train.num_steps 10 -> 20",
            "train.progress True -> False",
        ],
    )
    new.method, new.model.hidden, new.train.num_steps = "cliff", (16,), 5
    fixed, _ = _cli.config_changes(old, _cli.config_record(new))
    assert fixed == [
        "method 'ae' -> 'cliff'",
        "model.hidden [32, 32] -> [16]",
        "train.num_steps 10 -> 5",  # fewer steps would silently evaluate the old model
    ]
    assert _cli.config_changes(old, _cli.config_record(new), ["model.*", "method"])[0] == [
        "train.num_steps 10 -> 5"
    ]
    added = _config()
    added.train.lr_min, added.train.b1 = None, 0.9  # keys added to the config file later
    assert _cli.config_changes(old, _cli.config_record(added)) == (
        ["train.b1 '<absent>' -> 0.9"],
        [],
    )


def test_workdir_session_records_refuses_and_overwrites(tmp_path):
    wd = str(tmp_path / "run")
    with _cli.workdir_session(_config(), wd):
        with open(os.path.join(wd, "results.json"), "w") as f:
            json.dump({"mcc": 0.5}, f)
    with open(os.path.join(wd, "results.json")) as f:
        assert json.load(f)["config"]["method"] == "ae"  # results say what produced them
    with _cli.workdir_session(_config(num_steps=30), wd):  # more steps: continue
        pass
    assert _cli.read_config_record(wd)["train"]["num_steps"] == 30
    changed = _config(num_steps=30)
    changed.method = "hfs"
    with pytest.raises(_cli.ConfigMismatchError, match=r"method 'ae' -> 'hfs'.*--overwrite"):
        with _cli.workdir_session(changed, wd):
            pass
    with _cli.workdir_session(changed, wd, overwrite=True):
        pass
    assert _cli.read_config_record(wd)["method"] == "hfs"
    assert not os.path.exists(os.path.join(wd, "results.json"))
    (aside,) = [p for p in os.listdir(tmp_path) if p.startswith("run.replaced-")]
    assert os.path.exists(tmp_path / aside / "results.json")  # moved, never deleted
    # A run whose record is gone or damaged cannot be checked: refused, never resumed.
    os.makedirs(os.path.join(wd, "checkpoints", "5"))
    os.remove(os.path.join(wd, "config.json"))
    with pytest.raises(_cli.ConfigMismatchError, match=r"no config.json beside.*--overwrite"):
        with _cli.workdir_session(changed, wd):
            pass
    with open(os.path.join(wd, "config.json"), "w") as f:
        f.write("{bad")
    with pytest.raises(_cli.ConfigMismatchError, match=r"unreadable.*--overwrite"):
        with _cli.workdir_session(changed, wd):
            pass
    fresh = str(tmp_path / "fresh")
    with pytest.raises(_cli.ConfigError):  # a bad value found inside: no record is left
        with _cli.workdir_session(_config(), fresh):
            _cli.require(False, "train.learning_rate", "must be > 0")
    assert _cli.read_config_record(fresh) is None
    small = _config()
    small.data.num_eval = 2
    with pytest.raises(_cli.ConfigError, match=r"^--config\.data\.num_eval must be >= 100"):
        with _cli.workdir_session(small, str(tmp_path / "other")):
            pass


def _cli_run(args, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.synthetic", *args],
        cwd=ROOT,
        env={**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_all(commands: dict, parallel: int = 3, timeout: float = 300) -> dict:
    """Runs `{name: (args, env)}` a few at a time; `{name: (returncode, stdout, stderr)}`."""
    results, todo, running = {}, list(commands.items()), {}
    try:
        while todo or running:
            while todo and len(running) < parallel:
                name, (args, env) = todo.pop(0)
                running[name] = _cli_run(args, env)
            name, proc = next(iter(running.items()))
            out, err = proc.communicate(timeout=timeout)
            results[name] = (proc.returncode, out, err)
            del running[name]
    finally:
        for proc in running.values():  # never leave a child behind
            proc.kill()
            proc.wait()
    return results


def test_user_errors_are_one_line_each(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    busy = tmp_path / "busy"
    other = tmp_path / "other"
    other.mkdir()
    record = _cli.config_record(_config())
    (other / "config.json").write_text(json.dumps({"config": record}))
    wd = f"--workdir={tmp_path / 'wd'}"
    cases = {  # name: (args, exit code, text the error line must hold)
        "misspelt_key": (
            [TEST_CONFIG, wd, "--config.train.num_stpes=5"],
            2,
            "unknown config key --config.train.num_stpes: did you mean num_steps?",
        ),
        "unknown_key": (  # no close match: ml_collections says only "'zzz'"
            [TEST_CONFIG, wd, "--config.train.zzz=5"],
            2,
            "unknown config key --config.train.zzz: the config has no field 'zzz'",
        ),
        "missing_config": (["--config=nope/none.py", wd], 2, "--config=nope/none.py: cannot"),
        "missing_config_overridden": (
            ["--config=nope/none.py:cliff", wd, "--config.train.num_steps=5"],
            2,
            "--config=nope/none.py:cliff: cannot load it (no such file)",
        ),
        "override_first": (
            ["--config.train.num_steps=5", TEST_CONFIG, wd],
            2,
            "--config.train.num_steps comes before --config=...; put --config first",
        ),
        "missing_flagfile": (["--flagfile=nope.flags", wd], 2, "nope.flags"),
        "unwritable_workdir": ([TEST_CONFIG, f"--workdir={afile}/x"], 2, "is not writable"),
        "file_workdir": ([TEST_CONFIG, f"--workdir={afile}"], 2, "is a file, not a directory"),
        "bad_config_arg": (
            ["--config=experiments/synthetic/configs/default.py:clif", wd],
            2,
            "'clif'",
        ),
        "lr_inf": ([TEST_CONFIG, wd, "--config.train.learning_rate=inf"], 2, "finite"),
        "num_eval": ([TEST_CONFIG, wd, "--config.data.num_eval=2"], 2, "num_eval must be >="),
        "bad_value": ([TEST_CONFIG, wd, "--config.train.num_steps=abc"], 2, "num_steps=abc"),
        "stray_arg": ([TEST_CONFIG, wd, "extra"], 2, "unexpected arguments: extra"),
        "no_workdir": ([TEST_CONFIG], 2, "--workdir is required"),
        "in_use": ([TEST_CONFIG, f"--workdir={busy}"], 1, f"in use by pid {os.getpid()}"),
        "config_changed": ([TEST_CONFIG, f"--workdir={other}"], 2, "different config"),
        "bad_heartbeat": ([TEST_CONFIG, wd], 2, "QDJAX_HEARTBEAT_TIMEOUT='soon': must be"),
    }
    cases["debug"] = (cases["misspelt_key"][0], 2, "")
    env = {name: None for name in cases} | {
        "debug": {"QDJAX_DEBUG": "1"},
        # checked before jax.distributed.initialize (which would wait for the coordinator)
        "bad_heartbeat": {"QDJAX_DISTRIBUTED": "1", "QDJAX_HEARTBEAT_TIMEOUT": "soon"},
    }
    with WorkdirLock(str(busy)):
        outs = _run_all({name: (args, env[name]) for name, (args, _, _) in cases.items()})
    for name, (_, code, text) in cases.items():
        rc, out, err = outs[name]
        if name == "debug":  # the traceback only under the debug flag
            assert rc != 0 and "Traceback" in err, err[-1500:]
            continue
        assert rc == code, (name, err[-1500:])
        assert "Traceback" not in out + err, (name, err[-1500:])
        errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and text in errors[0], (name, err[-1500:])


def test_help_lists_config_and_workdir_and_nan_stop_is_one_line(tmp_path):
    outs = _run_all(
        {
            "help": (["--help"], None),
            "nan": (
                [TEST_CONFIG, f"--workdir={tmp_path}", "--config.train.learning_rate=1e30"],
                None,
            ),
        }
    )
    rc, out, _ = outs["help"]
    assert rc == 0
    assert "--config=" in out and "--workdir=" in out and "example:" in out
    assert "python -m experiments.synthetic --config=experiments/synthetic/configs/" in out
    rc, _, err = outs["nan"]
    assert rc == 1 and "Traceback" not in err, err[-1500:]
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert "non-finite loss at step" in line and "learning_rate" in line


def test_sweep_reuses_a_cell_only_with_the_same_config(tmp_path):
    from experiments.synthetic import sweep
    from experiments.synthetic.configs import test as test_config

    cfg = test_config.get_config()
    wd = str(tmp_path / "cell")
    assert sweep.finished(cfg, wd) is None  # nothing there
    with _cli.workdir_session(cfg, wd):
        with open(os.path.join(wd, "results.json"), "w") as f:
            json.dump({"steps": cfg.train.num_steps, "mcc_pearson": 0.5}, f)
    assert sweep.finished(cfg, wd)["mcc_pearson"] == 0.5
    more = test_config.get_config()
    more.train.num_steps += 10  # the table said 50 steps after --set=train.num_steps=400
    assert sweep.finished(more, wd) is None
    other = test_config.get_config()
    other.seed = 7
    assert sweep.finished(other, wd) is None
    assert _cli.check_workdir_config(other, wd) == ["seed 0 -> 7"]


def test_repeated_config_overrides_take_the_last_value(tmp_path):
    # absl concatenates a repeated tuple flag; the CLI keeps each --config key's last value,
    # flagfiles expanded in place, so a command-line override replaces a flagfile's tuple.
    ff = tmp_path / "a.flags"
    ff.write_text("--config.sweep.seeds=(0,1,2,3,4)\n--config.train.num_steps=10\n")
    argv = ["prog", f"--flagfile={ff}", "--config.sweep.seeds=(0,)", "--workdir=w"]
    assert _cli.last_config_overrides(argv) == [
        "prog",
        "--config.train.num_steps=10",
        "--config.sweep.seeds=(0,)",
        "--workdir=w",
    ]
    assert _cli.last_config_overrides(["prog", "--config.a=1", "--config.b=2"]) is None


@pytest.mark.parametrize(
    "value, ok", [((64, 64), True), ((), False), ((0,), False), (("abc",), False), (64, False)]
)
def test_require_widths(value, ok):
    if ok:
        _cli.require_widths(value, "model.hidden")
    else:
        with pytest.raises(_cli.ConfigError, match=r"^--config\.model\.hidden must be a tuple"):
            _cli.require_widths(value, "model.hidden")
    _cli.require_widths((), "model.channels", allow_empty=True)


@pytest.mark.parametrize("seed, ok", [(0, True), (7, True), (-1, False), (1.5, False)])
def test_require_seed(seed, ok):
    if ok:
        _cli.require_seed(seed)
    else:
        with pytest.raises(_cli.ConfigError, match=r"^--config\.seed must be an integer >= 0"):
            _cli.require_seed(seed)

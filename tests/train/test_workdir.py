"""Workdirs users can trust: damaged checkpoints, the lock, clean stops, state checks, logs."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qdjax import data, nn
from qdjax import train as qtrain
from qdjax.train import loop, workdir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 6


def _fresh(seed=0):
    ds = data.make_synthetic(seed, 256, num_latents=2, obs_dim=3)
    source = data.ArraySource(ds.x, ds.z, batch_size=32, seed=seed)
    model = nn.mlp_autoencoder((3,), 2, hidden=(8,), rngs=nnx.Rngs(seed))
    opt = nnx.Optimizer(model, qtrain.make_optimizer(learning_rate=3e-3), wrt=nnx.Param)
    return source, model, opt


OBJ = qtrain.make_objective(qtrain.reconstruction_term())


def _train(wd, num_steps, *, source=None, step_fn=None, obj=OBJ, **kw):
    fresh_source, model, opt = _fresh()
    kw = {"checkpoint_every": 2, "log_every": 1, "progress": False, "tensorboard": False, **kw}
    return qtrain.train(
        (model, opt),
        step_fn or qtrain.make_train_step(obj),
        source or fresh_source,
        num_steps=num_steps,
        workdir=str(wd),
        **kw,
    )


def _loss_rows(wd):
    with open(os.path.join(wd, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 6-step run and a 4-step run (checkpoints at 2 and 4) to damage."""
    base = tmp_path_factory.mktemp("runs")
    _train(base / "straight", STEPS)
    _train(base / "at4", 4)
    return base


def _largest_file(d):
    files = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs]
    return max(files, key=os.path.getsize)


def _truncate(step_dir):
    path = _largest_file(os.path.join(step_dir, "default"))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


DAMAGE = {
    "truncated_data": _truncate,
    "no_manifest": lambda d: os.remove(os.path.join(d, "default", "manifest.ocdbt")),
    "no_metadata": lambda d: os.remove(os.path.join(d, "default", "_METADATA")),
    "no_default": lambda d: shutil.rmtree(os.path.join(d, "default")),
    "empty_newer": None,  # an empty directory checkpoints/99
}


@pytest.mark.parametrize("kind", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_newest_checkpoint_falls_back_and_resumes(runs, tmp_path, kind, capfd):
    wd = tmp_path / "run"
    shutil.copytree(runs / "at4", wd)
    ckpts = wd / "checkpoints"
    if DAMAGE[kind] is None:
        os.makedirs(ckpts / "99")
        bad_step, resume_step = 99, 4
    else:
        DAMAGE[kind](str(ckpts / "4"))
        bad_step, resume_step = 4, 2
    result = _train(wd, STEPS)
    assert result.resumed_from == resume_step
    assert [s.step for s in result.skipped_checkpoints] == [bad_step]
    assert os.path.isdir(wd / "checkpoints_bad" / str(bad_step))  # moved aside, not deleted
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if "skipped damaged checkpoint" in ln]
    assert len(lines) == 1 and f"step {bad_step}" in lines[0], err[-2000:]
    # resumed losses equal the uninterrupted run's, one row per step (no duplicates)
    got, want = _loss_rows(wd), _loss_rows(runs / "straight")
    assert [s for s, _ in got] == list(range(1, STEPS + 1))
    np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-6)


def test_metrics_rows_after_the_checkpoint_are_dropped_on_resume(runs, tmp_path):
    wd = tmp_path / "run"
    shutil.copytree(runs / "at4", wd)
    with open(wd / "metrics.jsonl", "a") as f:  # logged by a run killed before its next save
        f.write(json.dumps({"step": 5, "loss": 123.0}) + "\n" + '{"step": 6, "lo')
    _train(wd, STEPS)
    got, want = _loss_rows(wd), _loss_rows(runs / "straight")
    assert [s for s, _ in got] == [s for s, _ in want]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-6)


class _SignalAt:
    """A source that sends `signum` to this process when the batch of step `at` is loaded."""

    def __init__(self, source, at, signum):
        self.source, self.at, self.signum = source, at, signum
        self.batch_size = source.batch_size

    def batch(self, step):
        if step == self.at:
            os.kill(os.getpid(), self.signum)
        return self.source.batch(step)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["term", "int"])
def test_signal_saves_current_step_then_resume_equals_uninterrupted(runs, tmp_path, signum):
    wd = tmp_path / "run"
    source = _fresh()[0]
    with pytest.raises(qtrain.TrainingInterrupted, match="saved a checkpoint at step") as e:
        _train(wd, STEPS, source=_SignalAt(source, 3, signum), checkpoint_every=100)
    stopped = e.value.step
    assert 2 <= stopped < STEPS and e.value.signum == signum
    assert qtrain.Checkpointer(str(wd / "checkpoints")).all_steps() == [stopped]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    result = _train(wd, STEPS, checkpoint_every=100)
    assert result.resumed_from == stopped
    np.testing.assert_allclose(
        [v for _, v in _loss_rows(wd)], [v for _, v in _loss_rows(runs / "straight")], rtol=1e-6
    )


def test_non_finite_state_is_never_saved(tmp_path):
    base = qtrain.make_train_step(OBJ)

    def poisoned(graphdef, state, batch, key):  # finite loss, NaN parameters after the update
        state, aux = base(graphdef, state, batch, key)
        return jax.tree.map(lambda x: x * jnp.nan if x.dtype == jnp.float32 else x, state), aux

    with pytest.raises(
        qtrain.NonFiniteLossError, match=r"non-finite state at step 1 \(not saved\)"
    ):
        _train(tmp_path, STEPS, step_fn=poisoned, checkpoint_every=1)
    assert qtrain.Checkpointer(str(tmp_path / "checkpoints")).all_steps() == []


def test_loss_ending_far_above_its_start_warns(tmp_path):
    grow = qtrain.Term("grow", lambda out, b: jnp.float32(1.0), weight=lambda t: 10.0 ** (2 * t))
    obj = qtrain.make_objective(qtrain.reconstruction_term(), grow)
    with pytest.warns(qtrain.LossDivergenceWarning, match="diverged"):
        result = _train(tmp_path, 4, obj=obj)
    assert result.diverged
    assert not loop._diverged(2.0, 1e5)  # 5e4 times: no warning
    assert loop._diverged(2.0, 3e5) and loop._diverged(-1.0, 2e5)
    assert not loop._diverged(2.0, float("nan"))


def test_compile_time_is_reported_apart(runs):
    rows = [json.loads(line) for line in open(runs / "straight" / "metrics.jsonl")]
    assert rows[0]["step"] == 1 and rows[0]["compile_time_s"] > 0
    assert all("compile_time_s" not in r for r in rows[1:])


def test_lock_is_exclusive_reentrant_and_free_after_sigkill(tmp_path):
    wd = str(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import runpy, sys, time; m = runpy.run_path('qdjax/train/workdir.py'); "
            "m['WorkdirLock'](sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(60)",
            wd,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(qtrain.WorkdirInUseError, match=rf"in use by pid {holder.pid} on "):
            workdir.WorkdirLock(wd).acquire()
        with pytest.raises(qtrain.WorkdirInUseError):  # the training loop takes it too
            _train(wd, 2)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    deadline = time.time() + 10
    while True:  # the kernel frees the flock with the dead process: no stale lock
        try:
            lock = workdir.WorkdirLock(wd).acquire()
            break
        except qtrain.WorkdirInUseError:
            assert time.time() < deadline
            time.sleep(0.05)
    with workdir.WorkdirLock(wd):  # re-entrant in one process
        pass
    with open(os.path.join(wd, ".lock")) as f:
        assert json.load(f)["pid"] == os.getpid()
    lock.release()


@pytest.mark.slow
def test_fault_injection_cycles_end_equal_to_an_uninterrupted_run(tmp_path):
    from tests.train import fault_injection

    assert fault_injection.main(["--steps=60", "--cycles=2", f"--workdir={tmp_path}"]) == 0

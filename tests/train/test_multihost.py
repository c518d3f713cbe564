"""`QDJAX_DISTRIBUTED=1` with two local CPU processes: runs, dies together, resumes, matches.

The synthetic test config, and the image experiment's (`experiments.shapes3d` on the
16x16 procedural stand-in), run as two-process `jax.distributed` jobs (one CPU device
per process, gloo collectives, a free port). Process 1 is SIGKILLed after a checkpoint;
process 0 must then end by itself, promptly, with one error line (not wait at a barrier
for minutes). The same command resumes the job on both processes, and its per-step
losses equal a single-process run on two devices with the same global batch. A hung
(SIGSTOPped) peer ends the job the same way, through the peer watch.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from qdjax.train import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# (module, config, steps, checkpoint every, kill after a checkpoint at this step, the
# start of the results row that process 0 alone prints)
CASES = {
    "synthetic": (
        "experiments.synthetic",
        "experiments/synthetic/configs/test.py",
        40,
        4,
        8,
        "| ae | 0 | 40 |",
    ),
    "shapes3d": (
        "experiments.shapes3d",
        "experiments/images/configs/test.py",
        16,
        2,
        4,
        "| procedural stand-in | qlae | 0 | 16 |",
    ),
}


def _args(case, workdir):
    module, config, steps, every, _, _ = CASES[case]
    return [
        sys.executable,
        "-m",
        module,
        f"--config={config}",
        f"--workdir={workdir}",
        f"--config.train.num_steps={steps}",
        f"--config.train.checkpoint_every={every}",
        "--config.train.log_every=1",
        "--config.train.eval_every=8",
    ]


def _env(**extra):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "", **extra}
    env.pop("QDJAX_DEBUG", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(case, workdir):
    port = _free_port()
    return [
        subprocess.Popen(
            _args(case, workdir),
            cwd=ROOT,
            env=_env(
                QDJAX_DISTRIBUTED="1",
                JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                JAX_NUM_PROCESSES="2",
                JAX_PROCESS_ID=str(i),
                QDJAX_HEARTBEAT_TIMEOUT="10",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]


def _checkpoints(workdir):
    d = os.path.join(workdir, "checkpoints")
    return [int(n) for n in os.listdir(d) if n.isdigit()] if os.path.isdir(d) else []


def _losses(workdir):
    rows = read_metrics(workdir)
    return [rows[t]["loss"] for t in sorted(rows) if "loss" in rows[t]]


def _signal_peer_after_checkpoint(case, run, sig):
    """Launches the job, sends `sig` to process 1 once a checkpoint at or after the case's
    kill step exists, and waits for process 0 to end.

    Returns `(procs, both alive at the signal, process 0's stderr, seconds from the signal
    to process 0's end)`; every process is gone on return.
    """
    kill_after = CASES[case][4]
    procs = _launch(case, run)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and all(p.poll() is None for p in procs):
            if any(s >= kill_after for s in _checkpoints(run)):
                break
            time.sleep(0.005)
        alive = all(p.poll() is None for p in procs)
        procs[1].send_signal(sig)
        sent_at = time.time()
        if sig == signal.SIGKILL:
            procs[1].wait(timeout=30)
        _, err0 = procs[0].communicate(timeout=120)
        took = time.time() - sent_at
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return procs, alive, err0, took


# the image case (~100 s on 2 cores) is slow; the synthetic case is its small version in CI
@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.slow) if c == "shapes3d" else c for c in sorted(CASES)],
)
def test_two_processes_die_together_resume_and_match_one_process(case, tmp_path):
    _, _, steps, _, kill_after, row = CASES[case]
    ref, run = str(tmp_path / "ref"), str(tmp_path / "run")
    procs, _, err0, took = _signal_peer_after_checkpoint(case, run, signal.SIGKILL)
    assert procs[1].returncode == -signal.SIGKILL, "the job finished before the kill"
    assert procs[0].returncode not in (0, None), err0[-2000:]
    assert took < 60, f"process 0 outlived its peer by {took:.0f} s"
    assert "Traceback" not in err0
    assert len([ln for ln in err0.splitlines() if ln.startswith("error:")]) == 1, err0[-2000:]
    at_kill = max(_checkpoints(run))
    assert kill_after <= at_kill < steps

    # the same command resumes the job on both processes
    procs = _launch(case, run)
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    assert row in outs[0][0] and row not in outs[1][0]  # printed once, by process 0

    # one process, two devices, the same global batch
    subprocess.run(
        _args(case, ref),
        cwd=ROOT,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
        check=True,
        capture_output=True,
        timeout=240,
    )
    got, want = _losses(run), _losses(ref)
    assert len(got) == len(want) == steps  # one row per step: no duplicates after resume
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with open(os.path.join(run, "metrics.jsonl")) as f:
        logged = [line.split(",")[0] for line in f if '"loss"' in line]
    assert len(logged) == len(set(logged)) == steps  # written once, by process 0
    # evaluation ran once per step on identical parameters: the same scores as one process
    with open(os.path.join(run, "results.json")) as f:
        r_run = json.load(f)
    with open(os.path.join(ref, "results.json")) as f:
        r_ref = json.load(f)
    assert r_run["steps"] == r_ref["steps"] == steps
    for key in ("mcc", "psnr", "infom", "dci_d"):
        if key in r_ref:
            np.testing.assert_allclose(r_run[key], r_ref[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_a_hung_peer_ends_the_job_with_one_error_line(tmp_path):
    """SIGSTOP (a hung peer, no closed socket) right after a checkpoint, when process 0 is
    likely in a checkpoint barrier: process 0 must end after QDJAX_HEARTBEAT_TIMEOUT (10 s)
    with one `error:` line naming the silent process, not abort (SIGABRT) nor wait."""
    run = str(tmp_path / "run")
    procs, alive, err0, took = _signal_peer_after_checkpoint("synthetic", run, signal.SIGSTOP)
    assert alive, "the job ended before the stop"
    assert procs[0].returncode == 1, err0[-2000:]
    assert 9 < took < 60, f"process 0 ended {took:.0f} s after its peer hung"
    errors = [ln for ln in err0.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "process 1 silent" in errors[0], err0[-2000:]
    assert "Fatal Python error" not in err0 and "Traceback" not in err0


class _Store:
    """A fake coordination KV client: a dict, optionally failing, with a frozen peer."""

    def __init__(self):
        self.kv, self.fail, self.frozen = {}, False, set()

    def key_value_set(self, key, value, allow_overwrite=False):
        if self.fail:
            raise RuntimeError("UNAVAILABLE: connection refused\nmore detail")
        self.kv[key] = value

    def key_value_dir_get(self, prefix):
        if self.fail:
            raise RuntimeError("UNAVAILABLE: connection refused")
        return [(k, v) for k, v in self.kv.items() if k.startswith(prefix)]

    def beat(self, p):  # a live peer bumps its own counter
        if p not in self.frozen:
            key = f"qdjax/beat/{p}"
            self.kv[key] = str(int(self.kv.get(key, "0")) + 1)


def _watch(monkeypatch, store, timeout=0.3):
    from experiments import _cli

    lost = []

    def record(detail):
        lost.append(detail)
        watch.finished.set()  # stands in for os._exit: the thread ends

    monkeypatch.setattr(_cli, "_lost_peer", record)
    watch = _cli._PeerWatch(store, 0, 3, timeout, every=0.02)
    return watch, lost


def _drive(store, watch, seconds, peers=(1, 2)):
    watch.start()
    end = time.time() + seconds
    while time.time() < end and watch.is_alive():
        for p in peers:
            store.beat(p)
        time.sleep(0.01)
    watch.finished.set()
    watch.join(5)


def test_peer_watch_names_the_silent_peer_and_ignores_live_and_done_ones(monkeypatch):
    store = _Store()
    watch, lost = _watch(monkeypatch, store)
    _drive(store, watch, 1.0)
    assert lost == [] and store.kv["qdjax/beat/0"] != "0"  # live peers: no alarm, own beats

    store = _Store()
    store.frozen.add(2)
    watch, lost = _watch(monkeypatch, store)
    _drive(store, watch, 2.0)
    assert len(lost) == 1 and lost[0].startswith("process 2 silent for"), lost

    store = _Store()
    store.frozen.add(2)
    store.kv["qdjax/done/2"] = "1"  # finished normally: not watched
    watch, lost = _watch(monkeypatch, store)
    _drive(store, watch, 1.0)
    assert lost == []


def test_peer_watch_ends_when_the_coordinator_is_gone_and_finish_marks_done(monkeypatch):
    store = _Store()
    watch, lost = _watch(monkeypatch, store)
    store.fail = True
    _drive(store, watch, 1.0)
    assert len(lost) == 1 and lost[0].startswith("the coordinator cannot be reached: UNAVAILABLE")

    store = _Store()
    watch, lost = _watch(monkeypatch, store)
    watch.start()
    watch.finish()
    watch.join(5)
    assert not watch.is_alive() and store.kv["qdjax/done/0"] == "1" and lost == []

"""A run killed with SIGKILL and started again reproduces an uninterrupted run's losses."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from qdjax.train import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _command(workdir, steps):
    return [
        sys.executable,
        "-m",
        "experiments.synthetic",
        "--config=experiments/synthetic/configs/test.py",
        f"--workdir={workdir}",
        f"--config.train.num_steps={steps}",
        "--config.train.checkpoint_every=10",
        "--config.train.log_every=1",
        "--config.data.num_train=2048",
    ]


def _env():
    env = dict(os.environ)
    env["XLA_FLAGS"] = ""  # one CPU device in the subprocesses
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _finished_checkpoints(workdir):
    d = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(d):
        return []
    return sorted(int(n) for n in os.listdir(d) if n.isdigit())


def test_sigkill_then_restart_reproduces_uninterrupted_losses(tmp_path):
    steps = 400
    straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
    subprocess.run(
        _command(straight, steps),
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=300,
    )

    proc = subprocess.Popen(
        _command(killed, steps),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if any(s >= 30 for s in _finished_checkpoints(killed)):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    at_kill = max(_finished_checkpoints(killed))
    assert 30 <= at_kill < steps

    rerun = subprocess.run(
        _command(killed, steps), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    a, b = read_metrics(straight), read_metrics(killed)
    assert sorted(a) == sorted(b) and len(a) >= steps
    loss_a = np.array([a[k]["loss"] for k in sorted(a) if "loss" in a[k]])
    loss_b = np.array([b[k]["loss"] for k in sorted(b) if "loss" in b[k]])
    assert len(loss_a) == steps
    np.testing.assert_allclose(loss_b, loss_a, rtol=1e-6, atol=0)
    assert os.path.exists(os.path.join(killed, "results.json"))

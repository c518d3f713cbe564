"""Fault injection: kill / stop / corrupt / collide, resume, and compare with an uninterrupted run.

    python -m tests.train.fault_injection [--steps=200] [--cycles=4] [--seed=0] [--workdir=DIR]

Runs the synthetic experiment's test config (`experiments/synthetic/configs/test.py`, a
2048-sample training set, a checkpoint every 10 steps, metrics every step) once without
interruption, then again through `--cycles` random faults, each followed by the same
command:

* `sigkill`: SIGKILL once a new checkpoint exists (also mid-save);
* `sigterm`: SIGTERM mid-run; the run must save a checkpoint, print one `stopped:` line
  and exit 143;
* `corrupt`: SIGKILL, then damage the newest checkpoint (truncated data file, deleted
  manifest or `_METADATA`, deleted `default/`, or an empty newer step directory); the
  resumed run must move it to `checkpoints_bad/` and use an older one;
* `collide`: a second run in the same workdir while the first runs must fail with one
  `error: ... in use by pid N` line and leave the first undisturbed.

It exits 0 and prints `OK` if the final `metrics.jsonl` losses and `results.json` numbers
equal the uninterrupted run's (rtol 1e-6), else 1. `tests/train/test_workdir.py` runs
a small version (`--steps=60 --cycles=2`) under `-m slow`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAULTS = ("sigkill", "sigterm", "corrupt", "collide")
DAMAGES = ("truncate", "no_manifest", "no_metadata", "no_default", "empty_newer")


def command(workdir: str, steps: int) -> list[str]:
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


def start(workdir: str, steps: int) -> subprocess.Popen:
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(
        command(workdir, steps),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def checkpoints(workdir: str) -> list[int]:
    d = os.path.join(workdir, "checkpoints")
    return sorted(int(n) for n in os.listdir(d) if n.isdigit()) if os.path.isdir(d) else []


def logged_steps(workdir: str) -> int:
    try:
        with open(os.path.join(workdir, "metrics.jsonl")) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def wait_until(proc, condition, timeout=300.0) -> bool:
    """Polls `condition()` every 5 ms; False if the process ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if condition():
            return True
        time.sleep(0.005)
    raise TimeoutError("the run made no progress")


def damage(workdir: str, kind: str) -> str:
    ckpts = checkpoints(workdir)
    if not ckpts or kind == "empty_newer":
        os.makedirs(os.path.join(workdir, "checkpoints", "999999"))
        return "empty step directory 999999"
    step_dir = os.path.join(workdir, "checkpoints", str(ckpts[-1]))
    if kind == "truncate":
        files = [os.path.join(r, f) for r, _, fs in os.walk(step_dir) for f in fs]
        path = max(files, key=os.path.getsize)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    elif kind == "no_manifest":
        os.remove(os.path.join(step_dir, "default", "manifest.ocdbt"))
    elif kind == "no_metadata":
        os.remove(os.path.join(step_dir, "default", "_METADATA"))
    else:
        shutil.rmtree(os.path.join(step_dir, "default"))
    return f"{kind} at step {ckpts[-1]}"


def inject(fault: str, workdir: str, steps: int, rng: np.random.Generator) -> str:
    """Runs the command once with `fault`; returns what happened (raises on a wrong reaction)."""
    proc = start(workdir, steps)
    try:
        if fault in ("sigkill", "corrupt"):
            before = max(checkpoints(workdir), default=0)
            if not wait_until(proc, lambda: max(checkpoints(workdir), default=0) > before):
                return f"{fault}: the run finished first"
            time.sleep(rng.uniform(0, 0.05))  # sometimes mid-save
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            note = "killed"
            if fault == "corrupt":
                note += "; damaged " + damage(workdir, str(rng.choice(DAMAGES)))
            return f"{fault}: {note}"
        if fault == "sigterm":
            before = logged_steps(workdir)
            if not wait_until(proc, lambda: logged_steps(workdir) > before + 2):
                return "sigterm: the run finished first"
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)
            lines = [ln for ln in err.splitlines() if ln.startswith("stopped:")]
            if proc.returncode == 0 and not lines:
                return "sigterm: the run finished first"
            assert proc.returncode == 143 and len(lines) == 1, (proc.returncode, err[-1500:])
            return f"sigterm: exit 143, {lines[0]}"
        # collide: a second run while the first holds the workdir
        if not wait_until(proc, lambda: logged_steps(workdir) > 0):
            return "collide: the run finished first"
        second = start(workdir, steps)
        _, err = second.communicate(timeout=300)
        if second.returncode == 0 and proc.poll() is not None:
            return "collide: the first run finished before the second started"
        errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert second.returncode == 1 and len(errors) == 1 and "in use by pid" in errors[0], err
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        return f"collide: second run refused ({errors[0][:60]}...)"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def finish(workdir: str, steps: int) -> None:
    proc = start(workdir, steps)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]


def losses(workdir: str) -> dict[int, float]:
    out = {}
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if "loss" in row:
                assert row["step"] not in out, f"duplicate row for step {row['step']}"
                out[row["step"]] = row["loss"]
    return out


def compare(ref: str, run: str) -> list[str]:
    problems = []
    a, b = losses(ref), losses(run)
    if sorted(a) != sorted(b):
        problems.append(f"logged steps differ: {len(a)} vs {len(b)} rows")
    else:
        va, vb = np.array([a[k] for k in sorted(a)]), np.array([b[k] for k in sorted(b)])
        if not np.allclose(va, vb, rtol=1e-6, atol=0):
            problems.append(f"losses differ: max abs diff {np.max(np.abs(va - vb)):.3g}")
    with open(os.path.join(ref, "results.json")) as f:
        ra = json.load(f)
    with open(os.path.join(run, "results.json")) as f:
        rb = json.load(f)
    for key in ("mcc_pearson", "mcc_spearman", "reconstruction_mse", "final_loss", "steps"):
        if not np.isclose(ra[key], rb[key], rtol=1e-6, atol=0):
            problems.append(f"results.json {key}: {ra[key]} vs {rb[key]}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="kept afterwards (default: a temp dir)")
    args = parser.parse_args(argv)
    base = args.workdir or tempfile.mkdtemp(prefix="qdjax_faults_")
    ref, run = os.path.join(base, "uninterrupted"), os.path.join(base, "faulty")
    rng = np.random.default_rng(args.seed)
    finish(ref, args.steps)
    faults = [FAULTS[i % len(FAULTS)] for i in rng.permutation(args.cycles)]
    for i, fault in enumerate(faults):
        print(f"cycle {i}: {inject(fault, run, args.steps, rng)}", flush=True)
    finish(run, args.steps)
    bad = os.path.join(run, "checkpoints_bad")
    if os.path.isdir(bad):
        print(f"damaged checkpoints kept aside: {sorted(os.listdir(bad))}")
    problems = compare(ref, run)
    if not args.workdir:
        shutil.rmtree(base, ignore_errors=True)
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print(f"OK: after {args.cycles} faults the final metrics equal the uninterrupted run's")
    return 0


if __name__ == "__main__":
    sys.exit(main())

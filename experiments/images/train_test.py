"""Two-step runs of every method on the stand-in, and one-line errors before compilation."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments._cli import ConfigError
from experiments.images import methods, results, train
from experiments.images.configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("method", methods.METHODS)
def test_two_steps_every_method(tmp_path, method):
    cfg = test_config.get_config("shapes3d")
    cfg.method = method
    cfg.eval.plot = method == "qlae"  # exercise the plots once
    r = train.train_and_evaluate(cfg, str(tmp_path))
    assert r["steps"] == 2 and r["data"] == "procedural stand-in"
    assert r["pipeline"] == "procedural-device" and r["num_latents"] == 12  # 2 x 6 factors
    for key in ("infom", "infoc", "infoe", "dci_d", "dci_c", "mig"):
        assert 0.0 <= r[key] <= 1.0, key
    assert np.isfinite(r["psnr"]) and np.isfinite(r["final_loss"])
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["data"] == "procedural stand-in"
    if method == "qlae":
        for name in ("reconstructions", "traversals", "nmi", "dci_importance", "marginals"):
            assert (tmp_path / f"{name}.png").exists(), name
        table = results.tables(results.load(str(tmp_path.parent)))
        assert "procedural stand-in" in table and "| qlae | 2 | 1 |" in table


def test_resume_reproduces_device_batches(tmp_path):
    """The procedural source is a pure function of (seed, step): a rerun equals the first run."""
    cfg = test_config.get_config("shapes3d")
    cfg.method = "ae"
    a = train.train_and_evaluate(cfg, str(tmp_path / "a"))
    b = train.train_and_evaluate(cfg, str(tmp_path / "b"))
    assert a["final_loss"] == b["final_loss"]


@pytest.mark.parametrize(
    "dataset,source,flag",
    [
        ("mpi3d", "auto", "data.source"),
        ("shapes3d", "h5", "data.source"),
        ("shapes3d", "tfds", "data.source"),
        ("dsprites", "procedural", "data.source"),
    ],
    ids=["mpi3d-missing", "h5-missing", "tfds-missing", "procedural-not-shapes3d"],
)
def test_missing_real_source_is_one_line_error(tmp_path, monkeypatch, dataset, source, flag):
    monkeypatch.setenv("QDJAX_DATA_DIR", str(tmp_path / "empty"))
    cfg = test_config.get_config(dataset)
    cfg.data.source = source
    with pytest.raises(ConfigError, match=rf"^--config\.{flag} ") as e:
        train.train_and_evaluate(cfg, str(tmp_path / "run"))
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing was trained


def test_cli_unknown_method_is_one_line_error(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.shapes3d",
            "--config=experiments/images/configs/test.py",
            f"--workdir={tmp_path}",
            "--config.method=vqvae",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "--config.method must be one of" in errors[0]


@pytest.mark.slow
def test_longer_run_learns(tmp_path):
    cfg = test_config.get_config("shapes3d")
    cfg.method = "ae"
    cfg.train.num_steps = 60
    cfg.train.eval_every = 30
    r = train.train_and_evaluate(cfg, str(tmp_path))
    assert r["psnr_curve"][60] > r["psnr_curve"][30] - 0.5

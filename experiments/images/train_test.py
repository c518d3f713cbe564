"""Two-step runs of the registry's image methods on the stand-in (16x16, tiny dlib net), and
one-line errors before compilation.

By default one method per model family runs (cliff: the AE with a scheduled regularizer;
qlae with the plots: quantized; betatcvae: VAE + TC); every other registry method (ae too) is
`slow`: each two-step run costs ~20 s of CPU, mostly compilation.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments._cli import ConfigError
from experiments.images import results, train
from experiments.images.configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


DEFAULT = ("cliff", "qlae", "betatcvae")
SLOW = tuple(m for m in train.METHODS if m not in DEFAULT)


@pytest.mark.parametrize(
    "method", [*DEFAULT, *(pytest.param(m, marks=pytest.mark.slow) for m in SLOW)]
)
def test_two_steps_every_method(tmp_path, method):
    cfg = test_config.get_config("shapes3d")
    cfg.method = method
    cfg.eval.plot = method == "qlae"  # exercise the plots once
    if method == "qlinfowgan":  # one micro-batch per critic update: a multiple of 5 (and 4)
        cfg.train.batch_size = 20
    workdir = tmp_path / method / "seed_0"  # the sweep's layout, read by results.py
    r = train.train_and_evaluate(cfg, str(workdir))
    assert r["steps"] == 2 and r["data"] == "procedural stand-in"
    assert r["pipeline"] == "procedural-device" and r["num_latents"] == 12  # 2 x 6 factors
    # the registry's resolved recipe, with the test config's batch size as an override
    assert r["recipe"]["method"] == method
    assert r["recipe"]["train"]["batch_size"] == cfg.train.batch_size
    assert "train.batch_size" in r["recipe"]["overridden"]
    for key in ("infom", "infoc", "infoe", "dci_d", "dci_c", "mig"):
        assert 0.0 <= r[key] <= 1.0, key
    assert np.isfinite(r["psnr"]) and np.isfinite(r["final_loss"])
    with open(workdir / "results.json") as f:
        assert json.load(f)["data"] == "procedural stand-in"
    if method == "qlae":
        for name in ("reconstructions", "traversals", "nmi", "dci_importance", "marginals"):
            assert (workdir / f"{name}.png").exists(), name
        assert 0.0 <= r["infom_quantized"] <= 1.0
        table = results.tables(results.load(str(tmp_path)))
        assert "### procedural stand-in" in table and "| qlae | 2 | 1 |" in table
        assert f"commit {r['commit']}" in table


@pytest.mark.slow
def test_rerun_reproduces_device_batches(tmp_path):
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
    assert len(errors) == 1 and "--config.method unknown method 'vqvae'" in errors[0]


@pytest.mark.slow
def test_longer_run_learns(tmp_path):
    cfg = test_config.get_config("shapes3d")
    cfg.method = "ae"
    cfg.train.num_steps = 60
    cfg.train.eval_every = 30
    r = train.train_and_evaluate(cfg, str(tmp_path))
    assert r["psnr_curve"][60] > r["psnr_curve"][30] - 0.5


def test_warmup_longer_than_the_run_is_one_line_error(tmp_path):
    cfg = test_config.get_config("shapes3d")
    cfg.method = "cliff"
    cfg.loss.warmup_steps = 5  # > train.num_steps = 2: it would train a plain AE, mislabelled
    with pytest.raises(ConfigError, match=r"^--config\.train\.num_steps is too short"):
        train.train_and_evaluate(cfg, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_gan_batch_not_split_by_critic_updates_is_one_line_error(tmp_path):
    cfg = test_config.get_config("shapes3d")
    cfg.method = "qlinfowgan"  # batch 8, 5 critic updates per step
    with pytest.raises(ConfigError, match=r"^--config\.train\.batch_size \(8\) must be a multiple"):
        train.train_and_evaluate(cfg, str(tmp_path / "run"))

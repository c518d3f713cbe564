"""Two-step smoke tests of the synthetic experiment and its flag errors."""

import json
import os
import subprocess
import sys

import pytest

from experiments._cli import ConfigError
from experiments.synthetic import train
from experiments.synthetic.configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("method", ["ae", "betavae", "cliff", "hfs", "ioss"])
def test_two_steps_write_results(tmp_path, method):
    cfg = test_config.get_config()
    cfg.method = method
    cfg.train.num_steps = 2
    results = train.train_and_evaluate(cfg, str(tmp_path))
    assert results["steps"] == 2
    assert 0.0 <= results["mcc_pearson"] <= 1.0
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["method"] == method
    assert (tmp_path / "metrics.jsonl").exists()
    assert any(p.startswith("events") for p in os.listdir(tmp_path / "tensorboard"))


@pytest.mark.parametrize(
    "field,value,flag",
    [
        ("train.batch_size", 0, "train.batch_size"),
        ("data.obs_dim", 1, "data.obs_dim"),
        ("method", "nope", "method"),
        ("train.learning_rate", -1.0, "train.learning_rate"),
    ],
    ids=["batch_size", "obs_dim", "method", "lr"],
)
def test_bad_config_values_name_the_flag(tmp_path, field, value, flag):
    cfg = test_config.get_config()
    section, _, name = field.rpartition(".")
    target = cfg[section] if section else cfg
    target[name] = value
    with pytest.raises(ConfigError, match=rf"^--config\.{flag} "):
        train.train_and_evaluate(cfg, str(tmp_path))


def test_cli_bad_flag_is_one_line_error(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.synthetic",
            "--config=experiments/synthetic/configs/test.py",
            f"--workdir={tmp_path}",
            "--config.train.batch_size=-3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert lines == [
        "error: --config.train.batch_size must be between 1 and data.num_train (512); got -3"
    ]


def test_cli_flagfile_then_overrides(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.synthetic",
            "--flagfile=experiments/synthetic/flags/cliff_d5.flags",
            f"--workdir={tmp_path}",
            "--config.train.num_steps=2",
            "--config.data.num_train=1024",
            "--config.train.progress=false",
            "--config.eval.plot=false",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    with open(tmp_path / "results.json") as f:
        res = json.load(f)
    assert res["method"] == "cliff" and res["steps"] == 2

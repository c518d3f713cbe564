"""Two-step smoke tests of the QLAE experiment and its flag errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments._cli import ConfigError
from experiments.qlae import train
from experiments.qlae.configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("kind", ["ae", "qlae"])
def test_two_steps_write_results(tmp_path, kind):
    cfg = test_config.get_config()
    cfg.model.kind = kind
    cfg.eval.plot = kind == "qlae"  # exercise the plots once
    results = train.train_and_evaluate(cfg, str(tmp_path))
    assert results["steps"] == 2
    assert results["num_latents"] == 8  # 2 x (x1, y1, x2, y2)
    for key in ("infom", "infoc", "infoe", "mig", "mcc_pearson"):
        assert 0.0 <= results[key] <= 1.0, key
    assert np.isfinite(results["psnr"]) and results["psnr"] > 0
    assert sorted(results["psnr_curve"]) == [1, 2]
    assert ("infom_quantized" in results) == (kind == "qlae")
    wd, clip = (0.1, 1.0) if kind == "qlae" else (1e-4, None)
    assert results["weight_decay"] == wd and results["clip_value"] == clip
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["kind"] == kind
    if kind == "qlae":
        assert (tmp_path / "reconstructions.png").exists()
        assert (tmp_path / "traversals.png").exists()


@pytest.mark.parametrize(
    "field,value,flag",
    [
        ("model.kind", "gan", "model.kind"),
        ("data.variant", "cubes", "data.variant"),
        ("train.batch_size", 0, "train.batch_size"),
        ("data.num_balls", 3, "data"),
    ],
    ids=["kind", "variant", "batch_size", "num_balls"],
)
def test_bad_config_values_name_the_flag(tmp_path, field, value, flag):
    cfg = test_config.get_config()
    cfg.data.variant = "l_shape" if field == "data.num_balls" else cfg.data.variant
    section, _, name = field.rpartition(".")
    cfg[section][name] = value
    with pytest.raises(ConfigError, match=rf"^--config\.{flag} "):
        train.train_and_evaluate(cfg, str(tmp_path))


def test_cli_bad_flag_is_one_line_error(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.qlae",
            "--config=experiments/qlae/configs/test.py",
            f"--workdir={tmp_path}",
            "--config.model.kind=gan",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert lines == [
        "error: --config.model.kind must be one of ('ae', 'vae', 'qlae', 'qlvae'); got 'gan'"
    ]

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
    cfg.method = kind
    cfg.eval.plot = kind == "qlae"  # exercise the plots once
    results = train.train_and_evaluate(cfg, str(tmp_path))
    assert results["steps"] == 2
    assert results["num_latents"] == 8  # 2 x (x1, y1, x2, y2)
    for key in ("infom", "infoc", "infoe", "mig", "mcc_pearson"):
        assert 0.0 <= results[key] <= 1.0, key
    assert np.isfinite(results["psnr"]) and results["psnr"] > 0
    assert sorted(results["psnr_curve"]) == [1, 2]
    assert ("infom_quantized" in results) == (kind == "qlae")
    # the registry's recipe, as run: QLAE's weight decay 0.1 and clipping 1 (the authors')
    wd, clip = (0.1, 1.0) if kind == "qlae" else (1e-4, 0.0)
    recipe = results["recipe"]
    assert recipe["method"] == kind and recipe["dataset"] == "balls"
    assert recipe["train"]["weight_decay"] == wd and recipe["train"]["clip_value"] == clip
    assert recipe["train"]["batch_size"] == 8 and recipe["overridden"] == ["train.batch_size"]
    with open(tmp_path / "results.json") as f:
        saved = json.load(f)
    assert saved["method"] == kind and saved["recipe"] == recipe
    if kind == "qlae":
        assert (tmp_path / "reconstructions.png").exists()
        assert (tmp_path / "traversals.png").exists()


@pytest.mark.parametrize(
    "field,value,flag",
    [
        ("method", "gan", "method"),
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
    (cfg[section] if section else cfg)[name] = value
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
            "--config.method=gan",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1
    assert lines[0].startswith("error: --config.method unknown method 'gan'")
    assert "valid methods: ae, betavae" in lines[0]

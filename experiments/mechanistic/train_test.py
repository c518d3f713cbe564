"""Two-step smoke tests of the mechanistic experiment, its checks and its flag errors."""

import json
import os
import subprocess
import sys

import pytest

from experiments._cli import ConfigError
from experiments.mechanistic import train
from experiments.mechanistic.configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_two_steps_every_method_writes_results(tmp_path):
    cfg = test_config.get_config()
    cfg.eval.plot = True
    results = train.train_and_evaluate(cfg, str(tmp_path))
    assert [r["method"] for r in results["rows"]] == ["ae", "ccomp", "ratio"]
    for r in results["rows"]:
        assert r["steps"] == 2
        assert -1.0 <= r["slot_r2"] <= 1.0 and 0.0 <= r["block_mcc"] <= 1.0
        assert r["decoder"]["type_h"] is None  # LeakyReLU decoder: piecewise linear
    (gen,) = results["generators"]
    assert gen["recovers_planted"] and gen["type_d"] is True  # 0 % overlap: exact
    with open(tmp_path / "results.json") as f:
        assert set(json.load(f)["summary"]) == {f"K2/overlap0.0/{m}" for m in train.METHODS}
    assert (tmp_path / "table.md").read_text().count("\n") == 7  # provenance, blank, table
    assert (tmp_path / "plots" / "K2_overlap0_generator_support.png").exists()
    assert (tmp_path / "plots" / "K2_overlap0_ccomp_graph.png").exists()


def test_regularized_objective_reads_the_decoder_jacobian():
    cfg = test_config.get_config()
    import jax.numpy as jnp
    import numpy as np

    from qdjax._src.typing import Batch

    model, objective = train.make_model_and_objective(cfg, "ccomp", 2, seed=0)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, cfg.data.obs_dim)), jnp.float32)
    loss, aux = objective(model, Batch(x, x[:, :4]), None)
    assert float(aux["ccomp"]) > 0 and np.isclose(
        float(loss), float(aux["reconstruction"]) + cfg.loss.ccomp_weight * float(aux["ccomp"])
    )


@pytest.mark.parametrize(
    "field,value,flag",
    [
        ("sweep.overlaps", (1.5,), "sweep.overlaps"),
        ("sweep.num_groups", (1,), "sweep.num_groups"),
        ("sweep.methods", ("nope",), "sweep.methods"),
        ("data.obs_dim", 3, "data.obs_dim"),
        ("loss.ccomp_weight", -1.0, "loss.ccomp_weight"),
        ("eval.tol", 0.0, "eval.tol"),
    ],
    ids=["overlap", "groups", "method", "obs_dim", "weight", "tol"],
)
def test_bad_config_values_name_the_flag(tmp_path, field, value, flag):
    cfg = test_config.get_config()
    section, _, name = field.rpartition(".")
    cfg[section][name] = value
    with pytest.raises(ConfigError, match=rf"^--config\.{flag} "):
        train.train_and_evaluate(cfg, str(tmp_path))


def test_cli_bad_flag_is_one_line_error(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.mechanistic",
            "--config=experiments/mechanistic/configs/test.py",
            f"--workdir={tmp_path}",
            "--config.sweep.overlaps=(0.0,1.0)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert lines == ["error: --config.sweep.overlaps ratios must be in [0, 1); got 1.0"]

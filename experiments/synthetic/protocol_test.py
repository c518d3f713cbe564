"""Tests of the protocol's seed handling, cell accuracy, bootstrap and report (no training)."""

import json
import os

import ml_collections
import numpy as np
import pytest

from experiments.synthetic import protocol
from qdjax import data
from qdjax.identifiability import RECOVER_GRID_VERSION


def test_parse_seeds():
    assert protocol.parse_seeds("0,1,5-7") == [0, 1, 5, 6, 7]
    assert protocol.parse_seeds("100-102") == [100, 101, 102]
    with pytest.raises(ValueError, match="0,1,5-7"):
        protocol.parse_seeds("a-b")


def test_tuning_and_evaluation_seeds_must_not_overlap():
    c = ml_collections.ConfigDict(protocol.get_config().to_dict())
    c.tuning_seeds = "0,1"
    c.evaluation_seeds = "1-3"
    with pytest.raises(ValueError, match="overlap"):
        protocol._validate(c)
    c.evaluation_seeds = "100"
    c.settings = "2d,nope"
    with pytest.raises(ValueError, match="settings"):
        protocol._validate(c)


def test_bootstrap_ci():
    lo, hi = protocol.bootstrap_ci(np.full(10, 2.5), 200)
    assert lo == hi == pytest.approx(2.5)  # constant differences: a zero-width interval
    diff = np.random.default_rng(0).normal(1.0, 1.0, 400)
    lo, hi = protocol.bootstrap_ci(diff, 2000)
    # The mean's standard error is 1/20, so the 95% interval is about mean +- 0.1.
    assert lo < diff.mean() < hi
    assert 0.15 < hi - lo < 0.25


@pytest.fixture(scope="module")
def grid():
    ds = data.make_synthetic(0, 3000)
    return ds.z.astype(np.float64), ds.cells


def test_oracle_cell_accuracy_truth_warp_and_rotation(grid):
    s, cells = grid
    assert protocol.oracle_cell_accuracy(s, s, cells) == 1.0
    warped = np.stack([np.tanh(s[:, 0]), -np.exp(0.5 * s[:, 1])], axis=1)  # monotone, one flipped
    assert protocol.oracle_cell_accuracy(warped[:, ::-1], s, cells) == 1.0
    th = np.deg2rad(30.0)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    assert protocol.oracle_cell_accuracy(s @ rot.T, s, cells) < 0.9


def test_setting_config_scales_schedule_and_sets_weight():
    cfg = protocol.setting_config("3lat", "cliff", 7, num_steps=1500, weight=0.3)
    assert (cfg.seed, cfg.data.num_latents, cfg.model.num_latents) == (7, 3, 3)
    assert cfg.train.num_steps == 1500
    assert cfg.loss.regularizer_weight == 0.3
    assert cfg.loss.warmup_steps == 500  # the recipe's 1000 of 3000 steps, scaled
    with pytest.raises(ValueError, match="setting"):
        protocol.setting_config("4d", "ae", 0)


def test_batch_size_is_one_value_for_every_method_and_named_in_the_heading(tmp_path):
    own = {m: protocol.setting_config("2d", m, 0).train.batch_size for m in ("ae", "cliff")}
    assert own == {"ae": None, "cliff": None}  # None: each recipe's own (256 / 512)
    for m in ("ae", "ioss", "cliff"):
        assert protocol.setting_config("2d", m, 0, batch_size=2048).train.batch_size == 2048
    c = ml_collections.ConfigDict(protocol.get_config().to_dict())
    c.train.batch_size = -1
    with pytest.raises(ValueError, match="batch_size must be >= 0"):
        protocol._validate(c)
    for method, recipe in (("ae", {"overridden": ["train.batch_size"]}), ("cliff", {})):
        recipe["train"] = {"batch_size": 2048}
        _fake_run(tmp_path, "2d", method, 100, 0.9, recipe=recipe)
    text, _ = protocol.report(str(tmp_path), 100, "cmd")
    assert "n = 1, 10 steps)" in text  # cliff ran with its recipe's batch: no single value
    recipe = {"overridden": ["train.batch_size"], "train": {"batch_size": 2048}}
    with open(tmp_path / "eval/2d/cliff/seed_100/results.json") as f:
        r = json.load(f)
    with open(tmp_path / "eval/2d/cliff/seed_100/results.json", "w") as f:
        json.dump({**r, "recipe": recipe}, f)
    text, _ = protocol.report(str(tmp_path), 100, "cmd")
    assert "n = 1, 10 steps, batch 2048)" in text


def test_restart_selection_reaches_every_run_and_is_named_in_the_heading(tmp_path):
    cfg = protocol.setting_config("2d", "cliff", 0, restarts=4, restart_selection="agreement")
    assert (cfg.train.restarts, cfg.train.restart_selection) == (4, "agreement")
    c = ml_collections.ConfigDict(protocol.get_config().to_dict())
    c.train.restart_selection = "medoid"
    with pytest.raises(ValueError, match="restart_selection must be one of objective, agreement"):
        protocol._validate(c)
    for method in ("ae", "cliff"):
        _fake_run(tmp_path, "2d", method, 100, 0.9)
        path = tmp_path / "eval/2d" / method / "seed_100/results.json"
        r = json.loads(path.read_text())
        r.update(restarts=[{"restart": i} for i in range(4)], restart_selection="agreement")
        path.write_text(json.dumps(r))
    text, _ = protocol.report(str(tmp_path), 100, "cmd")
    assert "n = 1, 10 steps, 4 restarts kept by agreement)" in text


def _fake_run(root, setting, method, seed, mcc, recipe=None):
    wd = os.path.join(root, "eval", setting, method, f"seed_{seed}")
    os.makedirs(wd)
    with open(os.path.join(wd, "results.json"), "w") as f:
        json.dump({"method": method, "seed": seed, "steps": 10, "mcc_pearson": mcc,
                   "mcc_spearman": mcc, "recipe": recipe or {}}, f)  # fmt: skip
    with open(os.path.join(wd, "cells.json"), "w") as f:
        json.dump({"cell_accuracy_grid": 0.5, "cell_accuracy_oracle": 0.75,
                   "recover_grid_version": RECOVER_GRID_VERSION}, f)  # fmt: skip


def test_cell_metrics_cache_from_another_recover_grid_version_is_recomputed(tmp_path):
    # codes = the true latents: the recomputed oracle accuracy is 1; a cache written by
    # another version of recover_grid (stale numbers) must not be reused.
    ds = data.make_synthetic(4, 2000)
    np.savez(tmp_path / "codes.npz", z=ds.z, s=ds.z, cells=ds.cells)
    with open(tmp_path / "cells.json", "w") as f:
        json.dump({"cell_accuracy_grid": 0.1, "cell_accuracy_oracle": 0.1,
                   "recover_grid_version": RECOVER_GRID_VERSION - 1}, f)  # fmt: skip
    out = protocol._cell_metrics(str(tmp_path))
    assert out["cell_accuracy_oracle"] == pytest.approx(1.0)
    assert out["cell_accuracy_grid"] > 0.5
    with open(tmp_path / "cells.json") as f:
        assert json.load(f)["recover_grid_version"] == RECOVER_GRID_VERSION
    assert protocol._cell_metrics(str(tmp_path)) == out  # now a valid cache


def test_report_is_built_from_results_files(tmp_path):
    # cliff beats the best baseline (ioss) by exactly 2 points on every seed: the paired
    # difference is +2.0 with a zero-width bootstrap interval; ae is the worse baseline.
    for seed in (100, 101, 102):
        _fake_run(tmp_path, "2d", "ae", seed, 0.80 + 0.01 * (seed % 3))
        _fake_run(tmp_path, "2d", "ioss", seed, 0.90 + 0.01 * (seed - 100))
        _fake_run(tmp_path, "2d", "cliff", seed, 0.92 + 0.01 * (seed - 100))
    text, summary = protocol.report(str(tmp_path), 500, "cmd")
    s = summary["settings"]["2d"]
    assert s["best_baseline"] == "ioss" and s["seeds"] == [100, 101, 102]
    np.testing.assert_allclose(s["methods"]["cliff"]["diff_vs_best_baseline"], [2.0] * 3, atol=1e-9)
    assert "| cliff | 93.0 ± 0.8 |" in text
    assert "+2.0 [+2.0, +2.0] vs ioss" in text
    assert "0.750 ± 0.000" in text


def test_report_paired_differences(tmp_path):
    for seed in (100, 101, 102):
        _fake_run(tmp_path, "2d", "ioss", seed, 0.90)
        _fake_run(tmp_path, "2d", "cliff", seed, 0.85 + 0.01 * (seed - 100))  # 85, 86, 87
        _fake_run(tmp_path, "2d", "cliff_rank", seed, 0.88)  # +3, +2, +1 vs cliff
    text, summary = protocol.report(str(tmp_path), 500, "cmd", pairs=[("cliff_rank", "cliff")])
    assert "| 2d | cliff_rank - cliff | +2.0 [" in text and "| 3/3 |" in text
    np.testing.assert_allclose(summary["settings"]["2d"]["paired"]["cliff_rank-cliff"][0], 2.0)
    assert protocol.parse_pairs("a:b,c:d") == [("a", "b"), ("c", "d")]
    with pytest.raises(ValueError, match="paired"):
        protocol.parse_pairs("cliff_rank")


def test_fixed_weights_parse_and_errors():
    c = ml_collections.ConfigDict(protocol.get_config().to_dict())
    c.fixed_weights = "cliff=0.1, ioss=0.03"
    assert protocol.fixed_weights(c) == {"cliff": 0.1, "ioss": 0.03}
    c.fixed_weights = "cliff:0.1"
    with pytest.raises(ValueError, match="fixed_weights"):
        protocol.fixed_weights(c)


def test_run_reuses_only_a_run_with_the_same_config(tmp_path, monkeypatch):
    # A finished run is reused only when its recorded config equals the requested one; one
    # recorded with another config (a recipe default changed since) is moved aside and redone.
    from experiments.synthetic import train

    calls = []

    def fake_train(cfg, wd):
        calls.append(cfg.loss.regularizer_weight)
        os.makedirs(wd, exist_ok=True)
        with open(os.path.join(wd, "results.json"), "w") as f:
            json.dump({"steps": cfg.train.num_steps, "mcc_pearson": 0.5}, f)
        np.savez(os.path.join(wd, "codes.npz"), z=np.zeros((2, 2)))
        return {}

    monkeypatch.setattr(train, "train_and_evaluate", fake_train)
    monkeypatch.setattr(protocol, "_cell_metrics", lambda wd: {})
    wd = str(tmp_path / "run")
    a = protocol.setting_config("2d", "cliff", 0, num_steps=200, weight=0.1)
    b = protocol.setting_config("2d", "cliff", 0, num_steps=200, weight=0.3)
    assert protocol._run(a, wd)["mcc_pearson"] == 0.5
    protocol._run(a, wd)
    assert calls == [0.1]  # the second call reused the finished run
    protocol._run(b, wd)
    assert calls == [0.1, 0.3]
    assert len(list(tmp_path.glob("run.replaced-*"))) == 1


def test_paired_files_pairs_methods_of_two_reports():
    from experiments.synthetic import paired_files

    a = {
        "settings": {
            "2d": {"seeds": [1, 2, 3], "methods": {"new": {"mcc_pearson": [0.9, 0.8, 0.7]}}}
        }
    }
    b = {
        "settings": {
            "2d": {"seeds": [2, 3, 4], "methods": {"old": {"mcc_pearson": [0.7, 0.75, 0.1]}}},
            "3lat": {"seeds": [1], "methods": {"old": {"mcc_pearson": [0.5]}}},
        }
    }
    text = paired_files.paired_table(a, b, [("new", "old")], 200)
    rows = text.splitlines()[2:]
    assert len(rows) == 1  # 3lat: not in a
    # seeds 2 and 3 only: (0.8 - 0.7, 0.7 - 0.75) * 100 -> mean +2.5, one of two above
    assert rows[0].startswith("| 2d | new - old | +2.5 [") and rows[0].endswith("| 1/2 |")


def test_paired_files_pairs_two_settings_and_says_when_nothing_pairs():
    from experiments.synthetic import paired_files

    a = {
        "settings": {"2d_smooth": {"seeds": [1, 2], "methods": {"m": {"mcc_pearson": [0.9, 0.6]}}}}
    }
    b = {"settings": {"2d": {"seeds": [1, 2], "methods": {"m": {"mcc_pearson": [0.8, 0.7]}}}}}
    with pytest.raises(ValueError, match=r"--settings=sa:sb\), methods \[\('m', 'm'\)\]"):
        paired_files.paired_table(a, b, [("m", "m")], 200)  # no setting name in common
    text = paired_files.paired_table(a, b, [("m", "m")], 200, [("2d_smooth", "2d")])
    (row,) = text.splitlines()[2:]
    # (0.9 - 0.8, 0.6 - 0.7) * 100 -> mean 0.0, one of two above
    assert row.startswith("| 2d_smooth vs 2d | m - m | +0.0 [") and row.endswith("| 1/2 |")

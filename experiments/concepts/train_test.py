"""Two-step smoke tests of the concepts experiment (synthetic and --features modes)."""

import json

import numpy as np
import pytest

from experiments._cli import ConfigError
from experiments.concepts import train
from experiments.concepts.configs import test as test_config


def test_two_steps_synthetic_write_results_and_table(tmp_path):
    cfg = test_config.get_config()
    cfg.sae.kinds = "topk,jumprelu"
    cfg.data.conditions = "incoherent"
    cfg.ica.num_gaussian = "0"
    results = train.main(cfg, str(tmp_path))
    assert {r["kind"] for r in results["sae"]} == {"topk", "jumprelu"}
    row = results["sae"][0]
    assert row["steps"] == 2 and 0.0 <= row["atom_mcc"] <= 1.0
    assert row["verdict"]["check"] == "SparseCodeVerdict"
    assert results["truth_verdicts"]["incoherent"]["holds"] is True
    assert "incoherent/topk" in results["consistency"]
    assert results["ica"][0]["verdict"]["check"] == "NonGaussianityVerdict"
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["mode"] == "synthetic"
    assert "| incoherent | topk |" in (tmp_path / "table.md").read_text()


def test_features_mode_on_a_memmapped_file(tmp_path):
    x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    np.save(tmp_path / "acts.npy", x)
    cfg = test_config.get_config()
    cfg.sae.kinds = "topk"
    cfg.sae.k = 2
    results = train.main(cfg, str(tmp_path / "run"), str(tmp_path / "acts.npy"))
    assert results["mode"] == "features" and results["shape"] == [300, 8]
    assert len(results["sae"]) == 2 and "topk" in results["consistency"]


@pytest.mark.parametrize(
    "field,value,flag",
    [
        ("sae.k", 40, "sae.k"),
        ("sae.kinds", "topk,nope", "sae.kinds"),
        ("data.conditions", "weird", "data.conditions"),
        ("eval_seeds", "a,b", "eval_seeds"),
        ("sae.l1_weight", -1.0, "sae.l1_weight"),
    ],
    ids=["k_ge_width", "kind", "condition", "seeds", "l1"],
)
def test_bad_config_values_name_the_flag(tmp_path, field, value, flag):
    cfg = test_config.get_config()
    section, _, name = field.rpartition(".")
    (cfg[section] if section else cfg)[name] = value
    with pytest.raises(ConfigError, match=rf"^--config\.{flag} "):
        train.main(cfg, str(tmp_path))


def test_features_with_nan_rows_is_one_line_error(tmp_path):
    x = np.ones((40, 4), np.float32)
    x[[5, 6]] = np.inf
    np.save(tmp_path / "bad.npy", x)
    with pytest.raises(ConfigError, match=r"2 row\(s\) with NaN/Inf \(first: row 5\)"):
        train.main(test_config.get_config(), str(tmp_path / "run"), str(tmp_path / "bad.npy"))

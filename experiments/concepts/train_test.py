"""Two-step smoke tests of the concepts experiment (synthetic and --features modes).

Each SAE run goes through the engine (one compilation + an Orbax checkpoint, ~2.5 s CPU),
so the tests use one kind per mode; the CLI test runs its three processes in parallel.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import _cli
from experiments._cli import ConfigError
from experiments.concepts import train
from experiments.concepts.configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_two_steps_synthetic_write_results_and_table(tmp_path):
    cfg = test_config.get_config()
    cfg.sae.kinds = "jumprelu"
    cfg.data.conditions = "incoherent"
    cfg.ica.num_gaussian = "2"
    results = train.main(cfg, str(tmp_path))
    assert [(r["kind"], r["seed"]) for r in results["sae"]] == [("jumprelu", 0), ("jumprelu", 1)]
    row = results["sae"][0]
    assert row["steps"] == 2 and 0.0 <= row["atom_mcc"] <= 1.0
    assert 0.0 <= row["support_f1"] <= 1.0 and row["fvu"] >= 0.0
    assert row["verdict"]["check"] == "SparseCodeVerdict"
    assert results["truth_verdicts"]["incoherent"]["holds"] is True  # mu = 1/4, k = 2
    cons = results["consistency"]["incoherent/jumprelu"]
    assert cons["num_runs"] == 2 and cons["uses_encoders"] is True
    assert [r["num_gaussian"] for r in results["ica"]] == [2, 2]
    assert all(r["verdict"]["holds"] is False for r in results["ica"])  # 2 Gaussian sources
    with open(tmp_path / "results.json") as f:
        written = json.load(f)
    assert written["mode"] == "synthetic" and written["config"]["sae"]["kinds"] == "jumprelu"
    assert "| incoherent | jumprelu |" in (tmp_path / "table.md").read_text()


def test_features_mode_on_a_memmapped_file(tmp_path):
    x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    np.save(tmp_path / "acts.npy", x)
    cfg = test_config.get_config()
    cfg.sae.kinds = "topk"
    cfg.sae.k = 2
    cfg.eval_seeds = "0"
    cfg.features = str(tmp_path / "acts.npy")  # what --features=... sets
    results = train.main(cfg, str(tmp_path / "run"))
    assert results["mode"] == "features" and results["shape"] == [300, 8]
    assert results["features"] == str(tmp_path / "acts.npy")
    (row,) = results["sae"]
    assert row["kind"] == "topk" and row["steps"] == 2 and row["l0"] <= 2.0
    assert row["verdict"]["width"] + row["verdict"]["num_unused_excluded"] == 32  # 4 * d_in


def test_features_flag_becomes_a_recorded_config_value(tmp_path):
    cfg = test_config.get_config()
    cfg.features = "a.npy"
    wd = str(tmp_path / "run")
    with _cli.workdir_session(cfg, wd, may_change=train.MAY_CHANGE):
        pass
    other = test_config.get_config()
    other.features, other.eval_seeds, other.sae.kinds = "a.npy", "0,1,2", "relu"
    assert _cli.check_workdir_config(other, wd, may_change=train.MAY_CHANGE) == []
    other.features = "b.npy"  # another file: refused (one line names the key)
    assert _cli.check_workdir_config(other, wd, may_change=train.MAY_CHANGE) == [
        "features 'a.npy' -> 'b.npy'"
    ]
    argv = ["prog", "--features=a.npy", "--workdir=w", "--features", "b.npy", "--featuresx=1"]
    assert train.features_as_config(argv) == [
        "prog",
        "--config.features=a.npy",
        "--workdir=w",
        "--config.features=b.npy",
        "--featuresx=1",
    ]


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


def test_features_with_nan_rows_or_too_few_rows_is_one_line_error(tmp_path):
    x = np.ones((40, 4), np.float32)
    x[[5, 6]] = np.inf
    np.save(tmp_path / "bad.npy", x)
    with pytest.raises(ConfigError, match=r"2 row\(s\) with NaN/Inf \(first: row 5\)"):
        train.main(test_config.get_config(), str(tmp_path / "run"), str(tmp_path / "bad.npy"))
    np.save(tmp_path / "short.npy", np.ones((50, 4), np.float32))
    with pytest.raises(ConfigError, match=r"^--config\.train\.batch_size must be <= the 50 rows"):
        train.main(test_config.get_config(), str(tmp_path / "run"), str(tmp_path / "short.npy"))


def test_cli_bad_features_are_one_line_errors(tmp_path):
    nan = np.ones((40, 4), np.float32)
    nan[[7, 9, 30]] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "rank3.npy", np.ones((40, 4, 2), np.float32))
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32))
    cases = {  # name: (extra args, text the one error line must hold)
        "nan_rows": (
            [f"--features={tmp_path / 'nan.npy'}"],
            "has 3 row(s) with NaN/Inf (first: row 7)",
        ),
        "wrong_rank": (
            ["--features", str(tmp_path / "rank3.npy")],
            "must be 2-D [samples, dim] (rows = samples); got shape (40, 4, 2)",
        ),
        "k_ge_width": (
            [f"--features={tmp_path / 'ok.npy'}", "--config.sae.width=8", "--config.sae.k=8"],
            "--config.sae.k must satisfy 1 <= k < sae.width (8); got 8",
        ),
    }
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "experiments.concepts",
                "--config=experiments/concepts/configs/test.py",
                f"--workdir={tmp_path / name}",
                *args,
            ],
            cwd=ROOT,
            env={**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (args, _) in cases.items()
    }
    try:
        outs = {name: (p.communicate(timeout=300), p.returncode) for name, p in procs.items()}
    finally:
        for p in procs.values():  # never leave a child behind
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, (_, text) in cases.items():
        (out, err), rc = outs[name]
        assert rc == 2, (name, err[-1500:])
        assert "Traceback" not in out + err, (name, err[-1500:])
        errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and text in errors[0], (name, err[-1500:])
        assert not os.path.exists(tmp_path / name / "results.json")

"""Two-step smoke tests of the synthetic experiment and its flag errors."""

import json
import os
import subprocess
import sys

import pytest

from experiments._cli import ConfigError
from experiments.synthetic import sweep, train
from experiments.synthetic.configs import test as test_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("method", train.METHODS)
def test_two_steps_write_results(tmp_path, method):
    cfg = test_config.get_config()
    cfg.method = method
    cfg.train.num_steps = 2
    if method == "grid_flow":  # a 2-layer flow (12 layers compile for ~30 s)
        cfg.model.flow_layers = 2
    results = train.train_and_evaluate(cfg, str(tmp_path))
    assert results["steps"] == 2
    if method == "grid_flow":  # its own grid's cells, its NLL and the true model's
        assert {"cell_accuracy_model", "nll_model", "nll_truth"} <= set(results)
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
        ("loss.cliff_bandwidth", -0.1, "loss.cliff_bandwidth"),
        ("loss.cliff_bivariate", -1.0, "loss.cliff_bivariate"),
        ("loss.warmup_steps", -1, "loss.warmup_steps"),
        ("loss.ramp_steps", -5, "loss.ramp_steps"),
        ("loss.regularizer_weight", -1.0, "loss.regularizer_weight"),
        ("train.clip_value", -1.0, "train.clip_value"),
        ("model.num_values", 1, "model.num_values"),
        ("loss.commitment_weight", -0.1, "loss.commitment_weight"),
    ],
    ids=[
        "batch_size",
        "obs_dim",
        "method",
        "lr",
        "bandwidth",
        "bivariate",
        "warmup",
        "ramp",
        "reg_weight",
        "clip",
        "num_values",
        "commitment",
    ],
)
def test_bad_config_values_name_the_flag(tmp_path, field, value, flag):
    cfg = test_config.get_config()
    section, _, name = field.rpartition(".")
    target = cfg[section] if section else cfg
    target[name] = value
    with pytest.raises(ConfigError, match=rf"^--config\.{flag} "):
        train.train_and_evaluate(cfg, str(tmp_path))


def test_all_cliff_term_weights_zero_is_rejected(tmp_path):
    cfg = test_config.get_config()
    cfg.method = "cliff"
    cfg.loss.cliff_univariate = cfg.loss.cliff_bivariate = cfg.loss.cliff_uniform = 0.0
    with pytest.raises(ConfigError, match=r"^--config\.loss\.cliff_univariate "):
        train.train_and_evaluate(cfg, str(tmp_path))


def test_regularizer_warmup_then_linear_ramp():
    cfg = test_config.get_config()
    cfg.loss.regularizer_weight = 2.0
    assert train.regularizer_weight(cfg.loss) == 2.0  # no schedule by default
    cfg.loss.warmup_steps, cfg.loss.ramp_steps = 10, 4
    w = train.regularizer_weight(cfg.loss)
    got = [float(w(s)) for s in (0, 9, 10, 11, 12, 13, 100)]
    assert got == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    cfg.loss.ramp_steps = 0
    w = train.regularizer_weight(cfg.loss)
    assert [float(w(s)) for s in (9, 10)] == [0.0, 2.0]


@pytest.mark.parametrize("bandwidth", [0.0, 0.2])
def test_cliff_settings_reach_the_objective(tmp_path, bandwidth):
    cfg = test_config.get_config()
    cfg.method = "cliff"
    cfg.train.num_steps = 2
    cfg.loss.cliff_univariate, cfg.loss.cliff_bivariate, cfg.loss.cliff_uniform = 0.0, 2.0, 3.0
    cfg.loss.cliff_bandwidth = bandwidth
    cfg.loss.warmup_steps, cfg.loss.ramp_steps = 1, 1
    results = train.train_and_evaluate(cfg, str(tmp_path))
    assert results["steps"] == 2


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
            "--config.loss.warmup_steps=0",  # cliff's recipe warms up for 1000 steps
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
    # the flagfile's recipe (default.py:cliff) and the override both reach results.json
    assert res["recipe"]["loss"]["regularizer_weight"] == 0.1
    assert res["recipe"]["train"]["batch_size"] == 512
    assert res["recipe"]["overridden"] == ["loss.warmup_steps", "train.batch_size"]


def test_sweep_table_columns_match_header():
    rows = [
        {
            "method": "ae",
            "seed": s,
            "steps": 3,
            "mcc_pearson": 0.9,
            "mcc_spearman": 0.8,
            "reconstruction_mse": 0.01,
            "cell_accuracy": 0.5,
        }
        for s in (0, 1)
    ]
    table, summary = sweep.summarize(rows)
    widths = {line.count("|") for line in table.splitlines()}
    assert len(widths) == 1, table
    assert summary["ae"]["per_seed_mcc_pearson"] == [0.9, 0.9]


def test_likelihood_gap_table(tmp_path):
    from experiments.synthetic import likelihood_gap

    for seed, (nll, truth, mcc) in enumerate([(1.2, 1.0, 0.8), (0.9, 1.0, 0.99), (2.0, 1.5, 0.6)]):
        wd = tmp_path / f"seed_{seed}"
        wd.mkdir()
        r = {"nll_model": nll, "nll_truth": truth, "mcc_pearson": mcc, "cell_accuracy_model": 0.5}
        (wd / "results.json").write_text(json.dumps(r))
    (tmp_path / "seed_9").mkdir()  # unfinished: skipped
    rows = likelihood_gap.load([str(tmp_path / "seed_*")])
    assert len(rows) == 3
    text = likelihood_gap.table(rows)
    assert "+0.200" in text and "-0.100" in text and "+0.500" in text
    assert "below the truth's: 1 of 3" in text
    assert "Spearman correlation of gap and MCC: -1.00" in text  # larger gap, lower MCC
    assert "truth code" not in text  # no truth-code NLL: no such columns
    for r, code in zip(rows, (1.1, 0.95, 2.2)):
        r["nll_truth_code"] = code
    text = likelihood_gap.table(rows)
    assert "| +0.100 | +0.100 |" in text  # seed 0: truth code 0.1 above the truth, fit 0.1 above it
    assert "| -0.050 | -0.050 |" in text  # seed 1: truth code -0.05, fit 0.9 - 0.95
    assert "below the truth code's (the recipe's objective prefers the fitted code to the " in text
    assert "truth): 2 of 3" in text


def test_truth_code_nll_refits_the_runs_recipe_on_the_true_latents(tmp_path):
    """The truth code's NLL under a finished run's recipe: finite, not below the true model's
    by more than held-out noise, and it follows the run's recipe (read from results.json, not
    today's defaults): a prior that is never trained scores worse than a trained one."""
    import numpy as np

    from experiments.synthetic import likelihood_gap

    cfg = test_config.get_config()
    cfg.method = "grid_flow"
    cfg.model.flow_layers = 2
    cfg.train.num_steps = 100
    cfg.eval.plot = False
    results = train.train_and_evaluate(cfg, str(tmp_path))
    with pytest.raises(ValueError, match="has no readable config.json .*--truth_code=false"):
        likelihood_gap.truth_code_nll(str(tmp_path), results)
    from experiments import _cli

    (tmp_path / "config.json").write_text(json.dumps({"config": _cli.config_record(cfg)}))
    code = likelihood_gap.truth_code_nll(str(tmp_path), results)
    assert np.isfinite(code) and code > results["nll_truth"] - 0.05
    untrained = dict(results, steps=0)
    assert likelihood_gap.truth_code_nll(str(tmp_path), untrained) > code + 0.05


def test_restarts_keep_the_lowest_training_objective(tmp_path):
    """`train.restarts=2`: each restart trains in its own workdir from its own start, the one
    with the lower training objective is kept, and the reported code is that restart's."""
    cfg = test_config.get_config()
    cfg.method = "grid_flow"
    cfg.model.flow_layers = 2
    cfg.train.num_steps = 3
    cfg.train.restarts = 2
    results = train.train_and_evaluate(cfg, str(tmp_path))
    rs = results["restarts"]
    assert [r["restart"] for r in rs] == [0, 1]
    assert (tmp_path / "restart_0" / "metrics.jsonl").exists()
    assert (tmp_path / "restart_1" / "metrics.jsonl").exists()
    assert rs[0]["selection_loss"] != rs[1]["selection_loss"]  # different starts
    kept = min(rs, key=lambda r: r["selection_loss"])
    assert results["restart_kept"] == kept["restart"]
    assert results["mcc_pearson"] == pytest.approx(kept["mcc_pearson"], abs=1e-9)
    # resumable: a second call trains nothing and keeps the same restart
    again = train.train_and_evaluate(cfg, str(tmp_path))
    assert again["restarts"] == rs


def test_selection_loss_of_grid_flow_is_its_training_nll():
    """For grid_flow the ranking criterion is the exact NLL at the final temperature, averaged
    over the full batches of the training set (the last partial batch is left out)."""
    import numpy as np

    cfg = test_config.get_config()
    cfg.method = "grid_flow"
    cfg.model.flow_layers = 2
    cfg.train.restarts = 2
    cfg, recipe = train._methods.apply_recipe(cfg, "synthetic", "grid_flow", num_steps=4)
    ds = train.make_dataset(cfg)
    x, s = ds.x[:300], ds.z[:300]
    built = train.build(cfg, recipe, x.shape[1], restart=1)
    built.model.data_init(x)
    step = 10**6  # past the annealing: the final temperature
    got = train.selection_loss(built, x, s, batch_size=64, step=step, seed=0)
    tau = float(recipe["loss.grid_temperature"])
    want = -float(np.mean(np.asarray(built.model.log_prob(x[:256], tau))))  # 4 full batches
    assert got == pytest.approx(want, rel=1e-4)


def test_restarts_errors_name_the_flag(tmp_path):
    cfg = test_config.get_config()
    cfg.train.restarts = 0
    with pytest.raises(ConfigError, match=r"^--config\.train\.restarts must be >= 1"):
        train.train_and_evaluate(cfg, str(tmp_path))
    cfg = test_config.get_config()
    cfg.method = "factorvae"  # adversarial: no single objective to rank restarts by
    cfg.train.restarts = 2
    with pytest.raises(
        ConfigError, match=r"^--config\.train\.restart_selection=objective .*factorvae"
    ):
        train.train_and_evaluate(cfg, str(tmp_path / "f"))
    cfg.train.restart_selection = "medoid"
    with pytest.raises(ConfigError, match=r"^--config\.train\.restart_selection must be one of"):
        train.train_and_evaluate(cfg, str(tmp_path / "g"))


def test_restarts_kept_by_agreement_are_the_medoid_of_the_codes(tmp_path):
    """`restart_selection=agreement`: every restart's mean Spearman MCC with the others' codes
    of the training inputs is recorded, the highest is kept and reported; it works for a
    method without a single objective too."""
    import numpy as np

    cfg = test_config.get_config()
    cfg.train.num_steps = 30
    cfg.train.restarts = 3
    cfg.train.restart_selection = "agreement"
    results = train.train_and_evaluate(cfg, str(tmp_path))
    rs = results["restarts"]
    a = np.array([r["agreement"] for r in rs])
    assert np.all((a > 0) & (a <= 1))
    assert results["restart_kept"] == int(np.argmax(a))
    assert results["restart_selection"] == "agreement"
    assert results["restart_agreement"]["restarts"] == [0, 1, 2]  # every code finite
    pairwise = np.array(results["restart_agreement"]["pairwise"])
    np.testing.assert_allclose(pairwise, pairwise.T)
    np.testing.assert_allclose((pairwise.sum(1) - 1) / 2, a, atol=1e-9)
    kept = rs[results["restart_kept"]]
    assert results["mcc_pearson"] == pytest.approx(kept["mcc_pearson"], abs=1e-9)


def test_select_restart_rules():
    rs = [
        {"restart": 0, "selection_loss": 2.0, "agreement": 0.5},
        {"restart": 1, "selection_loss": float("inf"), "agreement": float("nan")},
        {"restart": 2, "selection_loss": 1.0, "agreement": 0.9},
        {"restart": 3, "selection_loss": 1.0, "agreement": 0.9},
    ]
    assert train.select_restart(rs, "objective") == 2  # ties: the lowest index
    assert train.select_restart(rs, "agreement") == 2
    nan_first = [dict(rs[1], restart=0), dict(rs[0], restart=1)]
    assert train.select_restart(nan_first, "agreement") == 1  # NaN never kept over a number
    with pytest.raises(ValueError, match="restart selection must be one of"):
        train.select_restart(rs, "best")


def test_restarts_table(tmp_path):
    from experiments.synthetic import restarts

    runs = {  # (selection loss, MCC) per restart
        "a": [(1.0, 0.7), (0.5, 0.9), (2.0, 0.6)],  # ranking right: keeps the best
        "b": [(0.2, 0.6), (0.4, 0.8), (0.3, 0.7)],  # ranking inverted: keeps the worst
    }
    for name, rs in runs.items():
        wd = tmp_path / name
        wd.mkdir()
        r = {
            "restarts": [
                {"restart": i, "selection_loss": lo, "mcc_pearson": m}
                for i, (lo, m) in enumerate(rs)
            ]
        }
        (wd / "results.json").write_text(json.dumps(r))
    (tmp_path / "c").mkdir()  # unfinished: skipped
    rows = restarts.load([str(tmp_path / "*")])
    assert [os.path.basename(r["workdir"]) for r in rows] == ["a", "b"]
    text = restarts.table(rows)
    assert "| 3 | 1 | 90.0 | 70.0 | 90.0 | -1.00 |" in text
    assert "| 3 | 0 | 60.0 | 60.0 | 80.0 | +1.00 |" in text
    assert "Kept minus restart 0: +10.0 points (higher on 1, lower on 0 of 2 runs)" in text
    assert "is 10.0 points above the kept one" in text
    assert "agreement" not in text  # runs made before agreements were recorded
    for name, agreements in {"a": [0.8, 0.9, 0.7], "b": [0.9, 0.8, 0.7]}.items():
        path = tmp_path / name / "results.json"
        r = json.loads(path.read_text())
        for x, ag in zip(r["restarts"], agreements):
            x["agreement"] = ag
        path.write_text(json.dumps(r))
    text = restarts.table(restarts.load([str(tmp_path / "*")]))
    assert "| 3 | 1 | 90.0 | 70.0 | 90.0 | -1.00 | 1 | 90.0 | +1.00 | - |" in text
    assert "| 3 | 0 | 60.0 | 60.0 | 80.0 | +1.00 | 0 | 60.0 | -0.50 | - |" in text
    assert "Kept by agreement minus restart 0: +10.0 points (higher on 1, lower on 0)" in text


def test_restarts_reference_table_compares_codes_of_the_same_seed(tmp_path):
    import numpy as np

    from experiments.synthetic import restarts

    rng = np.random.default_rng(0)
    s = rng.uniform(-1, 1, (300, 2))
    codes = {  # (workdir, seed): code
        ("run/seed_1", 1): np.stack([np.exp(s[:, 1]), s[:, 0] ** 3], 1),  # warp of the ref
        ("run/seed_2", 2): s @ np.array([[0.8, -0.6], [0.6, 0.8]]),  # rotated away
        ("ref/seed_1", 1): s,
        ("ref/seed_2", 2): s,
    }
    rows = []
    for (wd, seed), z in codes.items():
        (tmp_path / wd).mkdir(parents=True)
        np.savez(tmp_path / wd / "codes.npz", z=z)
        rows.append({"workdir": str(tmp_path / wd), "seed": seed, "mcc_pearson": 0.9})
    text = restarts.reference_table(rows, rows[2:])  # the references themselves: skipped
    assert "| 1 | 90.0 | 90.0 | 1.000 |" in text
    assert "| 2 | 90.0 | 90.0 | 0.8" in text
    assert "(>= 0.95 on 1) |" in text and text.count("ref/seed_") == 0
    with pytest.raises(ValueError, match="no run has a reference run of the same seed"):
        restarts.reference_table(rows[:1], rows[3:])


def test_restarts_paired_table_pairs_kept_restarts_of_two_methods_by_rule():
    import numpy as np

    from experiments.synthetic import restarts

    def run(method, seed, losses, agreements, mccs):
        return {
            "method": method,
            "seed": seed,
            "restarts": [
                {"restart": i, "selection_loss": lo, "agreement": ag, "mcc_pearson": m}
                for i, (lo, ag, m) in enumerate(zip(losses, agreements, mccs))
            ],
        }

    rows = [  # a keeps 0.9 by objective and 0.7 by agreement; b keeps 0.8 by both
        run("a", s, [0.1, 0.2], [0.5, 0.6], [0.9, 0.7]) for s in (1, 2, 3)
    ] + [run("b", s, [0.2, 0.1], [0.5, 0.6], [0.6, 0.8]) for s in (1, 2, 3, 4)]
    assert restarts.kept_mcc(rows[0], "objective") == 0.9
    text = restarts.paired_table(rows, [("a", "b")])
    assert "| a - b | objective | +10.0 [+10.0, +10.0] | 3/3 |" in text
    assert "| a - b | agreement | -10.0 [-10.0, -10.0] | 0/3 |" in text
    with pytest.raises(ValueError, match=r"no runs of \['c'\]"):
        restarts.paired_table(rows, [("a", "c")])
    assert np.isfinite(restarts.kept_mcc(rows[-1], "agreement"))


@pytest.mark.parametrize(
    "arg, text",
    [
        ("--methods=nosuch", "unknown method(s) ['nosuch']"),
        ("--set=train.nosuch=1", "unknown config field 'train.nosuch'"),
        ("--seeds=a", "--seeds must be integers"),
    ],
)
def test_sweep_user_errors_are_one_line(tmp_path, arg, text):
    out = subprocess.run(
        [sys.executable, "-m", "experiments.synthetic.sweep", f"--workdir={tmp_path}", arg],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith("error:") and text in lines[0]

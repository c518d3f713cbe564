"""find_cliffs CLI: planted cliffs in a synthetic CSV, a real bundled table, bad input."""

import csv
import json
import os

import numpy as np
import pytest
import sklearn.datasets

from experiments.find_cliffs.__main__ import main


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def test_synthetic_cliff_recovered_and_nan_rows_counted(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(1, 10, 1500), rng.uniform(10, 100, 300)])  # cliff at 10
    b = rng.uniform(0, 1, a.size)
    rows = [[f"{x:.6g}", f"{y:.6g}", "q"] for x, y in zip(a, b)]
    rows[:7] = [["", "0.5", "q"]] * 3 + [["nan", "0.1", "q"]] * 4
    path = _write(tmp_path / "t.csv", ["a", "b", "label"], rows)
    out = tmp_path / "out"
    res = main([f"--csv={path}", "--columns=a,b", "--log=a", f"--out={out}"])
    assert res["rows_dropped_nan"] == 7
    # log10 density: flat-ish, dropping by 10x (per unit of log10) at a = 10
    np.testing.assert_allclose(res["cliffs"]["a"]["thresholds"], [10.0], rtol=0.03)
    assert res["cliffs"]["b"]["thresholds"] == []
    # the uncertainty in the column's units: 10**(t -/+ u) around the threshold
    (t,), (u,) = (
        res["cliffs"]["a"]["thresholds_in_fit_units"],
        res["cliffs"]["a"]["uncertainty_in_fit_units"],
    )
    assert u > 0
    np.testing.assert_allclose(res["cliffs"]["a"]["interval"], [[10 ** (t - u), 10 ** (t + u)]])
    printed = capsys.readouterr().out
    assert f"log10 a: 1 cliffs: {10**t:.4g} ({10 ** (t - u):.4g} to {10 ** (t + u):.4g})" in printed
    assert os.path.getsize(out / "cliffs.png") > 0
    assert json.loads((out / "cliffs.json").read_text())["columns"] == ["a", "b"]


def test_real_bundled_table_runs(tmp_path):
    # scikit-learn's bundled breast-cancer table (569 rows), written with its feature names.
    d = sklearn.datasets.load_breast_cancer()
    path = _write(tmp_path / "bc.csv", list(d.feature_names), d.data.tolist())
    res = main(
        [
            f"--csv={path}",
            "--columns=mean radius,mean texture",
            "--log=mean radius",
            f"--out={tmp_path / 'o'}",
        ]
    )
    assert res["rows_used"] == 569 and res["verdict"]["holds"] in (True, False, None)
    for c in res["cliffs"].values():
        lo, hi = c["support"]
        assert all(lo < t < hi for t in c["thresholds"])


@pytest.mark.parametrize(
    "rows, args, match",
    [
        ([["1", "2"]] * 300, ["--columns=a,zz"], "not in"),
        ([["1", "x"]] + [["1", "2"]] * 300, ["--columns=a,b"], "not a number"),
        ([["1", "2"]] * 300, ["--columns=a,b"], "constant"),
        ([[str(i), str(i % 7)] for i in range(50)], ["--columns=a,b"], "usable rows"),
        ([[str(-i), str(i % 7)] for i in range(300)], ["--columns=a,b", "--log=a"], "<= 0"),
        ([[str(i), str(i % 7)] for i in range(300)], ["--columns=a", "--log=b"], "not among"),
    ],
    ids=["missing", "non-numeric", "constant", "few-rows", "log-negative", "log-unknown"],
)
def test_bad_input_is_one_line(tmp_path, capsys, rows, args, match):
    path = _write(tmp_path / "bad.csv", ["a", "b"], rows)
    with pytest.raises(SystemExit) as e:
        main([f"--csv={path}", f"--out={tmp_path / 'o'}", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and match in err


def _cliff_table(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    a = np.concatenate([rng.uniform(0, 1, n), rng.uniform(1, 1.5, n // 6)])  # cliff at 1
    b = rng.uniform(0, 1, a.size)
    return [[f"{x:.6f}", f"{y:.6f}"] for x, y in zip(a, b)]


@pytest.mark.parametrize("delimiter, bom", [("\t", False), (";", False), (",", True)])
def test_tab_semicolon_and_excel_bom_files_are_read(tmp_path, delimiter, bom):
    path = tmp_path / "t.csv"
    text = delimiter.join(["a", "b"]) + "\n"
    text += "\n".join(delimiter.join(r) for r in _cliff_table()) + "\n"
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    res = main([f"--csv={path}", "--columns=a,b", f"--out={tmp_path / 'o'}"])
    np.testing.assert_allclose(res["cliffs"]["a"]["thresholds"], [1.0], atol=0.02)


def _error_of(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    return err


def test_more_bad_input_is_one_line(tmp_path, capsys):
    good = _write(tmp_path / "g.csv", ["a", "b"], _cliff_table())
    out = f"--out={tmp_path / 'o'}"
    # the same column twice (was accepted, one copy log-transformed and labelled wrongly)
    assert "more than once" in _error_of(capsys, [f"--csv={good}", "--columns=a,a", out])
    # a header naming a column twice
    dup = _write(tmp_path / "d.csv", ["a", "a"], _cliff_table())
    assert "rename" in _error_of(capsys, [f"--csv={dup}", "--columns=a", out])
    # no header row
    nohead = _write(tmp_path / "n.csv", ["0.5", "0.25"], _cliff_table())
    assert "header" in _error_of(capsys, [f"--csv={nohead}", "--columns=a", out])
    # not UTF-8 (Latin-1)
    lat = tmp_path / "l.csv"
    lat.write_bytes(b"a,b\n" + "\n".join(f"{i},caf\xe9" for i in range(300)).encode("latin-1"))
    assert "UTF-8" in _error_of(capsys, [f"--csv={lat}", "--columns=a", out])
    # --out is an existing file: refused before the analysis runs
    f = tmp_path / "file"
    f.write_text("x")
    assert "is a file" in _error_of(capsys, [f"--csv={good}", "--columns=a,b", f"--out={f}"])
    # values that overflow the statistics
    huge = _write(tmp_path / "h.csv", ["a", "b"], [[f"{1e160 * (1 + i)}", "1"] for i in range(300)])
    assert "rescale" in _error_of(capsys, [f"--csv={huge}", "--columns=a", out])


def test_power_table_finds_a_clear_step_and_nothing_on_a_flat_column(tmp_path):
    """`experiments.find_cliffs.power` on a 5:1 step at n = 3000 (two draws) and the flat
    column of the same size: the step is found where the flat column gets nothing."""
    from experiments.find_cliffs import power

    out = tmp_path / "power"
    power.main(["--ratios=5", "--sizes=3000", "--draws=0-1", "--jobs=1", f"--out={out}"])
    res = json.load(open(f"{out}.json"))["results"]
    assert sum(o["exact"] for o in res["5/3000"]) >= 1
    assert all(o["cliffs"] == 0 for o in res["1/3000"])
    assert "| 1 (flat) | 0/2 false |" in open(f"{out}.md").read()
    col = power.step_column(3.0, 4000, 0)
    # the sample follows the planted density: 3 / 3.6 of the rows left of the cliff
    assert abs(np.mean(col < 1.0) - 3.0 / 3.6) < 0.02 and col.min() >= 0 and col.max() < 1.6


@pytest.mark.parametrize(
    "args, match",
    [
        (["--ratios=0.5"], "--ratios must be density ratios >= 1"),
        (["--sizes=100"], "--sizes must be >= 200"),
        (["--options=[1]"], "--options must be a JSON object"),
        (['--options={"bogus": 1}'], "recover_grid rejected --options"),
    ],
)
def test_power_bad_flags_are_one_line(tmp_path, capsys, args, match):
    from experiments.find_cliffs import power

    with pytest.raises(SystemExit) as e:
        power.main([*args, f"--out={tmp_path / 'p'}"])
    assert match in str(e.value) and "\n" not in str(e.value)

"""Smoke tests of the linear reference script (tiny data) and of its flag errors."""

import json

import pytest

from experiments.axis_alignment import codes, linear


def test_linear_writes_tables_with_restart_diagnostics(tmp_path):
    out = str(tmp_path / "lin")
    linear.main(
        [
            "--seeds=3",
            "--num_samples=600",
            "--steps=4",
            "--batch_size=200",
            "--restarts=2",
            "--schedule=cosine",
            "--select=heldout",
            "--select_size=300",
            "--hfs_steps=2",
            "--hfs_batch=64",
            "--supports=non-factorized",
            f"--out={out}",
        ]
    )
    with open(out + ".json") as f:
        row = json.load(f)["rows"]["non-factorized"][0]
    assert len(row["restarts"]) == 2 and 0.0 <= row["axis_alignment"] <= 1.0
    # the restart kept is the one with the lowest fixed-batch criterion
    best = min(row["restarts"], key=lambda r: r["loss"])
    assert row["axis_alignment"] == pytest.approx(best["mcc"])
    with open(out + ".md") as f:
        text = f.read()
    assert "commit" in text and "--select=heldout" in text and "| non-factorized |" in text


@pytest.mark.parametrize(
    "flag,match",
    [
        ("--supports=both", "--supports must list"),
        ("--select=heldout", "--select_size must be"),
        ("--batch_size=1", "--batch_size must be"),
    ],
)
def test_bad_flags_are_one_line_errors(flag, match):
    with pytest.raises(SystemExit, match=match):
        linear.main(["--num_samples=600", "--batch_size=200", flag])


def test_codes_diagnostics_separate_an_injective_code_from_a_fold():
    import numpy as np

    rng = np.random.default_rng(0)
    s = rng.uniform(-1, 1, (2000, 2))
    good = codes.diagnostics(s @ np.array([[2.0, 0.0], [0.0, 1.0]]), s)
    folded = codes.diagnostics(np.abs(s), s)  # |s|: two points of s share every code
    assert good["knn_r2"] > 0.98 and folded["knn_r2"] < 0.5
    assert good["std_ratio"] == pytest.approx(2.0, rel=0.1) and good["abs_corr"] < 0.1

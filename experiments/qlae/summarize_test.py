"""The summary table: mean ± std over seeds and the paired difference to the first group."""

import json

import pytest

from experiments.qlae import summarize


def _write(root, group, seed, value):
    d = root / group / f"seed_{seed}"
    d.mkdir(parents=True)
    r = {m: value for m in summarize.METRICS}
    r["seed"] = seed
    (d / "results.json").write_text(json.dumps(r))


def test_mean_std_and_paired_delta(tmp_path):
    for s, v in [(0, 1.0), (1, 3.0)]:
        _write(tmp_path, "a_float32", s, v)
        _write(tmp_path, "b_bf16", s, v + 0.5 * (s + 1))  # deltas 0.5, 1.0 -> mean +0.75
    runs = summarize.collect(str(tmp_path))
    assert list(runs) == ["a_float32", "b_bf16"]
    text = summarize.table(runs)
    assert "| a_float32 | 0,1 | 2.000 ± 1.414 |" in text  # mean 2, sample std sqrt(2)
    assert "2.750 ± 1.768 (Δ +0.750)" in text  # values 1.5, 4.0


def test_empty_root_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        summarize.main([f"--root={tmp_path}"])
    assert str(e.value).startswith("error: no ") and "\n" not in str(e.value)


def test_seed_filter(tmp_path):
    for s in (0, 1, 2):
        _write(tmp_path, "ae", s, float(s))
    runs = summarize.collect(str(tmp_path), {1, 2})
    assert sorted(runs["ae"]) == [1, 2]
    with pytest.raises(SystemExit, match="--seeds"):
        summarize.main([f"--root={tmp_path}", "--seeds=1,x"])

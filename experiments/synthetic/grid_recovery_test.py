"""Tests of the grid-recovery table's oracles and CLI (no training)."""

import json

import numpy as np
import pytest
import scipy.stats

from experiments.synthetic import grid_recovery
from qdjax import data, metrics


def _density(probs, edges):
    return data.GridDensity(
        edges=tuple(np.asarray(e, float) for e in edges), probs=np.asarray(probs)
    )


def test_oracle_evidence_closed_form():
    # 2 x 2 grid, widths 1 and 1 on axis 0: p0 = 1/2; slabs = the two cells of axis 1.
    probs = np.array([[0.1, 0.3], [0.4, 0.2]])
    g = _density(probs, [[0, 1, 2], [0, 1, 3]])
    (lam0, s0), (lam1, s1) = grid_recovery.oracle_evidence(g, 1000)
    # axis 0, slab j: m_L = n p[0, j], m_R = n p[1, j], N = m_L + m_R, p0 = 1/2
    want = sum(
        (1000 * probs[0, j] - 1000 * (probs[0, j] + probs[1, j]) / 2) ** 2
        / (1000 * (probs[0, j] + probs[1, j]) / 4)
        for j in range(2)
    )
    np.testing.assert_allclose(lam0, [want])
    assert s0.tolist() == [2] and s1.tolist() == [2]
    # axis 1: widths 1 and 2, p0 = 1/3
    want1 = sum(
        (1000 * probs[i, 0] - 1000 * probs[i].sum() / 3) ** 2 / (1000 * probs[i].sum() * 2 / 9)
        for i in range(2)
    )
    np.testing.assert_allclose(lam1, [want1])
    # an emptied slab drops out of the count of slabs
    probs_empty = np.array([[0.0, 0.5], [0.0, 0.5]])
    (_, s0e), _ = grid_recovery.oracle_evidence(_density(probs_empty, [[0, 1, 2], [0, 1, 3]]), 10)
    assert s0e.tolist() == [1]


def test_oracle_threshold_gives_power_one_half():
    # Monte Carlo: chi2(S) with noncentrality lambda* exceeds the level-1e-3 critical value half
    # the time (independent of the brentq root finding inside).
    rng = np.random.default_rng(0)
    for s in (1, 4):
        lam = grid_recovery.oracle_threshold(s)
        crit = scipy.stats.chi2.isf(grid_recovery.ORACLE_ALPHA, s)
        draws = rng.noncentral_chisquare(s, lam, size=40_000)
        assert abs(np.mean(draws > crit) - 0.5) < 0.01
    assert grid_recovery.oracle_threshold(4) > grid_recovery.oracle_threshold(1)


def test_placement_oracle_recovers_positions_and_improves_with_n():
    # a planted 3 x 3 grid with strong jumps: the ML positions land within the data gaps
    probs = np.array([[0.20, 0.02, 0.10], [0.02, 0.30, 0.03], [0.10, 0.03, 0.20]])
    g = _density(probs / probs.sum(), [[-2, -0.5, 0.5, 2], [-1.5, 0.0, 0.7, 1.5]])
    accs = []
    for n in (2000, 20000):
        z, cells = g.sample(n, np.random.default_rng(n))
        pred = grid_recovery.placement_oracle(z, cells, g.edges)
        accs.append(metrics.quantized_cell_accuracy(pred, cells).accuracy)
    assert accs[0] >= 0.99 and accs[1] >= 0.998
    # weak jumps (the two sides of every cliff nearly equal in every slab) cost accuracy:
    # the position is barely identified, as the module docstring says
    flat = np.full((3, 3), 1 / 9) + np.random.default_rng(1).uniform(-0.004, 0.004, (3, 3))
    g = _density(flat / flat.sum(), [[-2, -0.5, 0.5, 2], [-1.5, 0.0, 0.7, 1.5]])
    z, cells = g.sample(2000, np.random.default_rng(2))
    pred = grid_recovery.placement_oracle(z, cells, g.edges)
    assert metrics.quantized_cell_accuracy(pred, cells).accuracy < accs[0]


def test_cli_writes_table_with_placement_oracle(tmp_path):
    out = str(tmp_path / "table")
    grid_recovery.main(["--seeds=4", "--num_samples=3000", "--no_old", f"--out={out}"])
    text = open(out + ".md").read()
    assert grid_recovery.PLACEMENT_ORACLE in text and "warp exp(z/2)" in text
    res = json.load(open(out + ".json"))
    rows = res["groups"]["evaluation"]["rows"]
    oracle_acc = rows[grid_recovery.PLACEMENT_ORACLE][0][0]
    assert oracle_acc >= 0.98 and rows["truth"][0][0] >= 0.98


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--seeds=a-b"], "--seeds"),
        (["--options=[1]"], "--options"),
        (["--seeds=1", '--options={"nope": 1}', "--no_old", "--num_samples=500"], "--options"),
        (["--smooth_draws=x-y"], "--smooth_draws"),
        (["--max_smooth_false=-1"], "--max_smooth_false"),
        (["--max_cliff_extras=-1"], "--max_cliff_extras"),
    ],
)
def test_cli_bad_flags_one_line(argv, match, tmp_path):
    with pytest.raises(SystemExit) as e:
        grid_recovery.main([*argv, f"--out={tmp_path / 't'}"])
    assert match in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "module", ["grid_recovery", "finite_samples", "large_samples", "partial_grids"], ids=lambda m: m
)
@pytest.mark.parametrize("where", ["missing_dir", "a_directory"])
def test_unwritable_out_is_one_line_before_any_work(tmp_path, capsys, module, where):
    """A typo in --out used to surface as a traceback after minutes of compute."""
    import importlib

    main = importlib.import_module(f"experiments.synthetic.{module}").main
    out = tmp_path / "nope" / "x" if where == "missing_dir" else tmp_path
    with pytest.raises(SystemExit) as e:
        main([f"--out={out}"])  # would run its whole default sweep if the check let it through
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --out=") and "\n" not in err
    assert ("does not exist" if where == "missing_dir" else "is a directory") in err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--settings=d4k9"], "--settings"),
        (["--settings="], "--settings"),
        (["--grid_seeds=x"], "--grid_seeds"),
        (["--mixed_seeds=1-"], "--mixed_seeds"),
        (["--jobs=0"], "--jobs"),
        (["--num_samples=50"], "--num_samples"),
    ],
)
def test_partial_grids_bad_flags_one_line(argv, match, tmp_path):
    from experiments.synthetic import partial_grids

    with pytest.raises(SystemExit) as e:
        partial_grids.main([*argv, f"--out={tmp_path / 't'}"])
    assert match in str(e.value) and "\n" not in str(e.value)


def test_partial_grids_writes_every_variant(tmp_path, monkeypatch):
    """One small run end to end: every variant in the table, false cliffs counted per kind
    (two of the variants, to keep the suite short: each adds a full run)."""
    import json

    from experiments.synthetic import partial_grids

    two = dict(list(partial_grids.VARIANTS.items())[:2])
    monkeypatch.setattr(partial_grids, "VARIANTS", two)

    out = tmp_path / "pg"
    partial_grids.main(
        ["--settings=d3k4", "--grid_seeds=0", "--mixed_seeds=0", "--jobs=1", f"--out={out}"]
    )
    text = (tmp_path / "pg.md").read_text()
    assert all(f"| d3k4 | {name} |" in text for name in partial_grids.VARIANTS)
    rec = json.loads((tmp_path / "pg.json").read_text())
    assert rec["provenance"].startswith("commit ")
    for kind in partial_grids.MIXED:  # one draw each: no cliff on the smooth axis
        assert [r["false_cliffs"] for r in rec["results"][f"defaults/{kind}"]] == [0]
    assert rec["results"]["defaults/d3k4"][0]["cell_accuracy"] >= 0.99


def test_smooth_densities_at_other_sizes():
    """The smooth set at 600 rows (each draw's first rows): still no interior cliff on the
    constrained densities."""
    few = grid_recovery.smooth_false_cliffs({}, draws=[7], num_samples=600)
    assert set(few) == set(grid_recovery.SMOOTH)
    assert sum(v for k, v in few.items() if "stress" not in k) == 0


def test_planted_cliff_set_counts_misses_and_extras(monkeypatch):
    """`planted_cliff_1d` on two densities: the planted cut is a real 3:1 step, found; a
    forced second cliff (num_cells=3) is counted as extra."""
    monkeypatch.setattr(
        grid_recovery,
        "SMOOTH_1D",
        {k: grid_recovery.SMOOTH_1D[k] for k in ("normal", "uniform")},
    )
    x, cut = grid_recovery.planted_cliff_sample("normal", 0, num_samples=4000)
    assert x.shape == (4000,)
    # left of the cut the density is a third of the right's: the mass there is 1/4
    assert abs(np.mean(x < cut) - 0.25) < 0.02
    clean = grid_recovery.planted_cliff_1d({}, [0], num_samples=4000)
    assert clean == {"missed": [], "extra": []}
    forced = grid_recovery.planted_cliff_1d({"num_cells": 3}, [0], num_samples=4000)
    assert forced["missed"] == [] and len(forced["extra"]) == 2

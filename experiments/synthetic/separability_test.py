"""Tests of the separability diagnostic: planted codes whose cell boundaries are axis-aligned,
rotated (straight but oblique) or bent (curved)."""

import json
import os

import numpy as np
import pytest

from experiments.synthetic import protocol, separability
from qdjax import data
from qdjax.identifiability import RECOVER_GRID_VERSION


def _grid(seed=0, n=4000, logit_scale=1.0):
    g = data.make_grid_density(
        np.random.default_rng(seed), num_dims=2, cells_per_dim=3, logit_scale=logit_scale
    )
    s, cells = g.sample(n, np.random.default_rng(seed + 1))
    return s.astype(np.float64), cells


def test_boundaries_separate_what_axis_alignment_cannot():
    s, cells = _grid()
    # The true latents: every kind of boundary gets (almost) every cell.
    for degree in (1, 2):
        assert separability.boundary_cell_accuracy(s, cells, degree=degree) > 0.97
    # A 30 degree rotation: straight oblique cliffs; axis-aligned thresholds fail, lines do not.
    a = np.deg2rad(30)
    rot = s @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    assert protocol.oracle_cell_accuracy(rot, s, cells) < 0.8
    assert separability.boundary_cell_accuracy(rot, cells, degree=1) > 0.97
    # A bend (z0 + 0.3 z1^2, z1): curved cliffs of axis 0; a conic follows them, a line cannot.
    bent = np.stack([s[:, 0] + 0.3 * s[:, 1] ** 2, s[:, 1]], axis=1)
    lin = separability.boundary_cell_accuracy(bent, cells, degree=1)
    quad = separability.boundary_cell_accuracy(bent, cells, degree=2)
    assert quad > 0.97 and quad > lin + 0.05
    # Invariances: permuting and reversing code axes changes nothing (features are symmetric).
    assert separability.boundary_cell_accuracy(-bent[:, ::-1], cells, degree=2) == pytest.approx(
        quad, abs=0.01
    )


def test_no_information_gives_chance():
    noise = np.random.default_rng(0).standard_normal((4000, 2))
    for seed, logit_scale in ((3, 1.0), (4, 0.0)):
        _, cells = _grid(seed=seed, logit_scale=logit_scale)
        # Independent of the cells: about what always naming the largest cell gets.
        acc = separability.boundary_cell_accuracy(noise, cells, degree=2)
        assert acc <= separability.majority_share(cells) + 0.02
    assert acc < 0.3  # equal cell probabilities: chance is about 1/9


def test_bad_input():
    s, cells = _grid()
    with pytest.raises(ValueError, match="equal n"):
        separability.boundary_cell_accuracy(s[:10], cells, degree=1)
    with pytest.raises(ValueError, match="degree"):
        separability.boundary_cell_accuracy(s, cells, degree=0)


def test_table_reads_protocol_runs(tmp_path):
    s, cells = _grid(n=1500)
    for method, z in (("planted", s), ("rotated", s @ np.array([[0.8, -0.6], [0.6, 0.8]]))):
        for seed in (100, 101):
            wd = tmp_path / "eval" / "2d" / method / f"seed_{seed}"
            os.makedirs(wd)
            np.savez(wd / "codes.npz", z=z, s=s, cells=cells)
            with open(wd / "cells.json", "w") as f:  # the protocol's cache (cells of the run)
                json.dump(
                    {
                        "cell_accuracy_grid": 0.5,
                        "cell_accuracy_oracle": 0.75,
                        "recover_grid_version": RECOVER_GRID_VERSION,
                    },
                    f,
                )
    text = separability.table([str(tmp_path)])
    rows = {line.split("|")[2].strip(): line for line in text.splitlines()[2:]}
    assert set(rows) == {f"planted ({tmp_path.name})", f"rotated ({tmp_path.name})"}
    assert "| 2 |" in rows[f"planted ({tmp_path.name})"]
    with pytest.raises(ValueError, match="no finished"):
        separability.table([str(tmp_path / "missing")])

"""Cliff variants and the criterion-consistency check (truth vs rotations, collapse, warps)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from experiments.synthetic import consistency
from qdjax import data, losses
from qdjax.losses import _cliff_variants as cv


def _steps_and_rotation(n=4096, degrees=30.0):
    """A product of step densities (cliffs at 1 on both axes, 70/30) and its rotation matrix."""
    rng = np.random.default_rng(0)
    z = np.where(rng.random((n, 2)) < 0.7, rng.uniform(0, 1, (n, 2)), rng.uniform(1, 2, (n, 2)))
    th = np.deg2rad(degrees)
    return z, np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])


def _uniform(n, d, seed=0):
    return jax.random.uniform(jax.random.key(seed), (n, d), minval=-1.0, maxval=1.0)


def test_variant_defaults_equal_cliff_loss():
    z = _uniform(256, 3)
    ref = jax.jit(losses.cliff_loss)(z)
    got = jax.jit(cv.cliff_loss_variant)(z)
    for a, b in zip(ref, got):  # same formulas, same float32 ops up to summation order
        np.testing.assert_allclose(float(a), float(b), rtol=1e-5, atol=1e-6)


def test_conditional_univariate_sees_cliffs_that_rotation_hides_from_marginals():
    # A product of step densities (cliffs at 1 on both axes), and the same sample rotated by
    # 30 degrees. Rotation smears the marginal cliffs (marginal entropy up by ~0.6 nats) but
    # each conditional slice still has a sharp, shifted cliff (conditional entropy up by
    # < 0.1); the shift is what the bivariate JSD measures (up ~4x). Measured values:
    # marginal 3.19 -> 3.82, conditional 3.36 -> 3.42, JSD 0.10 -> 0.45.
    z, rot = _steps_and_rotation(4096)
    marg = jax.jit(lambda z: cv.cliff_loss_variant(z, bandwidth=0.15))
    cond = jax.jit(lambda z: cv.cliff_loss_variant(z, bandwidth=0.15, univariate="conditional"))
    a, r = jnp.asarray(z, jnp.float32), jnp.asarray(z @ rot.T, jnp.float32)
    assert float(marg(r).univariate) - float(marg(a).univariate) > 0.4
    assert abs(float(cond(r).univariate) - float(cond(a).univariate)) < 0.15
    assert float(cond(r).univariate) < float(marg(r).univariate) - 0.2
    assert float(cond(r).bivariate) > 3 * float(cond(a).bivariate)


def test_gap_hinge_zero_on_uniform_positive_on_hole():
    z = jnp.linspace(-1.0, 1.0, 2048)[:, None]
    assert float(cv.cliff_loss_variant(z, bandwidth=0.1, anti_collapse="gap").uniform) == 0.0
    # Two clusters at the ends: the middle third of the standardized support is empty.
    holes = jnp.concatenate([jnp.linspace(-1.0, -0.6, 1024), jnp.linspace(0.6, 1.0, 1024)])
    gap = cv.cliff_loss_variant(holes[:, None], bandwidth=0.1, anti_collapse="gap").uniform
    assert float(gap) > 1.0


def test_variant_finite_gradients_float64():
    with jax.enable_x64(True):
        z = jax.random.normal(jax.random.key(1), (48, 2), jnp.float64)

        def fn(z):
            return cv.cliff_loss_variant(
                z, univariate="conditional", anti_collapse="gap", grid_size=24
            ).total

        check_grads(fn, (z,), order=1, modes=("rev",), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"univariate": "x"}, "univariate"),
        ({"anti_collapse": "x"}, "anti_collapse"),
        ({"gap_level": 0.0}, "gap_level"),
        ({"bandwidth": -1.0}, "bandwidth"),
    ],
)
def test_variant_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cv.cliff_loss_variant(_uniform(16, 2), **kwargs)


def test_unknown_variant_names_the_choices():
    with pytest.raises(ValueError, match="v1"):
        cv.cliff_variant("nope")


@pytest.fixture(scope="module")
def default_table():
    ds = data.make_synthetic(0, 4000)
    codes = consistency.reference_codes(ds.z, ds.cells, ds.density.edges, seed=0)
    return consistency.evaluate_criterion(
        consistency.criterion("v1"), codes, batch_size=512, num_batches=4, seed=0
    )


def test_default_criterion_ranks_truth_and_warps_above_rotations_and_collapse(default_table):
    # The shipped default (v1, Silverman bandwidth) on the 2-D default data: the truth and its
    # smooth monotone warps score lower than every rotation (5-45 degrees) and both collapses.
    t = default_table
    best = max(t[k]["total"] for k in consistency.TRUTH_FAMILY)
    for name in ("rot5", "rot15", "rot30", "rot45", "collapse0.5", "collapse0.2"):
        assert t[name]["total"] > best, name
    # The bivariate term alone orders the rotations monotonically.
    biv = [t[f"rot{a}"]["bivariate"] for a in (5, 15, 30)]
    assert t["truth"]["bivariate"] < biv[0] < biv[1] < biv[2]


def test_margin_sign():
    table = {"truth": {"total": 1.0}, "warp_a": {"total": 1.1}, "rot5": {"total": 1.3}}
    assert consistency.margin(table) == pytest.approx(0.2)
    table["spike"] = {"total": 0.9}
    assert consistency.margin(table) == pytest.approx(-0.2)


def test_axis_alignment_criterion_weights_by_observations_and_prefers_axis_aligned_cliffs():
    # Product of step densities (cliffs at 1 on both axes) vs the same sample rotated 30°.
    # Seed 000's criterion with alpha from the observations (here a fixed linear image of the
    # sample) scores the truth lower than the rotation, by more than with uniform alpha (cell
    # interiors, where the KDE gradient is noise, then dilute it). Measured: weighted -0.915
    # vs -0.892, uniform -0.905 vs -0.899.
    z, rot = _steps_and_rotation(2048)
    x = jnp.asarray(3.0 * z @ rot.T + 1.0, jnp.float32)
    a, r = jnp.asarray(z, jnp.float32), jnp.asarray(z @ rot.T, jnp.float32)
    weighted = consistency.criterion("axis_alignment")
    uniform = consistency.criterion("axis_alignment_uniform@0.1")
    assert weighted.needs_observations and not uniform.needs_observations
    gap_w = float(weighted(r, x)["total"]) - float(weighted(a, x)["total"])
    gap_u = float(uniform(r)["total"]) - float(uniform(a)["total"])
    assert gap_w > 0.01 and gap_w > gap_u
    with pytest.raises(ValueError, match="observations"):
        consistency.evaluate_criterion(weighted, {"truth": z}, batch_size=256, num_batches=1)
    with pytest.raises(ValueError, match="unknown criterion"):
        consistency.criterion("axis_alignment_x")

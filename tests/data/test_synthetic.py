"""Synthetic grid densities, mixings and the (seed, step)-pure batch source."""

import numpy as np
import pytest

from qdjax import data


def test_samples_follow_cell_probabilities_and_stay_in_their_cells():
    rng = np.random.default_rng(0)
    dens = data.make_grid_density(rng, num_dims=3, cells_per_dim=(2, 3, 4))
    z, cells = dens.sample(60_000, np.random.default_rng(1))
    assert z.dtype == np.float32 and cells.shape == (60_000, 3)
    for i, e in enumerate(dens.edges):
        assert np.all(z[:, i] >= e[cells[:, i]] - 1e-5)
        assert np.all(z[:, i] <= e[cells[:, i] + 1] + 1e-5)
    counts = np.zeros(dens.probs.shape)
    np.add.at(counts, tuple(cells.T), 1)
    expected = dens.probs * len(z)
    # multinomial: |count - n p| < 5 sd for every cell
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected * (1 - dens.probs)) + 1)


def test_widths_are_in_range_and_grid_is_centred():
    dens = data.make_grid_density(
        np.random.default_rng(3), num_dims=2, cells_per_dim=5, width_range=(0.3, 2.5)
    )
    for e in dens.edges:
        w = np.diff(e)
        assert np.all((w >= 0.3) & (w <= 2.5))
        np.testing.assert_allclose(e[0], -e[-1], rtol=1e-12)
    assert [len(t) for t in dens.thresholds] == [4, 4]


def test_emptied_cells_get_no_samples_but_every_slab_keeps_mass():
    dens = data.make_grid_density(
        np.random.default_rng(0), num_dims=2, cells_per_dim=4, empty_fraction=0.4
    )
    assert np.sum(dens.probs == 0) == round(0.4 * 16)
    assert np.all(dens.probs.sum(axis=0) > 0) and np.all(dens.probs.sum(axis=1) > 0)
    _, cells = dens.sample(5000, np.random.default_rng(0))
    assert np.all(dens.probs[tuple(cells.T)] > 0)


def test_log_prob_is_a_normalized_density():
    dens = data.make_grid_density(
        np.random.default_rng(2), num_dims=2, cells_per_dim=3, empty_fraction=0.2
    )
    lo = np.array([e[0] for e in dens.edges])
    hi = np.array([e[-1] for e in dens.edges])
    u = np.random.default_rng(0).uniform(lo - 0.5, hi + 0.5, size=(400_000, 2))
    vol = np.prod(hi - lo + 1.0)
    integral = np.mean(np.exp(dens.log_prob(u))) * vol
    np.testing.assert_allclose(integral, 1.0, atol=0.02)
    assert np.isneginf(dens.log_prob(hi[None] + 1.0))[0]


def test_smoothing_blurs_cliffs_past_the_support():
    dens = data.make_grid_density(np.random.default_rng(0), smoothing=0.2)
    z, _ = dens.sample(20_000, np.random.default_rng(0))
    assert np.any(z[:, 0] < dens.edges[0][0]) and np.any(z[:, 0] > dens.edges[0][-1])


def test_linear_mixing_is_invertible():
    mix = data.make_mixing(np.random.default_rng(0), num_latents=3, obs_dim=5, kind="linear")
    z = np.random.default_rng(1).standard_normal((100, 3))
    x = mix(z)
    z_back, *_ = np.linalg.lstsq(mix.weights[0].T, x.T.astype(np.float64), rcond=None)
    np.testing.assert_allclose(z_back.T, z, atol=1e-4)


def test_mlp_mixing_is_injective_with_full_rank_jacobian():
    mix = data.make_mixing(np.random.default_rng(0), num_latents=2, obs_dim=4, num_layers=3)
    for w in mix.weights:
        np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, rtol=1e-12)
    z = np.random.default_rng(1).standard_normal((200, 2))
    eps = 1e-4
    for k in range(2):
        dz = np.zeros(2)
        dz[k] = eps
        jac_col = (mix(z + dz).astype(np.float64) - mix(z - dz)) / (2 * eps)
        assert np.all(np.linalg.norm(jac_col, axis=1) > 1e-3)
    # the MLP is a bijection on R^D composed with an injective linear map: invert it layer-wise
    h = mix(z).astype(np.float64)
    for i in reversed(range(len(mix.weights))):
        if i < len(mix.weights) - 1:
            h = np.where(h > 0, h, h / mix.negative_slope)
        h = h - mix.biases[i]
        h = np.linalg.lstsq(mix.weights[i].T, h.T, rcond=None)[0].T
    np.testing.assert_allclose(h, z, atol=1e-3)


def test_make_synthetic_is_deterministic_and_standardized():
    a = data.make_synthetic(7, 1000, num_latents=3, obs_dim=6)
    b = data.make_synthetic(7, 1000, num_latents=3, obs_dim=6)
    c = data.make_synthetic(8, 1000, num_latents=3, obs_dim=6)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.allclose(a.x, c.x)
    np.testing.assert_allclose(a.x.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(a.x.std(0), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_dims": 0}, "num_dims"),
        ({"cells_per_dim": 1}, "cells_per_dim"),
        ({"width_range": (0.0, 1.0)}, "width_range"),
        ({"empty_fraction": 1.0}, "empty_fraction"),
    ],
    ids=["dims", "cells", "widths", "empty"],
)
def test_bad_density_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.make_grid_density(np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_make_synthetic_rejects_a_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        data.make_synthetic(seed, 100)


def test_mixing_must_not_reduce_dimension():
    with pytest.raises(ValueError, match="obs_dim"):
        data.make_mixing(np.random.default_rng(0), num_latents=3, obs_dim=2)


def test_array_source_is_pure_in_seed_and_step_and_covers_each_epoch():
    x = np.arange(100, dtype=np.float32)[:, None]
    src = data.ArraySource(x, x, batch_size=10, seed=3)
    again = data.ArraySource(x, x, batch_size=10, seed=3)
    np.testing.assert_array_equal(src.batch(17).x, again.batch(17).x)
    # reading steps out of order gives the same batches
    np.testing.assert_array_equal(
        again.batch(3).x, data.ArraySource(x, x, batch_size=10, seed=3).batch(3).x
    )
    epoch = np.concatenate([src.batch(t).x[:, 0] for t in range(10)])
    np.testing.assert_array_equal(np.sort(epoch), np.arange(100))
    nxt = np.concatenate([src.batch(t).x[:, 0] for t in range(10, 20)])
    assert not np.array_equal(epoch, nxt)
    with pytest.raises(ValueError, match="batch_size"):
        data.ArraySource(x, x, batch_size=101)


def test_mixing_log_det_matches_finite_differences_and_truth_log_prob():
    """`Mixing.log_abs_det_jacobian` against central differences of the map itself, and the
    dataset's exact `log_prob` of x against the change of variables computed by hand."""
    ds = data.make_synthetic(4, 3000)
    s = ds.z[:50].astype(np.float64)
    eps = 1e-4  # the map is piecewise linear: central differences are exact off the kinks
    jac = np.stack(
        [(ds.mixing(s + eps * e) - ds.mixing(s - eps * e)) / (2 * eps) for e in np.eye(2)], axis=2
    )
    # (Mixing returns float32: ~1e-3 relative error in the differences)
    np.testing.assert_allclose(
        ds.mixing.log_abs_det_jacobian(s), np.linalg.slogdet(jac)[1], atol=1e-2
    )
    want = ds.density.log_prob(s) - np.linalg.slogdet(jac)[1] + np.sum(np.log(ds.x_scale))
    np.testing.assert_allclose(ds.log_prob(slice(0, 50)), want, atol=1e-2)
    raw = data.make_synthetic(4, 3000, standardize=False)
    assert raw.x_scale is None
    np.testing.assert_allclose(
        raw.log_prob(slice(0, 50)) + np.sum(np.log(ds.x_scale)), ds.log_prob(slice(0, 50))
    )


def test_smooth_mlp_mixing_has_a_continuous_jacobian_and_the_same_layers():
    """`smooth_mlp` draws the same layers as `mlp` from the same seed; its log-det matches
    central differences, and it is continuous where LeakyReLU's jumps by log(slope)."""
    mlp = data.make_mixing(np.random.default_rng(3), num_latents=2, num_layers=3)
    smooth = data.make_mixing(
        np.random.default_rng(3), num_latents=2, num_layers=3, kind="smooth_mlp"
    )
    for a, b in zip(mlp.weights + mlp.biases, smooth.weights + smooth.biases):
        np.testing.assert_array_equal(a, b)
    assert (mlp.activation, smooth.activation) == ("leaky_relu", "smooth_leaky_relu")
    s = np.random.default_rng(0).uniform(-2, 2, (60, 2))
    eps = 1e-3
    jac = np.stack(
        [(smooth(s + eps * e) - smooth(s - eps * e)) / (2 * eps) for e in np.eye(2)], axis=2
    )
    np.testing.assert_allclose(smooth.log_abs_det_jacobian(s), np.linalg.slogdet(jac)[1], atol=1e-2)
    # walk across the first layer's kink of unit 0 ((s W0 + b0)_0 = 0): a segment through it
    w, b = mlp.weights[0], mlp.biases[0]
    direction = w[:, 0] / np.sum(w[:, 0] ** 2)
    on_kink = -b[0] * direction
    step = 1e-4 * direction / np.linalg.norm(direction)
    pair = np.stack([on_kink - step, on_kink + step])
    jump_mlp = np.abs(np.diff(mlp.log_abs_det_jacobian(pair)))[0]
    jump_smooth = np.abs(np.diff(smooth.log_abs_det_jacobian(pair)))[0]
    assert jump_mlp > 0.5 * abs(np.log(mlp.negative_slope))  # an oblique density cliff
    assert jump_smooth < 1e-3
    with pytest.raises(ValueError, match="smooth_mlp"):
        data.make_mixing(np.random.default_rng(0), num_latents=2, kind="tanh")
    with pytest.raises(ValueError, match="smooth_leaky_relu"):
        data.Mixing(mlp.weights, mlp.biases, 0.2, "tanh")
    # far past every bend the smooth map has LeakyReLU's slopes (1 and a), with no overflow
    far = np.array([[1e4, 1e4], [-1e4, -1e4], [1e4, -1e4]])
    np.testing.assert_allclose(
        smooth.log_abs_det_jacobian(far), mlp.log_abs_det_jacobian(far), atol=1e-6
    )


def test_array_source_refuses_integer_observations():
    # uint8 images were served as floats in 0..255, silently
    with pytest.raises(TypeError, match="x / 255"):
        data.ArraySource(np.zeros((8, 2), np.uint8), np.zeros((8, 1)), batch_size=4)

"""Balls images: rendering geometry, latent supports of every variant, determinism."""

import time

import numpy as np
import pytest

from qdjax.data import _balls as balls

VARIANTS = sorted(balls.VARIANTS)


def _pixel(x, y):
    """(row, col) of the pixel containing unit-square point (x, y), y upwards."""
    return int(np.floor(64 * (1 - y))), int(np.floor(64 * x))


@pytest.mark.parametrize("variant", VARIANTS)
def test_batch_shape_dtype_range_and_factor_bounds(variant):
    src = balls.BallsSource(variant, batch_size=16, seed=1)
    b = src.batch(0)
    assert b.x.shape == (16, 64, 64, 3) and b.x.dtype == np.float32
    assert b.s.shape == (16, src.num_factors) and b.s.dtype == np.float32
    assert np.all((b.x >= 0) & (b.x <= 1))
    assert np.all((b.s >= balls.LOW) & (b.s <= balls.HIGH))
    assert src.num_factors == (2 if variant in ("l_shape", "disconnected") else 4)


def test_antialiasing_ramp_and_y_axis_points_up():
    # Ball centre on the centre of pixel (row 32, col 32); pixel (32, 37) is exactly r = 5 away,
    # so its coverage is clip(5 + 1/2 - 5, 0, 1) = 1/2: half ball colour, half white.
    c = np.array([[[32.5 / 64, 1 - 32.5 / 64]]])
    colour = np.array([[0.2, 0.4, 0.6]])
    img = balls.render_balls(c, radius=5.0, colours=colour)[0]
    np.testing.assert_allclose(img[32, 32], colour[0], rtol=1e-6)
    np.testing.assert_allclose(img[32, 37], 0.5 * colour[0] + 0.5, rtol=1e-6)
    np.testing.assert_array_equal(img[32, 38], 1.0)  # distance 6 > r + 1/2
    # y = 0.8 is in the upper part of the image (small row index).
    img = balls.render_balls(np.array([[[0.5, 0.8]]]), radius=5.0, colours=colour)[0]
    rows = np.nonzero(np.any(img < 1, axis=(1, 2)))[0]
    assert rows.min() >= 12 - 6 and rows.max() <= 13 + 6


@pytest.mark.parametrize("variant", VARIANTS)
def test_ball_centres_have_ball_colours_and_far_pixels_are_white(variant):
    src = balls.BallsSource(variant)
    b = src.sample(64, np.random.default_rng(0))
    centres = src.centres(b.s)
    r = src.radius
    yy, xx = np.mgrid[0:64, 0:64] + 0.5
    for img, c in zip(b.x, centres):
        # The top ball (last drawn) always shows its colour at its centre pixel.
        np.testing.assert_allclose(img[_pixel(*c[1])], balls.PALETTE[1], atol=1e-6)
        # Ball 1 shows its colour unless ball 2 reaches its centre pixel.
        if 64 * np.linalg.norm(c[0] - c[1]) > r + 1.5:
            np.testing.assert_allclose(img[_pixel(*c[0])], balls.PALETTE[0], atol=1e-6)
        dist = [np.hypot(xx - 64 * x, yy - 64 * (1 - y)) for x, y in c]
        far = np.min(dist, axis=0) >= r + 0.5
        assert far.sum() > 1000
        np.testing.assert_array_equal(img[far], 1.0)


@pytest.mark.parametrize("variant", ["iid", "scm", "grid"])
def test_small_ball_variants_leave_corners_white(variant):
    x = balls.BallsSource(variant).sample(256, np.random.default_rng(2)).x
    for r, c in [(0, 0), (0, 63), (63, 0), (63, 63)]:
        np.testing.assert_array_equal(x[:, r, c], 1.0)


def test_batches_are_pure_in_seed_and_step():
    a = balls.BallsSource("grid", batch_size=8, seed=3)
    b = balls.BallsSource("grid", batch_size=8, seed=3)
    np.testing.assert_array_equal(a.batch(5).x, b.batch(5).x)
    np.testing.assert_array_equal(a.batch(5).s, a.batch(5).s)
    assert not np.allclose(a.batch(5).s, a.batch(6).s)
    other = balls.BallsSource("grid", batch_size=8, seed=4)
    assert not np.allclose(a.batch(5).s, other.batch(5).s)
    np.testing.assert_array_equal(a.render(a.batch(2).s), a.batch(2).x)


def _centre_distance_px(src, s):
    c = src.centres(s)
    return 64 * np.linalg.norm(c[:, 0] - c[:, 1], axis=1)


def test_no_overlap_variant_never_overlaps_while_iid_does():
    rng = np.random.default_rng(0)
    src = balls.BallsSource("no_overlap_4d")
    s = src.sample_latents(20_000, rng)
    assert np.all(_centre_distance_px(src, s) >= 2 * src.radius)
    iid = balls.BallsSource("iid", radius=balls.LARGE_RADIUS)
    assert np.mean(_centre_distance_px(iid, iid.sample_latents(20_000, rng)) < 2 * iid.radius) > 0.1


def test_l_shape_support_misses_the_upper_right_square():
    src = balls.BallsSource("l_shape")
    s = src.sample_latents(40_000, np.random.default_rng(0))
    hi1, hi2 = s[:, 0] > 0.5, s[:, 1] > 0.5
    assert not np.any(hi1 & hi2)
    # y1 ~ U[0.1, 0.9]; y2 uniform on [0.1, 0.9] below y1 = 0.5, on [0.1, 0.5] above.
    np.testing.assert_allclose(np.mean(~hi1 & ~hi2), 0.25, atol=0.015)
    np.testing.assert_allclose(np.mean(~hi1 & hi2), 0.25, atol=0.015)
    np.testing.assert_allclose(np.mean(hi1 & ~hi2), 0.5, atol=0.015)
    c = src.centres(s[:3])
    np.testing.assert_allclose(c[:, :, 0], [balls.FIXED_X] * 3)


def test_disconnected_support_has_two_blocks():
    src = balls.BallsSource("disconnected")
    s = src.sample_latents(40_000, np.random.default_rng(0))
    low = (s[:, 1] >= 0.1) & (s[:, 1] <= 0.25)
    high = (s[:, 1] >= 0.75) & (s[:, 1] <= 0.9)
    assert np.all(low | high)
    np.testing.assert_allclose(np.mean(low), 0.5, atol=0.015)
    assert s[:, 0].min() < 0.12 and s[:, 0].max() > 0.88


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_scm_places_ball_two_by_the_structural_equation(kind):
    src = balls.BallsSource("scm", scm=kind, radius=balls.LARGE_RADIUS)
    s = src.sample_latents(20_000, np.random.default_rng(0))
    x1, y1, x2, y2 = s.T
    g = x1 + y1 if kind == "linear" else 1.25 * (x1**2 + y1**2)
    up = g >= 1
    assert np.all((x2[up] <= 0.5) & (y2[up] >= 0.5))
    assert np.all((x2[~up] >= 0.5) & (y2[~up] <= 0.5))
    assert 0.2 < up.mean() < 0.8
    assert np.all(_centre_distance_px(src, s) >= 2 * src.radius)


def test_grid_latents_fall_in_planted_cells_with_planted_frequencies():
    src = balls.BallsSource("grid", cells_per_dim=2, seed=7)
    dens = src.density
    for e, t in zip(dens.edges, src.thresholds):
        np.testing.assert_allclose([e[0], e[-1]], [balls.LOW, balls.HIGH], rtol=1e-6)
        assert len(t) == 1 and np.all((t > balls.LOW) & (t < balls.HIGH))
    n = 3000  # 16 cells, ~190 draws per cell (images: 150 MB)
    batch, cells = src.sample_with_cells(n, np.random.default_rng(0))
    assert cells.shape == (n, 4) and cells.dtype == np.int32
    for i, e in enumerate(dens.edges):
        assert np.all(batch.s[:, i] >= e[cells[:, i]] - 1e-6)
        assert np.all(batch.s[:, i] <= e[cells[:, i] + 1] + 1e-6)
    counts = np.zeros(dens.probs.shape)
    np.add.at(counts, tuple(cells.T), 1)
    expected = dens.probs * n
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected) + 2)
    # The planted frequencies are far from uniform cell frequencies, so this check has power.
    uniform = n / counts.size
    assert np.max(np.abs(counts - uniform) / np.sqrt(uniform)) > 10


def test_render_512_images_is_fast():
    src = balls.BallsSource("iid")
    z = src.sample_latents(512, np.random.default_rng(0))
    src.render(z[:8])
    t0 = time.perf_counter()
    src.render(z)
    assert time.perf_counter() - t0 < 3.0  # ~0.1 s on one core; generous for shared CPUs


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"variant": "circles"}, "variant must be one of"),
        ({"variant": "iid", "radius": -1.0}, "radius must be in"),
        ({"variant": "l_shape", "num_balls": 3}, "needs num_balls=2"),
        ({"variant": "iid", "num_balls": 0}, "num_balls must be in"),
        ({"variant": "iid", "batch_size": 0}, "batch_size must be >= 1"),
        ({"variant": "scm", "scm": "cubic"}, "scm must be 'linear' or 'nonlinear'"),
        ({"variant": "grid", "cells_per_dim": 1}, "cells_per_dim must be >= 2"),
    ],
    ids=["variant", "radius", "l_shape_balls", "num_balls", "batch_size", "scm", "cells"],
)
def test_bad_arguments_raise_one_line_errors(kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        balls.BallsSource(**kwargs)
    assert "\n" not in str(e.value)


def test_cells_and_thresholds_only_for_grid():
    src = balls.BallsSource("iid")
    with pytest.raises(ValueError, match="only for variant='grid'"):
        src.sample_with_cells(4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="only for variant='grid'"):
        _ = src.thresholds
    with pytest.raises(ValueError, match=r"factors must be \[n, 4\]"):
        src.render(np.zeros((2, 3)))


def test_impossible_no_overlap_reports_the_fix():
    src = balls.BallsSource(
        "no_overlap_4d", radius=25.0, num_balls=5
    )  # 5 in a 51 px box: impossible
    with pytest.raises(ValueError, match="smaller radius or fewer balls"):
        src.sample_latents(4, np.random.default_rng(0))

"""The procedural Shapes3D stand-in: factors change the image the way they should."""

import jax
import numpy as np
import pytest

from qdjax.data import _shapes3d_render as r

SIZE = 16  # small buffers keep the ray-marching cheap on CPU


@pytest.fixture(scope="module")
def renderer():
    return r.Shapes3DRenderer(size=SIZE, supersample=1)


def _factors(**kw):
    base = dict(floor_hue=0, wall_hue=3, object_hue=6, scale=4, shape=2, orientation=7)
    base.update(kw)
    return np.array([[base[n] for n in r.SHAPES3D_FACTORS]], np.int32)


def test_table_matches_direct_rendering_and_range(renderer):
    rng = np.random.default_rng(0)
    f = np.stack([rng.integers(0, k, 6) for k in r.SHAPES3D_SIZES], axis=1).astype(np.int32)
    table = np.asarray(renderer.render(f))
    direct = np.asarray(r.render_shapes3d(f, size=SIZE, supersample=1))
    np.testing.assert_allclose(table, direct, atol=1e-5)  # gather+tint == ray-march per image
    assert table.shape == (6, SIZE, SIZE, 3) and table.dtype == np.float32
    assert table.min() >= 0.0 and table.max() <= 1.0
    jitted = jax.jit(renderer.render_from)(renderer.tables, f)
    np.testing.assert_allclose(np.asarray(jitted), table, atol=1e-6)


def test_each_factor_changes_the_image_and_hues_tint_only_their_material(renderer):
    base = np.asarray(renderer.render(_factors()))[0]
    for name, k in zip(r.SHAPES3D_FACTORS, r.SHAPES3D_SIZES, strict=True):
        other = np.asarray(renderer.render(_factors(**{name: k - 1})))[0]
        assert np.abs(other - base).mean() > 1e-3, name
    # the floor hue leaves the top rows (wall) unchanged; the wall hue leaves the bottom rows
    floor = np.asarray(renderer.render(_factors(floor_hue=5)))[0]
    np.testing.assert_allclose(floor[:2], base[:2], atol=1e-6)
    wall = np.asarray(renderer.render(_factors(wall_hue=8)))[0]
    np.testing.assert_allclose(wall[-2:], base[-2:], atol=1e-6)


def test_larger_scale_covers_more_object_pixels(renderer):
    g_small = r.geometry_index(_factors(scale=0))
    g_large = r.geometry_index(_factors(scale=7))
    buf = np.asarray(renderer.buffers)
    assert (buf[g_large, ..., 2] > 0).sum() > 1.3 * (buf[g_small, ..., 2] > 0).sum()


def test_bad_factors_are_rejected():
    with pytest.raises(ValueError, match=r"\[n, 6\]"):
        r.render_shapes3d(np.zeros((2, 5), np.int32), size=SIZE)
    with pytest.raises(ValueError, match="must lie in"):
        r.render_shapes3d(np.full((1, 6), 10, np.int32), size=SIZE)
    with pytest.raises(TypeError, match="integer"):
        r.render_shapes3d(np.zeros((1, 6), np.float32), size=SIZE)

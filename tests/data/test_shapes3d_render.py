"""The procedural Shapes3D stand-in: factors change the image the way they should.

Everything renders at 16x16 with one ray per pixel (the 480-geometry table then costs a few
CPU seconds); the geometry does not depend on the size, only the sampling does.
"""

import jax
import numpy as np
import pytest

from qdjax.data import _device_source as dsrc
from qdjax.data import _shapes3d_render as r

SIZE = 16


@pytest.fixture(scope="module")
def renderer():
    return r.Shapes3DRenderer(size=SIZE, supersample=1)


def _factors(**kw):
    base = dict(floor_hue=0, wall_hue=3, object_hue=6, scale=4, shape=2, orientation=7)
    base.update(kw)
    return np.array([[base[n] for n in r.SHAPES3D_FACTORS]], np.int32)


def test_factor_names_and_sizes_are_shapes3d():
    # Burgess & Kim (2018): 10 x 10 x 10 x 8 x 4 x 15 = 480 000 images, in this order
    assert r.SHAPES3D_FACTORS == (
        "floor_hue",
        "wall_hue",
        "object_hue",
        "scale",
        "shape",
        "orientation",
    )
    assert r.SHAPES3D_SIZES == (10, 10, 10, 8, 4, 15)
    assert r.NUM_GEOMETRIES == 8 * 4 * 15
    # geometry rows enumerate (scale, shape, orientation) row-major, each exactly once
    grid = np.stack(np.unravel_index(np.arange(480), (8, 4, 15)), axis=1)
    f = np.concatenate([np.zeros((480, 3), np.int32), grid.astype(np.int32)], axis=1)
    np.testing.assert_array_equal(np.asarray(r.geometry_index(f)), np.arange(480))


def test_table_matches_direct_rendering_and_range(renderer):
    rng = np.random.default_rng(0)
    f = np.stack([rng.integers(0, k, 4) for k in r.SHAPES3D_SIZES], axis=1).astype(np.int32)
    table = np.asarray(renderer.render(f))
    direct = np.asarray(r.render_shapes3d(f, size=SIZE, supersample=1))
    np.testing.assert_allclose(table, direct, atol=1e-5)  # gather+tint == ray-march per image
    assert table.shape == (4, SIZE, SIZE, 3) and table.dtype == np.float32
    assert table.min() >= 0.0 and table.max() <= 1.0
    assert renderer.buffers.shape == (480, SIZE, SIZE, 4)
    jitted = jax.jit(renderer.render_from)(renderer.tables, f)
    np.testing.assert_allclose(np.asarray(jitted), table, atol=1e-6)


def test_each_factor_changes_the_image_and_hues_tint_only_their_material(renderer):
    variants = [_factors()]
    variants += [_factors(**{n: k - 1}) for n, k in zip(r.SHAPES3D_FACTORS, r.SHAPES3D_SIZES)]
    variants += [_factors(floor_hue=5), _factors(wall_hue=8)]
    images = np.asarray(renderer.render(np.concatenate(variants)))  # one call, one compile
    base = images[0]
    for name, other in zip(r.SHAPES3D_FACTORS, images[1:7], strict=True):
        assert np.abs(other - base).mean() > 1e-3, name
    # the floor hue leaves the top rows (wall) unchanged; the wall hue leaves the bottom rows
    np.testing.assert_allclose(images[7][:2], base[:2], atol=1e-6)
    assert np.abs(images[7][-2:] - base[-2:]).mean() > 1e-2
    np.testing.assert_allclose(images[8][-2:], base[-2:], atol=1e-6)
    assert np.abs(images[8][:2] - base[:2]).mean() > 1e-2


def test_larger_scale_covers_more_object_pixels(renderer):
    g_small = r.geometry_index(_factors(scale=0))
    g_large = r.geometry_index(_factors(scale=7))
    buf = np.asarray(renderer.buffers)
    assert (buf[g_large, ..., 2] > 0).sum() > 1.3 * (buf[g_small, ..., 2] > 0).sum()


def test_procedural_source_is_a_pure_function_of_seed_and_step(renderer):
    src = dsrc.ProceduralSource(renderer, batch_size=8, seed=3)
    assert len(src) == 480_000 and src.factor_sizes == r.SHAPES3D_SIZES
    a, b = src.batch(5), src.batch(5)
    np.testing.assert_array_equal(np.asarray(a.x), np.asarray(b.x))  # rerun = same batch
    assert not np.array_equal(np.asarray(src.batch(6).s), np.asarray(a.s))
    other_seed = dsrc.ProceduralSource(renderer, batch_size=8, seed=4).batch(5)
    assert not np.array_equal(np.asarray(other_seed.s), np.asarray(a.s))
    s = np.asarray(a.s)
    assert a.x.shape == (8, SIZE, SIZE, 3) and a.x.dtype == np.float32 and s.dtype == np.int32
    assert np.all(s >= 0) and np.all(s < np.asarray(r.SHAPES3D_SIZES))
    # the image on the device is the rendering of the factors it reports
    np.testing.assert_allclose(np.asarray(a.x), np.asarray(renderer.render(s)), atol=1e-6)
    assert a.x.sharding.spec == dsrc.PartitionSpec("data")  # split over the 4 test devices
    np.testing.assert_allclose(src.images(s, chunk=4), np.asarray(a.x), atol=1e-6)


def test_bad_factors_are_rejected():
    with pytest.raises(ValueError, match=r"\[n, 6\]"):
        r.render_shapes3d(np.zeros((2, 5), np.int32), size=SIZE)
    with pytest.raises(ValueError, match="must lie in"):
        r.render_shapes3d(np.full((1, 6), 10, np.int32), size=SIZE)
    with pytest.raises(TypeError, match="integer"):
        r.render_shapes3d(np.zeros((1, 6), np.float32), size=SIZE)
    with pytest.raises(ValueError, match="size >= 8"):
        r.Shapes3DRenderer(size=4)

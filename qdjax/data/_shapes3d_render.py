"""A procedural stand-in for Shapes3D, ray-marched in JAX on the device.

Shapes3D (Burgess & Kim, 2018) shows one object in a room: a floor, walls behind it and a
camera that turns around the scene. The stand-in has the same six factors with the same
numbers of values, in the same row-major order:

=========== ====== ====================================================================
factor      values meaning here
=========== ====== ====================================================================
floor_hue   10     HSV hue of the floor, `k / 10`
wall_hue    10     HSV hue of the three walls, `k / 10`
object_hue  10     HSV hue of the object, `k / 10`
scale       8      object size, `linspace(0.75, 1.25, 8)`
shape       4      cube, cylinder, sphere, capsule (the object rests on the floor)
orientation 15     camera yaw around the object, `linspace(-30, 30, 15)` degrees
=========== ====== ====================================================================

The scene is rendered with a pinhole camera (perspective), analytic planes for the floor
and the walls, sphere tracing of the object's signed distance function, Lambert shading
with an ambient term, a soft shadow of the object on the floor and walls, and a specular
highlight on the object; `supersample x supersample` rays per pixel anti-alias the edges.

Colour and geometry separate: the three hues only tint three shading buffers (floor, wall,
object) and a white highlight, all of which depend on `(scale, shape, orientation)` alone.
:class:`Shapes3DRenderer` ray-marches the 8 x 4 x 15 = 480 geometries once (one jitted
`lax.map`) and afterwards renders any batch of factor combinations on the device by a
gather and a tint, which is cheap enough to run every training step.

It is a stand-in, not Shapes3D: numbers measured on it are labelled "procedural stand-in".
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
SHAPES3D_SIZES = (10, 10, 10, 8, 4, 15)
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")
SCALES = np.linspace(0.75, 1.25, 8)
ORIENTATIONS_DEG = np.linspace(-30.0, 30.0, 15)
NUM_GEOMETRIES = 8 * 4 * 15

_LIGHT = np.array([-0.45, 0.8, 0.55]) / np.linalg.norm([-0.45, 0.8, 0.55])
_BACK_Z, _SIDE_X = -2.2, 3.0  # back wall plane z = _BACK_Z, side walls x = +-_SIDE_X
_CAM_DIST, _CAM_HEIGHT, _LOOK_HEIGHT = 5.2, 2.0, 0.55
_FOCAL = 1.0 / math.tan(math.radians(24.0))  # half field of view 24 degrees
_MARCH_STEPS, _SHADOW_STEPS = 40, 20
_BASE_RADIUS = 0.55  # object half-size at scale 1
_AMBIENT = 0.35


def _hue_rgb(h: jax.Array) -> jax.Array:
    """HSV (h, 1, 1) -> RGB, `h: [...]` in `[0, 1)` -> `[..., 3]`."""
    k = jnp.mod(jnp.asarray([5.0, 3.0, 1.0]) + 6.0 * h[..., None], 6.0)
    return 1.0 - jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0)


def _object_sdf(p: jax.Array, shape: jax.Array, r: jax.Array) -> jax.Array:
    """Signed distance of points `p: [..., 3]` to the object (resting on y = 0)."""

    def box(q):
        q = jnp.abs(q - jnp.array([0.0, 0.85, 0.0]) * r) - 0.85 * r
        outside = jnp.linalg.norm(jnp.maximum(q, 0.0), axis=-1)
        return outside + jnp.minimum(jnp.max(q, axis=-1), 0.0)

    def cylinder(q):
        q = q - jnp.array([0.0, 0.9, 0.0]) * r
        d = jnp.stack([jnp.hypot(q[..., 0], q[..., 2]) - r, jnp.abs(q[..., 1]) - 0.9 * r], -1)
        return jnp.linalg.norm(jnp.maximum(d, 0.0), axis=-1) + jnp.minimum(jnp.max(d, -1), 0.0)

    def sphere(q):
        return jnp.linalg.norm(q - jnp.array([0.0, 1.0, 0.0]) * r, axis=-1) - r

    def capsule(q):
        q = q - jnp.array([0.0, 1.35, 0.0]) * r
        y = jnp.clip(q[..., 1], -0.7 * r, 0.7 * r)
        return jnp.linalg.norm(q - y[..., None] * jnp.array([0.0, 1.0, 0.0]), axis=-1) - 0.65 * r

    return jax.lax.switch(shape, (box, cylinder, sphere, capsule), p)


def _camera_rays(yaw: jax.Array, size: int, supersample: int):
    """Origin `[3]` and unit directions `[size * ss, size * ss, 3]` of a camera at `yaw`."""
    n = size * supersample
    u = (jnp.arange(n, dtype=jnp.float32) + 0.5) / n * 2.0 - 1.0  # [-1, 1], left to right
    origin = jnp.stack(
        [_CAM_DIST * jnp.sin(yaw), jnp.asarray(_CAM_HEIGHT), _CAM_DIST * jnp.cos(yaw)]
    )
    forward = jnp.array([0.0, _LOOK_HEIGHT, 0.0]) - origin
    forward = forward / jnp.linalg.norm(forward)
    right = jnp.cross(forward, jnp.array([0.0, 1.0, 0.0]))
    right = right / jnp.linalg.norm(right)
    up = jnp.cross(right, forward)
    d = (
        _FOCAL * forward
        + u[None, :, None] * right[None, None, :]
        - u[:, None, None] * up[None, None, :]
    )
    return origin, d / jnp.linalg.norm(d, axis=-1, keepdims=True)


def _plane_hits(o: jax.Array, d: jax.Array):
    """Distance along each ray to the floor and to the nearest wall (inf if missed)."""
    inf = jnp.inf

    def hit(num, den):
        t = num / jnp.where(den == 0.0, 1e-9, den)
        return jnp.where(t > 1e-4, t, inf)

    t_floor = hit(-o[1], d[..., 1])
    t_back = hit(_BACK_Z - o[2], d[..., 2])
    t_left = hit(-_SIDE_X - o[0], d[..., 0])
    t_right = hit(_SIDE_X - o[0], d[..., 0])
    t_wall = jnp.minimum(t_back, jnp.minimum(t_left, t_right))
    return t_floor, t_wall


def _geometry(scale_idx: jax.Array, shape: jax.Array, orient_idx: jax.Array, *, size, ss):
    """Shading buffers `[size, size, 4]` (floor, wall, object, highlight) of one geometry."""
    r = _BASE_RADIUS * jnp.asarray(SCALES, jnp.float32)[scale_idx]
    yaw = jnp.deg2rad(jnp.asarray(ORIENTATIONS_DEG, jnp.float32)[orient_idx])
    o, d = _camera_rays(yaw, size, ss)
    sdf = functools.partial(_object_sdf, shape=shape, r=r)
    t_floor, t_wall = _plane_hits(o, d)
    t_scene = jnp.minimum(t_floor, t_wall)

    def march(t, _):
        return t + sdf(o + t[..., None] * d), None

    t_obj, _ = jax.lax.scan(march, jnp.zeros(d.shape[:-1]), None, length=_MARCH_STEPS)
    p_obj = o + t_obj[..., None] * d
    hit_obj = (jnp.abs(sdf(p_obj)) < 2e-3 * (1.0 + t_obj)) & (t_obj < t_scene)
    t = jnp.where(hit_obj, t_obj, t_scene)
    p = o + t[..., None] * d

    eps = 1e-3  # object normal: tetrahedral finite differences of the SDF
    ks = jnp.array([[1, -1, -1], [-1, -1, 1], [-1, 1, -1], [1, 1, 1]], jnp.float32)
    n_obj = jnp.sum(ks * jax.vmap(lambda k: sdf(p + eps * k), out_axes=-1)(ks)[..., None], -2)
    n_obj = n_obj / (jnp.linalg.norm(n_obj, axis=-1, keepdims=True) + 1e-9)
    is_floor = (~hit_obj) & (t_floor <= t_wall)
    n_wall = jnp.where(
        jnp.abs(p[..., 2:3] - _BACK_Z) < 1e-2,
        jnp.array([0.0, 0.0, 1.0]),
        jnp.where(p[..., 0:1] < 0, jnp.array([1.0, 0.0, 0.0]), jnp.array([-1.0, 0.0, 0.0])),
    )
    n_plane = jnp.where(is_floor[..., None], jnp.array([0.0, 1.0, 0.0]), n_wall)
    normal = jnp.where(hit_obj[..., None], n_obj, n_plane)

    light = jnp.asarray(_LIGHT, jnp.float32)
    start = p + 4e-3 * normal

    def shadow(carry, _):  # soft shadow: min over the ray of k * sdf / distance
        res, s = carry
        h = sdf(start + s[..., None] * light)
        return (jnp.minimum(res, 10.0 * h / s), s + jnp.clip(h, 0.02, 0.4)), None

    init = (jnp.ones(t.shape), jnp.full(t.shape, 0.02))
    (lit, _), _ = jax.lax.scan(shadow, init, None, length=_SHADOW_STEPS)
    lit = jnp.clip(lit, 0.0, 1.0)
    lambert = jnp.maximum(jnp.sum(normal * light, -1), 0.0)
    shade = _AMBIENT + (1.0 - _AMBIENT) * lambert * lit
    reflect = light - 2.0 * jnp.sum(normal * light, -1, keepdims=True) * normal
    spec = 0.35 * jnp.maximum(jnp.sum(reflect * d, -1), 0.0) ** 24 * lit * hit_obj
    is_wall = (~hit_obj) & (~is_floor)
    bufs = jnp.stack([shade * is_floor, shade * is_wall, shade * hit_obj, spec], axis=-1)
    return bufs.reshape(size, ss, size, ss, 4).mean(axis=(1, 3))


@functools.partial(jax.jit, static_argnames=("size", "supersample"))
def render_geometries(geometry: jax.Array, *, size: int = 64, supersample: int = 2) -> jax.Array:
    """Shading buffers `[n, size, size, 4]` of geometries `[n, 3]` = (scale, shape, orient)."""
    geometry = jnp.asarray(geometry, jnp.int32)
    fn = functools.partial(_geometry, size=size, ss=supersample)
    with jax.numpy_rank_promotion("allow"):  # vector constants broadcast against ray grids
        return jax.lax.map(lambda g: fn(g[0], g[1], g[2]), geometry)


def tint(buffers: jax.Array, factors: jax.Array) -> jax.Array:
    """Images `[n, H, W, 3]` from shading buffers `[n, H, W, 4]` and factors `[n, 6]`."""
    hues = jnp.asarray(factors[:, :3], jnp.float32) / 10.0  # floor, wall, object
    with jax.numpy_rank_promotion("allow"):
        rgb = _hue_rgb(hues)  # [n, 3 materials, 3 channels]
    img = jnp.einsum("nhwm,nmc->nhwc", buffers[..., :3], rgb) + buffers[..., 3:]
    return jnp.clip(img, 0.0, 1.0)


def geometry_index(factors: jax.Array) -> jax.Array:
    """Row of each factor combination `[n, 6]` in the table of 480 geometries."""
    f = jnp.asarray(factors, jnp.int32)
    return (f[:, 3] * 4 + f[:, 4]) * 15 + f[:, 5]


def _check_factors(factors) -> None:
    f = np.asarray(factors)
    if f.ndim != 2 or f.shape[1] != 6:
        raise ValueError(f"factors must be [n, 6] class indices; got shape {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        raise TypeError(f"factors must be integer class indices; got dtype {f.dtype}")
    if np.any(f < 0) or np.any(f >= np.asarray(SHAPES3D_SIZES)):
        raise ValueError(f"factor classes must lie in [0, {SHAPES3D_SIZES}) per column")


def render_shapes3d(factors, *, size: int = 64, supersample: int = 2) -> jax.Array:
    """Renders factor combinations `[n, 6]` (int classes) directly: `[n, size, size, 3]` in [0, 1].

    Ray-marches each example's geometry; for many batches build a :class:`Shapes3DRenderer`.
    """
    _check_factors(factors)
    f = jnp.asarray(factors, jnp.int32)
    bufs = render_geometries(f[:, 3:], size=size, supersample=supersample)
    return tint(bufs, f)


class Shapes3DRenderer:
    """All 480 geometries ray-marched once; `render(factors)` is then a gather and a tint.

    Args:
      size: image height and width (Shapes3D: 64).
      supersample: rays per pixel along each axis (anti-aliasing).
    """

    factor_sizes = SHAPES3D_SIZES
    factor_names = SHAPES3D_FACTORS

    def __init__(self, *, size: int = 64, supersample: int = 2):
        if size < 8 or supersample < 1:
            raise ValueError(f"need size >= 8 and supersample >= 1; got {size}, {supersample}")
        self.size, self.supersample = int(size), int(supersample)
        grid = np.stack(np.unravel_index(np.arange(NUM_GEOMETRIES), (8, 4, 15)), axis=1)
        self.buffers = render_geometries(grid, size=self.size, supersample=self.supersample)

    @property
    def tables(self) -> jax.Array:
        """The device arrays `render_from` needs (pass them into `jit` as arguments)."""
        return self.buffers

    @staticmethod
    def render_from(tables: jax.Array, factors: jax.Array) -> jax.Array:
        """Images `[n, size, size, 3]` float32 in `[0, 1]` of int factors `[n, 6]` (jit-able)."""
        f = jnp.asarray(factors, jnp.int32)
        return tint(tables[geometry_index(f)], f)

    def render(self, factors) -> jax.Array:
        """:meth:`render_from` on this renderer's tables."""
        _check_factors(factors)
        return self.render_from(self.buffers, factors)

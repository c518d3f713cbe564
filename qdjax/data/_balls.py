"""Balls: coloured, anti-aliased balls on a white 64x64 canvas, rendered in NumPy.

The Balls benchmark of the Cliff paper (seed 001), built on the Balls images of the
additive-decoders work (Lachapelle et al., 2023) and of interventional causal representation
learning (Ahuja et al., 2023). Those references draw with pygame; here every image of a batch
is rendered at once with array operations, so no display library is needed.

Geometry. A ball centre `(x, y)` lives in the unit square, `x` to the right and `y` upwards
(the references flip the pygame surface vertically), and every latent lies in `[0.1, 0.9]`.
The centre is at pixel coordinates `(64 x, 64 (1 - y))` (column, row), pixel `(r, c)` is the
unit square `[c, c + 1] x [r, r + 1]` with centre `(c + 1/2, r + 1/2)`, and the ball covers a
pixel by `clip(radius + 1/2 - distance, 0, 1)` (a one-pixel anti-aliasing ramp). Balls are
alpha-composited in order over a white background, so ball 2 is drawn over ball 1. Colours
are the first entries of the references' palette: ball 1 teal-blue `(2, 156, 154)`, ball 2
red `(222, 100, 100)`, then further distinct colours for more balls.

Radii. The additive-decoders data use `ball_rad = 2 * 0.08 = 0.16` of the width, i.e.
10.24 px (`LARGE_RADIUS`); the base Balls class of the references uses 0.08, i.e. 5.12 px
(`SMALL_RADIUS`).

Variants (`variant=`; the default radius in brackets, `radius=` overrides it):

* `"l_shape"` [10.24 px] -- additive decoders, "ScalarLatents" `supp_l_shape`. Two factors
  `(y1, y2)`: ball 1 at fixed `x1 = 0.25`, ball 2 at fixed `x2 = 0.75`, both move vertically.
  `y1 ~ U[0.1, 0.9]`; `y2 ~ U[0.1, 0.9]` if `y1 < 0.5`, else `y2 ~ U[0.1, 0.5]`. The support
  is `[0.1, 0.9]^2` minus the upper-right square `[0.5, 0.9]^2`: an L shape, so the factors
  are dependent and their support is not a product set.
* `"disconnected"` [10.24 px] -- additive decoders `supp_disconnected`. Factors `(y1, y2)`
  with the same fixed `x1, x2`; `y1 ~ U[0.1, 0.9]` and, independently with probability 1/2
  each, `y2 ~ U[0.1, 0.25]` or `y2 ~ U[0.75, 0.9]`: two disjoint rectangular blocks.
* `"no_overlap_4d"` [10.24 px] -- additive decoders "BlockLatents" `supp_iid_no_occ`. Four
  factors `(x1, y1, x2, y2)`, all `U[0.1, 0.9]`, redrawn while two balls overlap (centre
  distance `< 2 r`): a uniform density on a support with a hole around the diagonal.
* `"scm"` [5.12 px] -- additive decoders `supp_scm_linear` / `supp_scm_non_linear`. Four
  factors; ball 1 is `U[0.1, 0.9]^2` and ball 2 follows the structural equation
  `(x2, y2) ~ U([0.1, 0.5] x [0.5, 0.9])` if `g(x1, y1) >= 1` else
  `U([0.5, 0.9] x [0.1, 0.5])`, with `g = x1 + y1` (`scm="linear"`, default) or
  `g = 1.25 (x1^2 + y1^2)` (`scm="nonlinear"`); draws whose balls overlap are redrawn. Use
  `radius=LARGE_RADIUS` for the large-ball version of the additive-decoders paper.
* `"iid"` [5.12 px] -- the base setting of the references (Ahuja et al.): all
  `2 * num_balls` factors i.i.d. `U[0.1, 0.9]`; overlaps are allowed.
* `"grid"` [5.12 px] -- the quantized-factor setting of the Cliff paper: the `2 * num_balls`
  factors follow a piecewise-constant density on an axis-aligned grid
  (:func:`qdjax.data.make_grid_density`: random cell widths, softmax cell probabilities,
  optionally emptied cells), rescaled so that each axis spans `[0.1, 0.9]`. The density jumps
  ("cliffs") at :attr:`BallsSource.thresholds`, and :meth:`BallsSource.sample_with_cells`
  returns each example's true grid cell, the quantized ground truth. The grid is drawn once
  from `seed`.

:class:`BallsSource` is a :class:`qdjax.data.BatchSource`: `batch(step)` is a pure function of
`(seed, step)`, so a resumed run sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qdjax._src.typing import Batch
from qdjax.data._synthetic import GridDensity, make_grid_density

IMAGE_SIZE = 64
LOW, HIGH = 0.1, 0.9
LARGE_RADIUS = 0.16 * IMAGE_SIZE  # 10.24 px: additive decoders (ball_rad = 2 * 0.08)
SMALL_RADIUS = 0.08 * IMAGE_SIZE  # 5.12 px: base Balls of the references
FIXED_X = (0.25, 0.75)  # horizontal positions of the balls in the 2-d variants
PALETTE = (
    np.array(
        [
            [2, 156, 154],  # ball 1: teal-blue
            [222, 100, 100],  # ball 2: red
            [149, 59, 123],
            [74, 114, 179],
            [27, 159, 119],
            [218, 95, 2],
            [117, 112, 180],
            [232, 41, 139],
        ],
        dtype=np.float32,
    )
    / 255.0
)

# variant -> (default radius in pixels, whether the factors are only (y1, y2))
VARIANTS = {
    "l_shape": (LARGE_RADIUS, True),
    "disconnected": (LARGE_RADIUS, True),
    "no_overlap_4d": (LARGE_RADIUS, False),
    "scm": (SMALL_RADIUS, False),
    "iid": (SMALL_RADIUS, False),
    "grid": (SMALL_RADIUS, False),
}
_TWO_BALLS = ("l_shape", "disconnected", "scm")
_MAX_REDRAWS = 1000


def render_balls(centres, *, radius: float, colours=None, size: int = IMAGE_SIZE) -> np.ndarray:
    """Renders balls with the given centres, vectorized over the batch.

    Args:
      centres: `[batch, num_balls, 2]` unit-square centres `(x, y)` (`y` upwards).
      radius: ball radius in pixels.
      colours: `[num_balls, 3]` RGB in `[0, 1]` (default: the first `num_balls` of `PALETTE`).
      size: image height and width in pixels.

    Returns:
      images `[batch, size, size, 3]` float32 in `[0, 1]`, white background, later balls over
      earlier ones.
    """
    c = np.asarray(centres, dtype=np.float32)
    if c.ndim != 3 or c.shape[-1] != 2:
        raise ValueError(f"centres must be [batch, num_balls, 2]; got shape {c.shape}")
    n, k, _ = c.shape
    if colours is None:
        if k > len(PALETTE):
            raise ValueError(f"pass colours= for more than {len(PALETTE)} balls; got {k}")
        colours = PALETTE[:k]
    colours = np.asarray(colours, dtype=np.float32)
    if colours.shape != (k, 3):
        raise ValueError(f"colours must be [num_balls, 3] = [{k}, 3]; got {colours.shape}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0 pixels; got {radius}")
    grid = np.arange(size, dtype=np.float32) + 0.5  # pixel centres
    img = np.ones((n, size, size, 3), dtype=np.float32)
    for b in range(k):  # loop over the few balls; every image of the batch at once
        dx = grid[None, None, :] - size * c[:, b, 0, None, None]
        dy = grid[None, :, None] - size * (1.0 - c[:, b, 1, None, None])
        alpha = np.clip(radius + 0.5 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)[..., None]
        img = img * (1.0 - alpha) + alpha * colours[b]
    return img


def _overlapping(centres: np.ndarray, radius: float) -> np.ndarray:
    """`[n]` bool: whether any two balls of a row are closer than `2 radius` pixels."""
    d = IMAGE_SIZE * (centres[:, :, None, :] - centres[:, None, :, :])
    dist = np.sqrt(np.sum(d * d, axis=-1))
    k = centres.shape[1]
    off = ~np.eye(k, dtype=bool)
    return np.any((dist < 2.0 * radius) & off, axis=(1, 2))


def _rescale_to_box(density: GridDensity) -> GridDensity:
    """The same cell probabilities with every axis's edges mapped affinely onto `[LOW, HIGH]`."""
    edges = tuple(LOW + (HIGH - LOW) * (e - e[0]) / (e[-1] - e[0]) for e in density.edges)
    return GridDensity(edges, density.probs, 0.0)


class BallsSource:
    """Balls images with their ground-truth latents (see the module docstring for variants).

    Args:
      variant: one of `VARIANTS`.
      radius: ball radius in pixels (default: the variant's, `LARGE_RADIUS` or `SMALL_RADIUS`).
      num_balls: number of balls; 2 for `"l_shape"`, `"disconnected"` and `"scm"`.
      batch_size: rows per `batch(step)`.
      seed: seeds the batches (`default_rng([seed, 1, step])`) and the grid density of
        `"grid"` (`default_rng([seed, 0])`).
      cells_per_dim: grid cells per factor of `"grid"` (>= 2; an int or one per factor).
      width_range: relative cell widths of `"grid"` are drawn from `U[width_range]`.
      logit_scale: `"grid"` cell probabilities are `softmax(logit_scale * N(0, 1))`.
      empty_fraction: fraction of `"grid"` cells given zero probability.
      scm: structural equation of `"scm"`: `"linear"` or `"nonlinear"`.

    Attributes:
      num_factors: `2` for the 2-d variants, else `2 * num_balls`.
      factor_names: e.g. `("x1", "y1", "x2", "y2")`.
      density: the rescaled :class:`GridDensity` of `"grid"` (None otherwise).
    """

    def __init__(
        self,
        variant: str = "iid",
        *,
        radius: float | None = None,
        num_balls: int = 2,
        batch_size: int = 64,
        seed: int = 0,
        cells_per_dim: int | Sequence[int] = 4,
        width_range: tuple[float, float] = (0.3, 2.5),
        logit_scale: float = 1.0,
        empty_fraction: float = 0.0,
        scm: str = "linear",
    ):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}; got {variant!r}")
        default_radius, only_y = VARIANTS[variant]
        radius = default_radius if radius is None else float(radius)
        if not 0 < radius <= 0.4 * IMAGE_SIZE:
            raise ValueError(f"radius must be in (0, {0.4 * IMAGE_SIZE}] pixels; got {radius}")
        if variant in _TWO_BALLS and num_balls != 2:
            raise ValueError(f"variant {variant!r} needs num_balls=2; got {num_balls}")
        if not 1 <= num_balls <= len(PALETTE):
            raise ValueError(f"num_balls must be in [1, {len(PALETTE)}]; got {num_balls}")
        if variant == "no_overlap_4d" and num_balls < 2:
            raise ValueError("variant 'no_overlap_4d' needs num_balls >= 2; got 1")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        if scm not in ("linear", "nonlinear"):
            raise ValueError(f"scm must be 'linear' or 'nonlinear'; got {scm!r}")
        self.variant = variant
        self.radius = radius
        self.num_balls = int(num_balls)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.scm = scm
        if only_y:
            self.factor_names: tuple[str, ...] = ("y1", "y2")
        else:
            self.factor_names = tuple(f"{a}{i + 1}" for i in range(num_balls) for a in "xy")
        self.num_factors = len(self.factor_names)
        self.density: GridDensity | None = None
        if variant == "grid":
            # make_grid_density validates cells_per_dim, width_range and empty_fraction.
            raw = make_grid_density(
                np.random.default_rng([self.seed, 0]),
                num_dims=self.num_factors,
                cells_per_dim=cells_per_dim,
                width_range=width_range,
                logit_scale=logit_scale,
                empty_fraction=empty_fraction,
                center=False,
            )
            self.density = _rescale_to_box(raw)

    @property
    def thresholds(self) -> tuple[np.ndarray, ...]:
        """Interior cell edges per factor of `"grid"`: the planted cliffs (in `[0.1, 0.9]`)."""
        if self.density is None:
            raise ValueError(f"thresholds exist only for variant='grid'; got {self.variant!r}")
        return self.density.thresholds

    # ------------------------------------------------------------------ latents

    def centres(self, factors) -> np.ndarray:
        """Ball centres `[n, num_balls, 2]` of factors `[n, num_factors]`."""
        f = np.asarray(factors, dtype=np.float32)
        if f.ndim != 2 or f.shape[1] != self.num_factors:
            raise ValueError(f"factors must be [n, {self.num_factors}]; got shape {f.shape}")
        if self.num_factors == 2 * self.num_balls:
            return f.reshape(f.shape[0], self.num_balls, 2)
        x = np.broadcast_to(np.asarray(FIXED_X, np.float32), f.shape)
        return np.stack([x, f], axis=-1)  # (y1, y2) -> [[x1, y1], [x2, y2]]

    def _uniform(self, rng: np.random.Generator, shape) -> np.ndarray:
        return rng.uniform(LOW, HIGH, size=shape)

    def _scm(self, n: int, rng: np.random.Generator) -> np.ndarray:
        b1 = self._uniform(rng, (n, 2))
        if self.scm == "linear":
            g = b1[:, 0] + b1[:, 1]
        else:
            g = 1.25 * (b1[:, 0] ** 2 + b1[:, 1] ** 2)
        u = rng.uniform(0.0, 1.0, size=(n, 2))
        upper_left = g >= 1.0
        x2 = np.where(upper_left, 0.1 + 0.4 * u[:, 0], 0.5 + 0.4 * u[:, 0])
        y2 = np.where(upper_left, 0.5 + 0.4 * u[:, 1], 0.1 + 0.4 * u[:, 1])
        return np.concatenate([b1, x2[:, None], y2[:, None]], axis=1)

    def _draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        v = self.variant
        cells = None
        if v == "l_shape":
            y1 = self._uniform(rng, n)
            u = rng.uniform(0.0, 1.0, size=n)
            y2 = np.where(y1 < 0.5, LOW + (HIGH - LOW) * u, LOW + (0.5 - LOW) * u)
            z = np.stack([y1, y2], axis=1)
        elif v == "disconnected":
            y1 = self._uniform(rng, n)
            u = rng.uniform(0.0, 1.0, size=n)
            low_block = rng.random(n) < 0.5
            y2 = np.where(low_block, 0.1 + 0.15 * u, 0.75 + 0.15 * u)
            z = np.stack([y1, y2], axis=1)
        elif v == "scm":
            z = self._scm(n, rng)
        elif v == "grid":
            z, cells = self.density.sample(n, rng)
        else:  # iid, no_overlap_4d
            z = self._uniform(rng, (n, self.num_factors))
        if v in ("no_overlap_4d", "scm"):  # redraw overlapping rows, all at once per round
            for _ in range(_MAX_REDRAWS):
                bad = _overlapping(self.centres(z), self.radius)
                if not bad.any():
                    break
                m = int(bad.sum())
                z[bad] = self._scm(m, rng) if v == "scm" else self._uniform(rng, (m, z.shape[1]))
            else:
                raise ValueError(
                    f"could not place {self.num_balls} non-overlapping balls of radius "
                    f"{self.radius} px; use a smaller radius or fewer balls"
                )
        return z.astype(np.float32), cells

    def sample_latents(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws `n` latent vectors `[n, num_factors]` float32."""
        if n < 1:
            raise ValueError(f"n must be >= 1; got {n}")
        return self._draw(int(n), rng)[0]

    # ------------------------------------------------------------------ images

    def render(self, factors) -> np.ndarray:
        """Images `[n, 64, 64, 3]` float32 in `[0, 1]` of factors `[n, num_factors]`."""
        return render_balls(self.centres(factors), radius=self.radius)

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        """Draws `n` examples: `Batch(x=[n, 64, 64, 3], s=[n, num_factors])`, float32."""
        z = self.sample_latents(n, rng)
        return Batch(x=self.render(z), s=z)

    def sample_with_cells(self, n: int, rng: np.random.Generator) -> tuple[Batch, np.ndarray]:
        """Like :meth:`sample`, also returning the true grid cells `[n, num_factors]` int32.

        Only for `variant="grid"`.
        """
        if self.density is None:
            raise ValueError(f"grid cells exist only for variant='grid'; got {self.variant!r}")
        if n < 1:
            raise ValueError(f"n must be >= 1; got {n}")
        z, cells = self._draw(int(n), rng)
        return Batch(x=self.render(z), s=z), cells

    def batch(self, step: int) -> Batch:
        """The training batch of `step`, a pure function of `(seed, step)`."""
        if step < 0:
            raise ValueError(f"step must be >= 0; got {step}")
        return self.sample(self.batch_size, np.random.default_rng([self.seed, 1, int(step)]))

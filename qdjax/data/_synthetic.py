"""Synthetic latents with a piecewise-constant density on an axis-aligned grid, and mixings.

The generative process of the quantized-factor identifiability papers
(seeds 000 and 001, "Manhattan" grids): each latent axis `i` is cut into
`k_i` cells of random widths, every grid cell gets a probability (softmax of
Gaussian noise; optionally some cells are emptied so the support is not a
product set and the factors become dependent), and a point is drawn uniformly
inside a cell. The density therefore jumps ("cliffs") exactly at the cell
edges, and these jumps are axis-aligned. Observations are a linear or a random
invertible MLP mixing (a diffeomorphism onto its image) of the latents.

All draws are seeded with NumPy `Generator`s; the same arguments give the same data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

import numpy as np
import scipy.special


class JumpSizes(NamedTuple):
    """Planted cliff sizes of one axis (see :meth:`GridDensity.jump_sizes`).

    Attributes:
      thresholds: `[k - 1]` interior cell edges.
      marginal: `[k - 1]` relative jump of the marginal density (can be ~0).
      conditional: `[k - 1]` largest relative jump over the conditional slabs.
      evidence: `[k - 1]` expected chi-square of each cliff at the given sample size.
    """

    thresholds: np.ndarray
    marginal: np.ndarray
    conditional: np.ndarray
    evidence: np.ndarray


@dataclasses.dataclass(frozen=True)
class GridDensity:
    """A piecewise-constant density on an axis-aligned grid in `d` dimensions.

    Attributes:
      edges: per axis, the `k_i + 1` increasing cell edges.
      probs: cell probabilities, shape `(k_1, ..., k_d)`, summing to one (0 for emptied cells).
      smoothing: standard deviation of the Gaussian that blurs the cliffs (0 = sharp).
    """

    edges: tuple[np.ndarray, ...]
    probs: np.ndarray
    smoothing: float = 0.0

    @property
    def num_dims(self) -> int:
        return len(self.edges)

    @property
    def cells_per_dim(self) -> tuple[int, ...]:
        return tuple(len(e) - 1 for e in self.edges)

    @property
    def thresholds(self) -> tuple[np.ndarray, ...]:
        """Interior cell edges per axis: the planted cliff positions."""
        return tuple(e[1:-1] for e in self.edges)

    def jump_sizes(self, num_samples: int = 5000, *, window: float = 0.1) -> tuple[JumpSizes, ...]:
        """The size of every planted cliff, in the marginal and in the conditional densities.

        For the threshold between cells `c` and `c + 1` of axis `i`, with `p_L`, `p_R` the
        densities on its two sides, the relative jump is `|p_R - p_L| / max(p_L, p_R)`
        (0 = no cliff, 1 = the density drops to zero). The conditionals condition on the
        cell of every other axis (a slab); `evidence` is the expected binomial chi-square
        of the cliff, `sum_slabs n w (p_R - p_L)^2 / (p_R + p_L)`, with `n = num_samples`
        and windows of half-width `window` (units of `z`) on each side: a cliff whose
        evidence is below ~10 is hard to find at that sample size.

        Returns:
          One :class:`JumpSizes` per axis.
        """
        out = []
        for i, e in enumerate(self.edges):
            width = np.diff(e)
            p = np.moveaxis(self.probs, i, 0).reshape(len(width), -1)  # [k_i, slabs]
            dens = p / width[:, None]  # mass per unit length of z_i, per slab
            left, right = dens[:-1], dens[1:]
            rel = np.abs(right - left) / np.maximum(np.maximum(left, right), 1e-300)
            ml, mr = left.sum(1), right.sum(1)
            marginal = np.abs(mr - ml) / np.maximum(np.maximum(ml, mr), 1e-300)
            evid = num_samples * window * (right - left) ** 2 / np.maximum(right + left, 1e-300)
            out.append(JumpSizes(e[1:-1].copy(), marginal, rel.max(1), evid.sum(1)))
        return tuple(out)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draws `n` latents.

        Returns:
          `(z, cells)`: latents `[n, d]` float32 and their grid cell per axis `[n, d]` int32
          (the cell of the point before smoothing noise is added).
        """
        flat = rng.choice(self.probs.size, size=n, p=self.probs.ravel())
        cells = np.stack(np.unravel_index(flat, self.probs.shape), axis=1).astype(np.int32)
        u = rng.random((n, self.num_dims))
        z = np.empty((n, self.num_dims), dtype=np.float64)
        for i, e in enumerate(self.edges):  # loop over axes (d is small), vectorized over n
            lo, hi = e[cells[:, i]], e[cells[:, i] + 1]
            z[:, i] = lo + u[:, i] * (hi - lo)
        if self.smoothing > 0:
            z = z + self.smoothing * rng.standard_normal(z.shape)
        return z.astype(np.float32), cells

    def log_prob(self, z: np.ndarray) -> np.ndarray:
        """Log density of the unsmoothed grid density at `z: [n, d]` (-inf outside the support)."""
        z = np.asarray(z, dtype=np.float64)
        idx, inside = [], np.ones(z.shape[0], dtype=bool)
        vol = np.ones(z.shape[0])
        for i, e in enumerate(self.edges):
            c = np.searchsorted(e, z[:, i], side="right") - 1
            inside &= (c >= 0) & (c < len(e) - 1)
            c = np.clip(c, 0, len(e) - 2)
            vol *= np.diff(e)[c]
            idx.append(c)
        p = self.probs[tuple(idx)] / vol
        with np.errstate(divide="ignore"):
            return np.where(inside & (p > 0), np.log(np.where(p > 0, p, 1.0)), -np.inf)


def make_grid_density(
    rng: np.random.Generator,
    *,
    num_dims: int = 2,
    cells_per_dim: int | Sequence[int] = 4,
    width_range: tuple[float, float] = (0.3, 2.5),
    logit_scale: float = 1.0,
    empty_fraction: float = 0.0,
    smoothing: float = 0.0,
    center: bool = True,
) -> GridDensity:
    """Draws a random grid density ("Manhattan" grid generalized to `num_dims` axes).

    Args:
      rng: NumPy generator.
      num_dims: number of latent factors `d`.
      cells_per_dim: `k` (same for every axis) or one count per axis; each >= 2.
      width_range: cell widths are drawn from `U[width_range]`.
      logit_scale: cell probabilities are `softmax(logit_scale * N(0, 1))` over all cells.
      empty_fraction: fraction of cells whose probability is set to zero (support not
        factorized, so the factors become dependent). Draws are rejected until every
        slab `{z_i in cell c}` of every axis keeps some mass, so all cliffs exist.
      smoothing: std of a Gaussian blur of the cliffs (applied when sampling).
      center: shift each axis so the grid is centred on zero.

    Returns:
      A :class:`GridDensity`.
    """
    if num_dims < 1:
        raise ValueError(f"num_dims must be >= 1; got {num_dims}")
    ks = [cells_per_dim] * num_dims if np.isscalar(cells_per_dim) else list(cells_per_dim)
    if len(ks) != num_dims or any(int(k) < 2 for k in ks):
        raise ValueError(f"cells_per_dim must be >= 2 for each of the {num_dims} axes; got {ks}")
    lo, hi = width_range
    if not 0 < lo <= hi:
        raise ValueError(f"width_range must satisfy 0 < low <= high; got {width_range}")
    if not 0.0 <= empty_fraction < 1.0:
        raise ValueError(f"empty_fraction must be in [0, 1); got {empty_fraction}")
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0; got {smoothing}")
    edges = []
    for k in ks:
        e = np.concatenate([[0.0], np.cumsum(rng.uniform(lo, hi, size=int(k)))])
        edges.append(e - e[-1] / 2 if center else e)
    shape = tuple(int(k) for k in ks)
    logits = logit_scale * rng.standard_normal(shape)
    probs = np.exp(logits - logits.max())
    n_empty = int(round(empty_fraction * probs.size))
    if n_empty:
        for _ in range(1000):
            mask = np.ones(probs.size, dtype=bool)
            mask[rng.choice(probs.size, size=n_empty, replace=False)] = False
            mask = mask.reshape(shape)
            axes = range(num_dims)
            if all(np.all(mask.any(axis=tuple(a for a in axes if a != i))) for i in axes):
                break
        else:
            raise ValueError(
                f"could not empty {n_empty} cells while keeping every slab non-empty; "
                "lower empty_fraction"
            )
        probs = probs * mask
    return GridDensity(tuple(edges), probs / probs.sum(), float(smoothing))


# ----------------------------------------------------------------------------- mixings


@cache
def _condition_threshold(rows: int, cols: int, quantile: float = 0.25) -> float:
    """Condition-number threshold for rejecting ill-conditioned random weight draws.

    As in the nonlinear-ICA literature (Hyvärinen & Morioka; Khemakhem et al.), a draw is
    kept if its condition number is below the `quantile` of condition numbers of
    column-normalized uniform random matrices of the same shape.
    """
    rng = np.random.default_rng(1234)
    w = rng.uniform(-1, 1, size=(4000, rows, cols))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    return float(np.quantile(np.linalg.cond(w), quantile))


def _well_conditioned(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    threshold = _condition_threshold(rows, cols)
    for _ in range(10_000):
        w = rng.uniform(-1, 1, size=(rows, cols))
        w /= np.linalg.norm(w, axis=0, keepdims=True)
        if np.linalg.cond(w) <= threshold:
            return w
    raise RuntimeError(f"no well-conditioned {rows}x{cols} matrix in 10000 draws")


@dataclasses.dataclass(frozen=True)
class Mixing:
    r"""An injective map `R^d -> R^D`: `x = f(z)`, a monotone activation between affine layers.

    With one layer it is linear. Every layer's weight is column-normalized and
    well-conditioned and the activation is a bijection, so the map is injective.

    `activation="leaky_relu"` (`kind="mlp"`) is piecewise linear: a diffeomorphism only *away
    from the kinks*. Across each kink surface its Jacobian determinant jumps by the slope,
    so the observed density gets extra, oblique cliffs (a factor 1/0.2 = 5 per kink) that
    are not images of the grid's axis-aligned cliffs: outside seed 000's assumptions.
    `activation="smooth_leaky_relu"` (`kind="smooth_mlp"`) is
    :math:`\sigma_a(h) = a h + (1 - a)\,\mathrm{softplus}(h)`, slope
    :math:`a + (1 - a)\,\mathrm{sigmoid}(h) \in (a, 1)`: the same shape with a smooth bend,
    so the map is a diffeomorphism onto its image and the grid's cliffs are the only ones.

    Attributes:
      weights: per layer, `[in, out]` matrices (first `[d, D]`, then `[D, D]`).
      biases: per layer, `[out]` offsets.
      negative_slope: the activation's slope `a` for large negative inputs (applied after
        every layer but the last).
      activation: "leaky_relu" or "smooth_leaky_relu".
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    negative_slope: float = 0.2
    activation: str = "leaky_relu"

    def __post_init__(self):
        if self.activation not in ("leaky_relu", "smooth_leaky_relu"):
            raise ValueError(
                f"activation must be 'leaky_relu' or 'smooth_leaky_relu'; got {self.activation!r}"
            )

    def _act(self, h: np.ndarray) -> np.ndarray:
        a = self.negative_slope
        if self.activation == "smooth_leaky_relu":
            return a * h + (1.0 - a) * np.logaddexp(0.0, h)
        return np.where(h > 0, h, a * h)

    def _log_slope(self, h: np.ndarray) -> np.ndarray:
        a = self.negative_slope
        if self.activation == "smooth_leaky_relu":
            return np.log(a + (1.0 - a) * scipy.special.expit(h))
        return np.where(h >= 0, 0.0, np.log(a))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        h = np.asarray(z, dtype=np.float64)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = self._act(h)
        return h.astype(np.float32)

    def log_abs_det_jacobian(self, z: np.ndarray) -> np.ndarray:
        """`log|det df/dz|` at `z: [n, d]` for a square mixing (`D == d`), `[n]`, float64.

        Exact: the product of the layer matrices with the activation's slopes at `z`
        (LeakyReLU: at a kink, the slope of the positive side).
        """
        h = np.asarray(z, dtype=np.float64)
        if self.weights[0].shape[0] != self.weights[0].shape[1]:
            raise ValueError(
                f"log_abs_det_jacobian needs a square mixing; got {self.weights[0].shape}"
            )
        out = np.zeros(h.shape[0])
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out += np.linalg.slogdet(w)[1]
            h = h @ w + b
            if i < len(self.weights) - 1:
                out += np.sum(self._log_slope(h), axis=1)
                h = self._act(h)
        return out


MIXING_KINDS = ("linear", "mlp", "smooth_mlp")


def make_mixing(
    rng: np.random.Generator,
    *,
    num_latents: int,
    obs_dim: int | None = None,
    kind: str = "mlp",
    num_layers: int = 3,
    negative_slope: float = 0.2,
) -> Mixing:
    """Draws a random linear or invertible-MLP mixing.

    Args:
      rng: NumPy generator.
      num_latents: `d`.
      obs_dim: `D >= d` (default `d`).
      kind: `"linear"` (one well-conditioned `[d, D]` matrix), `"mlp"` (LeakyReLU between
        layers) or `"smooth_mlp"` (the same layers, drawn from the same generator state,
        with the smooth leaky ReLU: a diffeomorphism, see :class:`Mixing`).
      num_layers: layers of the MLP mixing (>= 1).
      negative_slope: the activation's slope for large negative inputs, in `(0, 1]`.
    """
    obs_dim = num_latents if obs_dim is None else int(obs_dim)
    if obs_dim < num_latents:
        raise ValueError(
            f"obs_dim must be >= num_latents ({num_latents}) to be injective; got {obs_dim}"
        )
    if kind not in MIXING_KINDS:
        raise ValueError(f"kind must be one of {MIXING_KINDS}; got {kind!r}")
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1; got {num_layers}")
    if not 0 < negative_slope <= 1:
        raise ValueError(
            f"negative_slope must be in (0, 1] for invertibility; got {negative_slope}"
        )
    n = 1 if kind == "linear" else num_layers
    weights, biases = [], []
    for i in range(n):
        rows = num_latents if i == 0 else obs_dim
        weights.append(_well_conditioned(rng, rows, obs_dim))
        biases.append(np.zeros(obs_dim) if kind == "linear" else 0.1 * rng.standard_normal(obs_dim))
    activation = "smooth_leaky_relu" if kind == "smooth_mlp" else "leaky_relu"
    return Mixing(tuple(weights), tuple(biases), float(negative_slope), activation)


@dataclasses.dataclass(frozen=True)
class SyntheticDataset:
    """Latents, their grid cells and observations of one synthetic task.

    Attributes:
      x: observations `[n, D]` float32 (standardized per dimension if requested).
      z: true latents `[n, d]` float32 (the factors `s`).
      cells: true grid cell per axis `[n, d]` int32.
      density: the latent :class:`GridDensity`.
      mixing: the :class:`Mixing` that produced `x` (before standardization).
      x_scale: the per-dimension scale `x` was divided by when standardized (None if not).
    """

    x: np.ndarray
    z: np.ndarray
    cells: np.ndarray
    density: GridDensity
    mixing: Mixing
    x_scale: np.ndarray | None = None

    def log_prob(self, index: slice | np.ndarray = slice(None)) -> np.ndarray:
        r"""Exact log-density of the observations `x[index]` under the true model, `[n]`.

        :math:`\log p(x) = \log p(s) - \log\lvert\det J_{mix}(s)\rvert + \sum \log
        \text{scale}` (square mixing): the population optimum a likelihood model can reach.
        """
        s = self.z[index]
        out = self.density.log_prob(s) - self.mixing.log_abs_det_jacobian(s)
        if self.x_scale is not None:
            out = out + np.sum(np.log(self.x_scale))
        return out


def make_synthetic(
    seed: int,
    num_samples: int,
    *,
    num_latents: int = 2,
    obs_dim: int | None = None,
    cells_per_dim: int | Sequence[int] = 4,
    width_range: tuple[float, float] = (0.3, 2.5),
    logit_scale: float = 1.0,
    empty_fraction: float = 0.0,
    smoothing: float = 0.0,
    mixing: str = "mlp",
    mixing_layers: int = 3,
    standardize: bool = True,
) -> SyntheticDataset:
    """One call from a seed to a dataset: grid density, samples, mixing, observations.

    The density and the mixing are drawn from `default_rng([seed, 0])` and
    `default_rng([seed, 1])`, the samples from `default_rng([seed, 2])`, so two
    datasets with the same seed and different `num_samples` share the task.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    density = make_grid_density(
        np.random.default_rng([seed, 0]),
        num_dims=num_latents,
        cells_per_dim=cells_per_dim,
        width_range=width_range,
        logit_scale=logit_scale,
        empty_fraction=empty_fraction,
        smoothing=smoothing,
    )
    mix = make_mixing(
        np.random.default_rng([seed, 1]),
        num_latents=num_latents,
        obs_dim=obs_dim,
        kind=mixing,
        num_layers=mixing_layers,
    )
    z, cells = density.sample(num_samples, np.random.default_rng([seed, 2]))
    x = mix(z)
    scale = None
    if standardize:
        scale = np.maximum(x.std(0), 1e-6)
        x = (x - x.mean(0)) / scale
    return SyntheticDataset(x.astype(np.float32), z, cells, density, mix, scale)


# Cells of the seed-000 reference 4x4 grids, as (axis-0 cell, axis-1 cell): the diagonal
# carries most of the mass and, in the non-factorized setting, five cells are emptied.
_REFERENCE_DIAGONAL = (0.26, 0.24, 0.27, 0.23)
_REFERENCE_EMPTY = ((2, 0), (3, 0), (0, 2), (0, 3), (1, 3))


def make_manhattan_reference(
    seed: int,
    *,
    factorized: bool,
    num_samples: int = 50_000,
    mixing: str = "linear",
    obs_dim: int = 2,
) -> SyntheticDataset:
    """The seed-000 reference datasets: a 4x4 "Manhattan" grid with linear (or MLP) mixing.

    Cell widths `U[0.3, 2.5]`, cell priors a softmax of 16 Gaussian draws, then

    - non-factorized support (`factorized=False`): the diagonal cells get masses
      0.26/0.24/0.27/0.23, five off-diagonal cells are emptied, renormalized (the support
      is not a product set; factor correlation about 0.6);
    - factorized support (`factorized=True`): priors / 5 with the diagonal set to 0.25,
      then a softmax with inverse temperature 10 (every cell non-empty, dependent factors).

    Draws from `default_rng([seed, 10 + factorized])` (grid), `[seed, 1]` (mixing) and
    `[seed, 2]` (samples). Observations are standardized per dimension.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    rng = np.random.default_rng([seed, 10 + int(factorized)])
    edges = tuple(np.concatenate([[0.0], np.cumsum(rng.uniform(0.3, 2.5, 4))]) for _ in range(2))
    g = rng.standard_normal((4, 4))
    p = np.exp(g - g.max())
    p /= p.sum()
    diag = np.arange(4)
    if factorized:
        p = p / 5
        p[diag, diag] = 0.25
        p = np.exp(10 * p - np.max(10 * p))
    else:
        p[diag, diag] = _REFERENCE_DIAGONAL
        for cell in _REFERENCE_EMPTY:
            p[cell] = 0.0
    density = GridDensity(edges, p / p.sum())
    mix = make_mixing(np.random.default_rng([seed, 1]), num_latents=2, obs_dim=obs_dim, kind=mixing)
    z, cells = density.sample(num_samples, np.random.default_rng([seed, 2]))
    x = mix(z)
    scale = np.maximum(x.std(0), 1e-6)
    x = (x - x.mean(0)) / scale
    return SyntheticDataset(x.astype(np.float32), z, cells, density, mix, scale)

r"""An invertible encoder (affine coupling flow) with a learnable axis-aligned grid prior.

`GridFlow` is seed 000's generative model fitted by maximum likelihood: observations
:math:`x = g(s)` with :math:`s` piecewise constant on an axis-aligned grid and :math:`g` a
diffeomorphism. The encoder :math:`z = f(x)` is a flow (exactly invertible, tractable
Jacobian), so

.. math::  \log p(x) = \log p_{\text{grid}}(f(x)) + \log\lvert\det J_f(x)\rvert

is an exact likelihood (`qdjax.losses.grid_log_prob` for the prior), with no folding that a
non-injective encoder could exploit. The decoder is the flow's inverse, so `x_hat` is exact.

Coupling layer `i` keeps one half of the coordinates (`a`: the first `d // 2` on even layers,
the rest on odd ones) and maps the other half `b` by
:math:`x_b \leftarrow x_b \odot e^{s(x_a)} + t(x_a)`, :math:`s = 2\tanh(o/2)` bounded;
:math:`\log\lvert\det J\rvert = \sum s`. The conditioners' last layer starts at zero, so the
flow starts as the identity, or as a fixed rotation `R` applied first (`rotation`; not trained,
:math:`\lvert\det R\rvert = 1` adds nothing to the log-determinant): the likelihood has
non-truth basins that gradient descent from one start does not leave, and restarts from
different rotations (:func:`start_rotation`), ranked by likelihood, reach different ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qdjax._src.typing import Array
from qdjax.losses import grid_edges, grid_log_prob


class FlowOutput(NamedTuple):
    """Output of :class:`GridFlow`.

    Attributes:
      x_hat: the flow's inverse of `z` (equals the input up to float error).
      z: the code `f(x)`, `[batch, d]`.
      z_mean: the same code (the deterministic representation).
      log_det: :math:`\\log\\lvert\\det J_f(x)\\rvert`, `[batch]`.
    """

    x_hat: Array
    z: Array
    z_mean: Array
    log_det: Array


class FixedRotation(nnx.Variable):
    """A constant orthogonal matrix of a flow (saved with the model, never trained)."""


def start_rotation(num_dims: int, index: int, count: int, seed: int = 0) -> np.ndarray:
    """The orthogonal start `R` of restart `index` of `count` (`float32 [d, d]`).

    Restart 0 is the identity. In 2-D restart `i` is the rotation by `i * 90 / count`
    degrees: rotations by multiples of 90 degrees only permute and reverse the axes, so the
    starts are evenly spread over everything a start can change. In `d > 2` dimensions
    restart `i > 0` is a Haar-random rotation (determinant +1) drawn from `(seed, i)`.
    """
    if num_dims < 1 or count < 1 or not 0 <= index < count:
        raise ValueError(
            f"start_rotation needs num_dims >= 1, count >= 1 and 0 <= index < count; "
            f"got {num_dims}, {index}, {count}"
        )
    if index == 0 or num_dims == 1:
        return np.eye(num_dims, dtype=np.float32)
    if num_dims == 2:
        a = np.deg2rad(90.0 * index / count)
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    g = np.random.default_rng((int(seed), int(index))).standard_normal((num_dims, num_dims))
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))  # Haar: fix the signs of the QR factorization
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.astype(np.float32)


class _Conditioner(nnx.Module):
    """GELU MLP `in -> hidden... -> 2 * out`, last layer initialized at zero."""

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int, *, rngs):
        widths = [in_features, *hidden]
        init = nnx.initializers.he_normal()
        self.hidden = nnx.List(
            [nnx.Linear(a, b, kernel_init=init, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.out = nnx.Linear(
            widths[-1], 2 * out_features, kernel_init=nnx.initializers.zeros_init(), rngs=rngs
        )

    def __call__(self, x: Array) -> tuple[Array, Array]:
        for layer in self.hidden:
            x = jax.nn.gelu(layer(x))
        log_scale, shift = jnp.split(self.out(x), 2, axis=-1)
        return 2.0 * jnp.tanh(log_scale / 2.0), shift


class CouplingFlow(nnx.Module):
    """Stack of affine coupling layers on `R^d` (`d >= 2`): `forward`, `inverse`.

    Args:
      num_dims: `d`.
      num_layers: coupling layers (alternating halves).
      hidden: conditioner hidden widths.
      rotation: optional orthogonal `[d, d]` matrix `R` applied first (`x -> x R`), fixed.
      rngs: NNX random streams.
    """

    def __init__(
        self, num_dims: int, *, num_layers: int = 12, hidden=(128, 128), rotation=None, rngs
    ):
        if num_dims < 2:
            raise ValueError(f"a coupling flow needs num_dims >= 2; got {num_dims}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1; got {num_layers}")
        self.num_dims = num_dims
        h = num_dims // 2
        self.splits = tuple(
            (tuple(range(h)), tuple(range(h, num_dims)))
            if i % 2 == 0
            else (tuple(range(h, num_dims)), tuple(range(h)))
            for i in range(num_layers)
        )
        self.layers = nnx.List(
            [_Conditioner(len(a), hidden, len(b), rngs=rngs) for a, b in self.splits]
        )
        r = np.eye(num_dims, dtype=np.float32) if rotation is None else np.asarray(rotation)
        if r.shape != (num_dims, num_dims) or not np.allclose(r @ r.T, np.eye(num_dims), atol=1e-4):
            raise ValueError(
                f"rotation must be an orthogonal [{num_dims}, {num_dims}] matrix "
                f"(e.g. qdjax.nn.start_rotation); got shape {r.shape}"
            )
        self.rotation = FixedRotation(jnp.asarray(r, jnp.float32))

    def _check(self, x: Array, name: str) -> None:
        shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
        if shape is None or len(shape) != 2 or shape[1] != self.num_dims:
            raise ValueError(
                f"{name} must be [batch, {self.num_dims}] (the flow's num_dims); got shape "
                f"{shape}: reshape the input or build the flow with num_dims={shape and shape[-1]}"
            )
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"{name} must be floating point (e.g. float32); got {dtype}")

    def forward(self, x: Array) -> tuple[Array, Array]:
        """`(z, log|det J|)` for `x: [batch, d]`."""
        self._check(x, "x")
        x = x @ self.rotation[...]
        log_det = jnp.zeros(x.shape[:1], x.dtype)
        for (a, b), layer in zip(self.splits, self.layers):
            s, t = layer(x[:, list(a)])
            x = x.at[:, list(b)].set(x[:, list(b)] * jnp.exp(s) + t)
            log_det = log_det + jnp.sum(s, axis=1)
        return x, log_det

    def inverse(self, z: Array) -> Array:
        """`x` with `forward(x)[0] == z`."""
        self._check(z, "z")
        for (a, b), layer in zip(reversed(self.splits), reversed(self.layers)):
            s, t = layer(z[:, list(a)])
            z = z.at[:, list(b)].set((z[:, list(b)] - t) * jnp.exp(-s))
        return z @ self.rotation[...].T


class GridPrior(nnx.Module):
    """Learnable soft grid density on `R^d`: support edges, cell widths, joint cell logits.

    Starts with `num_cells` equal cells per axis on `[-span, span]` and uniform cell
    probabilities. `log_prob(z, temperature)` is :func:`qdjax.losses.grid_log_prob`.
    """

    def __init__(
        self,
        num_dims: int,
        num_cells: int,
        *,
        span: float = 2.5,
        param_scale: float = 1.0,
        rngs=None,
    ):
        del rngs  # deterministic initialization
        if num_cells < 1:
            raise ValueError(f"num_cells must be >= 1; got {num_cells}")
        if span <= 0 or param_scale <= 0:
            raise ValueError(f"span and param_scale must be > 0; got {span}, {param_scale}")
        w = 2.0 * span / num_cells
        # Stored values are the effective ones / param_scale, so an Adam step moves the prior
        # param_scale times faster than the flow (its own learning-rate multiplier).
        self.param_scale = float(param_scale)
        c = self.param_scale
        self.lower = nnx.Param(jnp.full((num_dims,), -span / c, jnp.float32))
        # softplus^{-1}(w): widths = softplus(raw) + 1e-4 stay positive
        self.raw_widths = nnx.Param(jnp.full((num_dims, num_cells), np.log(np.expm1(w)) / c))
        self.logits = nnx.Param(jnp.zeros((num_cells,) * num_dims, jnp.float32))

    @property
    def widths(self) -> Array:
        return jax.nn.softplus(self.param_scale * self.raw_widths[...]) + 1e-4

    @property
    def edges(self) -> Array:
        """`[d, K + 1]` cell edges (support edges first and last)."""
        return grid_edges(self.param_scale * self.lower[...], self.widths)

    def log_prob(self, z: Array, temperature) -> Array:
        c = self.param_scale
        return grid_log_prob(
            z, c * self.lower[...], self.widths, c * self.logits[...], temperature=temperature
        )

    def fit_quantiles(self, z, *, tail: float = 0.001) -> None:
        """Data-dependent initialization (as Glow's ActNorm): per axis, edges at the
        `tail, ..., 1 - tail` quantiles of the codes `z: [n, d]` (equal-mass cells inside the
        data, none empty), uniform cell probabilities. Call it once, before training."""
        z = np.asarray(z, np.float64)
        k = self.raw_widths.shape[1]
        if z.ndim != 2 or z.shape[1] != self.lower.shape[0] or len(z) < k + 1:
            raise ValueError(
                f"fit_quantiles needs codes [n > {k}, {self.lower.shape[0]}]; got {z.shape}"
            )
        if not 0 <= tail < 0.5:
            raise ValueError(f"tail must be in [0, 0.5); got {tail}")
        q = np.quantile(z, np.linspace(tail, 1 - tail, k + 1), axis=0).T  # [d, K + 1]
        w = np.maximum(np.diff(q, axis=1) - 1e-4, 1e-4)
        c = self.param_scale
        self.lower[...] = jnp.asarray(q[:, 0] / c, jnp.float32)
        self.raw_widths[...] = jnp.asarray(np.log(np.expm1(w)) / c, jnp.float32)
        self.logits[...] = jnp.zeros_like(self.logits[...])

    def cells(self, z: Array) -> Array:
        """Hard cell index per axis `[batch, d]` (int32; outside the support: the end cell)."""
        d = self.lower.shape[0]
        if getattr(z, "ndim", None) != 2 or z.shape[1] != d:
            raise ValueError(f"z must be [batch, {d}] codes; got shape {getattr(z, 'shape', None)}")
        e = self.edges
        k = e.shape[1] - 1
        idx = jax.vmap(lambda ek, zk: jnp.searchsorted(ek[1:-1], zk, side="right"), (0, 1), 1)(e, z)
        return jnp.clip(idx, 0, k - 1).astype(jnp.int32)


class GridFlow(nnx.Module):
    """Coupling-flow encoder + grid prior: `model(x)` -> :class:`FlowOutput`.

    `encode(x)` is the code; `cells(x)` the model's own grid cells of `x`;
    `log_prob(x, temperature)` the exact log-likelihood of the observations. `rotation`: the
    flow's fixed orthogonal start (:func:`start_rotation`; default identity).
    """

    def __init__(
        self,
        num_dims: int,
        num_cells: int,
        *,
        num_layers: int = 12,
        hidden: Sequence[int] = (128, 128),
        span: float = 2.5,
        prior_lr_scale: float = 1.0,
        rotation=None,
        rngs: nnx.Rngs,
    ):
        self.flow = CouplingFlow(
            num_dims, num_layers=num_layers, hidden=tuple(hidden), rotation=rotation, rngs=rngs
        )
        self.prior = GridPrior(num_dims, num_cells, span=span, param_scale=prior_lr_scale)

    def encode(self, x: Array) -> Array:
        return self.flow.forward(x)[0]

    def data_init(self, x) -> None:
        """Places the prior's cells at quantiles of the current codes of `x: [n, d]`
        (:meth:`GridPrior.fit_quantiles`); with equal-width cells on a fixed span a cell can
        start outside the data, lose its probability and never come back (a dead cell)."""
        self.prior.fit_quantiles(self.encode(jnp.asarray(x, jnp.float32)))

    def cells(self, x: Array) -> Array:
        return self.prior.cells(self.encode(x))

    def log_prob(self, x: Array, temperature) -> Array:
        z, log_det = self.flow.forward(x)
        return self.prior.log_prob(z, temperature) + log_det

    def __call__(self, x: Array, *, key: jax.Array | None = None) -> FlowOutput:
        del key  # deterministic
        z, log_det = self.flow.forward(x)
        return FlowOutput(x_hat=self.flow.inverse(z), z=z, z_mean=z, log_det=log_det)

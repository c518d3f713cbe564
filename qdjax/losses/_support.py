"""Factorized-support baselines: HFS (Roth et al., 2023) and an IOSS surrogate (Wang & Jordan).

Both compare the joint support of a latent batch `z: [batch, num_latents]` with the Cartesian
product of its marginal supports, pair by pair, using (squared) Euclidean nearest-neighbour
distances between finite point sets. Both return a symmetric `[d, d]` matrix of per-pair
values with zero diagonal (same convention as :func:`qdjax.losses._cliff.cliff_bivariate`);
the caller reduces (e.g. `jnp.sum(m) / (d * (d - 1))`).

Squared distances are used throughout: with the hard maximum,
:math:`\\max_x \\min_y \\|x - y\\|^2` is exactly the squared Hausdorff distance, and unlike
:math:`\\|\\cdot\\|` it is differentiable where a product point coincides with a sample (which
always happens for the diagonal points `(z_ai, z_aj)`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from qdjax._src.typing import Array, ArrayLike
from qdjax.losses import _cliff


def _check_latents(z: ArrayLike, fn: str) -> Array:
    """The Cliff losses' check (shape, float dtype, batch >= 2, NaN/Inf when concrete) plus
    the pairwise requirement `num_latents >= 2`."""
    z = _cliff._check_latents(z, fn)
    if z.shape[1] < 2:
        raise ValueError(
            f"{fn}: need num_latents >= 2 (the terms are pairwise); got shape {z.shape}"
        )
    return z


def _maybe_standardize(z: Array, standardize: bool, eps: float) -> Array:
    if not standardize:
        return z
    return (z - jnp.mean(z, axis=0, keepdims=True)) / jnp.sqrt(
        jnp.var(z, axis=0, keepdims=True) + eps
    )


def _soft_max(x: Array, temperature: float | None, axis) -> Array:
    """Hard max, or :math:`\\tau \\log \\operatorname{mean} e^{x/\\tau}` (mean <= . <= max)."""
    if temperature is None:
        return jnp.max(x, axis=axis)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive or None; got {temperature}")
    n = math.prod(x.shape[a] for a in axis) if isinstance(axis, tuple) else x.shape[axis]
    return temperature * (jax.nn.logsumexp(x / temperature, axis=axis) - math.log(n))


def _to_matrix(values: Array, d: int, rows: np.ndarray, cols: np.ndarray) -> Array:
    out = jnp.zeros((d, d), values.dtype).at[rows, cols].set(values)
    return out + out.T


def _min_plus(x: Array, y: Array, chunk_size: int) -> Array:
    """:math:`n_{pab} = \\min_c (x_{pac} + y_{pbc})` for `x: [P, A, C]`, `y: [P, B, C]`.

    The `O(P A B C)` search for the minimizing `c` runs without gradient (`lax.map` over chunks
    of `a`, working memory `chunk_size * P * B * C`); the value is then re-gathered at the
    argmin, so the backward pass costs `O(P A B)` and stores no `[P, A, B, C]` tensor.
    """
    x_ng, y_ng = jax.lax.stop_gradient(x), jax.lax.stop_gradient(y)

    def argnearest(x_a: Array) -> Array:  # [P, C] -> [P, B]
        return jnp.argmin(x_a[:, None, :] + y_ng, axis=-1)

    idx = jax.lax.map(argnearest, jnp.swapaxes(x_ng, 0, 1), batch_size=chunk_size)  # [A, P, B]
    idx = jnp.swapaxes(idx, 0, 1)  # [P, A, B]
    from_x = jnp.take_along_axis(x, idx, axis=2)  # x[p, a, idx[p, a, b]]
    from_y = jnp.take_along_axis(y, jnp.swapaxes(idx, 1, 2), axis=2)  # y[p, b, idx[p, a, b]]
    return from_x + jnp.swapaxes(from_y, 1, 2)


def hfs_pairwise(
    z: ArrayLike,
    *,
    temperature: float | None = None,
    standardize: bool = True,
    chunk_size: int = 8,
    eps: float = 1e-6,
) -> Array:
    """Pairwise Hausdorff factorized support (HFS) distance, squared.

    For a pair of latents `(i, j)` the joint support sample is
    :math:`S_{ij} = \\{(z_{ci}, z_{cj})\\}_{c}` and the factorized (product) sample is
    :math:`F_{ij} = \\{(z_{ai}, z_{bj})\\}_{a, b}`, `B^2` points. Since
    :math:`S_{ij} \\subset F_{ij}` only one direction of the Hausdorff distance is non-zero:

    .. math::
        \\mathrm{HFS}_{ij} = \\operatorname*{softmax}_{\\tau,\\,(a, b)}\\;
            \\min_c \\big[(z_{ai} - z_{ci})^2 + (z_{bj} - z_{cj})^2\\big],
        \\qquad
        \\operatorname*{softmax}_\\tau x = \\tau \\log \\frac{1}{N} \\sum_n e^{x_n / \\tau}

    With `temperature=None` the soft maximum is the hard maximum (the squared Hausdorff
    distance of Roth et al.'s pairwise variant); a temperature :math:`\\tau > 0` interpolates
    between the mean (:math:`\\tau \\to \\infty`) and the maximum (:math:`\\tau \\to 0`) of
    the `B^2` nearest-neighbour distances, spreading the gradient over many product points.
    In standardized units :math:`\\tau \\approx 0.1` is a reasonable start.

    Complexity: `O(d^2 B^3)` time per batch (min-plus product per pair), `O(d^2 B^2)` memory
    for the per-pair nearest-neighbour table plus `O(chunk_size d^2 B^2)` working memory: rows
    `a` of the product set are processed `chunk_size` at a time with `jax.lax.map`. Use
    batches of at most a few hundred (Roth et al. use 64 to 256).

    Args:
      z: latents, `[batch, num_latents]`, `num_latents >= 2`.
      temperature: soft-maximum temperature :math:`\\tau` (squared-distance units), or `None`
        for the hard maximum.
      standardize: standardize each latent over the batch first (default), so the penalty
        cannot be lowered by shrinking the latents, down to a latent std of about
        `sqrt(eps)` (1e-3 at the default `eps`; below it the absolute floor takes over and
        the penalty shrinks with the latents: pass a smaller `eps` for such codes);
        `False` gives the raw-scale variant of the paper (which relies on a VAE prior to fix
        the scale).
      chunk_size: product-set rows per `lax.map` step (memory/speed trade-off).
      eps: variance floor for standardization (absolute: it matters once a latent's
        variance approaches it).

    Returns:
      `[num_latents, num_latents]` symmetric matrix of squared pairwise HFS distances, zero
      diagonal.

    References:
      Roth, Ibrahim, Akata, Vincent, Bouchacourt, "Disentanglement of Correlated Factors via
      Hausdorff Factorized Support", ICLR 2023.

    Example:
      >>> z = jax.random.uniform(jax.random.key(0), (64, 3))
      >>> hfs_pairwise(z).shape
      (3, 3)
    """
    z = _check_latents(z, "hfs_pairwise")
    if chunk_size < 1:
        raise ValueError(f"hfs_pairwise: chunk_size must be >= 1; got {chunk_size}")
    zs = _maybe_standardize(z, standardize, eps)
    d = z.shape[1]
    rows, cols = np.triu_indices(d, k=1)
    sq = jnp.square(zs.T[:, :, None] - zs.T[:, None, :])  # [d, B(a), B(c)]
    nn = _min_plus(sq[rows], sq[cols], chunk_size)  # [P, B(a), B(b)]
    return _to_matrix(_soft_max(nn, temperature, axis=(1, 2)), d, rows, cols)


def ioss_pairwise(
    z: ArrayLike,
    *,
    num_quantiles: int = 10,
    temperature: float | None = None,
    standardize: bool = True,
    eps: float = 1e-6,
) -> Array:
    """Independence-of-support (IOSS) surrogate: holes of the joint support in a quantile grid.

    Wang & Jordan's IOSS asks that the support of the joint equal the product of the marginal
    supports, :math:`\\mathrm{supp}(Z) = \\prod_i \\mathrm{supp}(Z_i)`, and measure the gap by
    a Hausdorff distance between the two sets. This surrogate represents each marginal support
    by its `Q` empirical quantiles at levels :math:`0, 1/(Q-1), \\dots, 1` (levels 0 and 1 are
    the min and max, i.e. the corners of the support box) and, per pair `(i, j)`, measures the
    directed Hausdorff distance from the `Q^2` product grid to the joint sample:

    .. math::
        \\mathrm{IOSS}_{ij} = \\operatorname*{softmax}_{\\tau,\\,(k, l)}\\;
            \\min_c \\big[(q_{ik} - z_{ci})^2 + (q_{jl} - z_{cj})^2\\big]

    (soft maximum as in :func:`hfs_pairwise`). A grid node far from every sample is a hole in
    the joint support, i.e. a dependence of supports. Only the product-to-joint direction is
    used: the joint-to-grid direction measures the grid resolution, not independence.
    Differences from :func:`hfs_pairwise`: `Q^2` deterministic grid points instead of all
    `B^2` product points, so cost is `O(d^2 Q^2 B)` time and `O(d Q^2 B)` memory (a
    `lax.map` over the `Q` rows) and it scales to large batches; gradients reach the samples
    through the nearest-neighbour distances and the quantiles (order statistics).

    Args:
      z: latents, `[batch, num_latents]`, `num_latents >= 2`.
      num_quantiles: quantile levels `Q >= 2` per latent (2 = support-box corners only).
      temperature: soft-maximum temperature, or `None` for the hard maximum.
      standardize: standardize each latent over the batch first (default); see
        :func:`hfs_pairwise`.
      eps: variance floor for standardization (absolute: it matters once a latent's
        variance approaches it).

    Returns:
      `[num_latents, num_latents]` symmetric matrix of squared directed Hausdorff distances,
      zero diagonal.

    References:
      Wang, Jordan, "Desiderata for Representation Learning: A Causal Perspective",
      arXiv:2109.03795 (IOSS).

    Example:
      >>> z = jax.random.uniform(jax.random.key(0), (256, 3))
      >>> ioss_pairwise(z).shape
      (3, 3)
    """
    z = _check_latents(z, "ioss_pairwise")
    if num_quantiles < 2:
        raise ValueError(f"ioss_pairwise: num_quantiles must be >= 2; got {num_quantiles}")
    zs = _maybe_standardize(z, standardize, eps)
    d = z.shape[1]
    rows, cols = np.triu_indices(d, k=1)
    levels = jnp.asarray(np.linspace(0.0, 1.0, num_quantiles), z.dtype)
    q = jnp.quantile(zs, levels, axis=0)  # [Q, d]
    sq = jnp.square(q.T[:, :, None] - zs.T[:, None, :])  # [d, Q, B]
    nn = _min_plus(sq[rows], sq[cols], 1)  # [P, Q(k), Q(l)]
    return _to_matrix(_soft_max(nn, temperature, axis=(1, 2)), d, rows, cols)

"""Variants of the Cliff criterion, kept side by side for criterion-consistency checks.

:func:`qdjax.losses.cliff_loss` is the formulation of the seed paper as first implemented
here ("v1": Silverman bandwidth, entropy of the marginal :math:`|\\hat p'|`, JSD of
conditional cliff profiles, :math:`\\mathrm{KL}(U \\| \\hat p)` anti-collapse).
:func:`cliff_loss_variant` exposes the choices that the consistency table of
`experiments/synthetic/README.md` measures, each one keyword:

* `bandwidth`: `None` (Silverman's rule) or a fixed value in standardized units (the
  paper's fixed sigma).
* `univariate`: `"marginal"` (v1: entropy of the normalized marginal :math:`|\\hat p_i'|`) or
  `"conditional"` (joint-aware: the :math:`\\pi`-weighted entropy of the conditional profiles
  :math:`q_{ijm}` that the bivariate term already computes, i.e. cliffs read from
  :math:`p(z_i \\mid z_j = u_m)`; for a grid whose cell probabilities are dependent these are
  sharper than the marginal ones, which mix cliffs of different heights).
* `anti_collapse`: `"uniform_kl"` (v1), `"gap"` (a hinge that is zero unless the standardized
  density falls below `gap_level` times the uniform density :math:`1/(2\\sqrt3)` somewhere in
  :math:`[-\\sqrt3, \\sqrt3]`: it penalizes holes without rewarding flat marginals) or
  `"none"`; `anti_collapse_bandwidth` evaluates it with its own (e.g. smaller) bandwidth.

:data:`CLIFF_VARIANTS` names the measured configurations; every entry is a callable
`z -> CliffTerms`.

References:
  Cliff: Operationalizing Quantized Disentanglement, arXiv:2511.20927.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike
from qdjax.losses._cliff import (
    _LOG_SQRT_2PI,
    _SQRT3,
    CliffTerms,
    CliffWeights,
    _check_grid,
    _check_latents,
    _conditioning_values,
    _entropy,
    _normalize,
    _setup,
    _uniform_kl,
    _uniform_slice,
    _univariate,
    cliff_loss,
)

_UNIVARIATE = ("marginal", "conditional", "relative")
_ANTI_COLLAPSE = ("uniform_kl", "gap", "none")


def _conditional_profiles(zs: Array, dkernel: Array, h: Array, u: Array, eps: float):
    """Normalized conditional cliff profiles `q: [d, d, M, T]` and weights `pi: [d, M]`.

    Same contraction as :func:`qdjax.losses.cliff_bivariate` (see its docstring).
    """
    w = jnp.exp(-0.5 * jnp.square((zs[:, None, :] - u[None, :, None]) / h))  # [B, M, d]
    deriv = jnp.einsum("bmj,bti->ijmt", w, dkernel)
    mass = jnp.sum(w, axis=0)  # [M, d]
    norm = jnp.square(h) * math.sqrt(2.0 * math.pi) * jnp.maximum(mass, eps)
    q = _normalize(jnp.abs(deriv / norm.T[None, :, :, None]), eps, axis=-1)
    total = jnp.maximum(jnp.sum(mass, axis=0, keepdims=True), eps)
    return q, (mass / total).T


def _gap_hinge(x_inside: Array, h: Array, level: float, eps: float) -> Array:
    """Mean over the grid inside the uniform support of `relu(log(level / (2 sqrt3)) - log p)`."""
    num_samples = x_inside.shape[0]
    log_norm = jnp.log(num_samples * h) + _LOG_SQRT_2PI
    log_p = jax.nn.logsumexp(-0.5 * jnp.square(x_inside), axis=0) - log_norm  # [K, d]
    log_p = jnp.logaddexp(log_p, jnp.log(jnp.asarray(eps, log_p.dtype)))
    floor = math.log(level / (2.0 * _SQRT3))
    return jnp.mean(jax.nn.relu(floor - log_p), axis=0)


def cliff_loss_variant(
    z: ArrayLike,
    *,
    bandwidth: float | None = None,
    univariate: str = "marginal",
    anti_collapse: str = "uniform_kl",
    anti_collapse_bandwidth: float | None = None,
    gap_level: float = 0.25,
    relative_floor: float = 0.2,
    grid_size: int = 100,
    grid_range: float = 5.0,
    num_conditioning: int = 10,
    conditioning_range: float = _SQRT3,
    weights: CliffWeights = CliffWeights(),
    eps: float = 1e-6,
) -> CliffTerms:
    """Cliff loss with selectable univariate, anti-collapse and bandwidth choices.

    .. math::
        \\mathcal L = \\lambda_\\mathrm{uni} U + \\lambda_\\mathrm{biv}
            \\frac{1}{d(d-1)} \\sum_{i \\ne j} \\mathrm{JSD}_{ij} + \\lambda_\\mathrm{unif} A

    with `U` the mean marginal entropy :math:`\\frac1d \\sum_i H_i` (`"marginal"`, as
    :func:`qdjax.losses.cliff_univariate`) or the mean conditional entropy
    :math:`\\frac{1}{d(d-1)} \\sum_{i \\ne j} \\sum_m \\pi_{jm} H(q_{ijm})` (`"conditional"`,
    notation of :func:`qdjax.losses.cliff_bivariate`), and `A` the mean over latents of
    :math:`\\mathrm{KL}(U \\| \\hat p_i)` (`"uniform_kl"`), of
    :math:`\\frac1K \\sum_{|t_k| \\le \\sqrt3} \\max(0, \\log \\frac{\\ell}{2\\sqrt3} -
    \\log \\hat p_i(t_k))` (`"gap"`, :math:`\\ell` = `gap_level`), or 0 (`"none"`).
    With the defaults it equals :func:`qdjax.losses.cliff_loss` (same values).

    Args:
      z: latents, `[batch, num_latents]` (the global batch).
      bandwidth: KDE bandwidth in standardized units, `None` = Silverman's rule.
      univariate: `"marginal"` or `"conditional"` (needs `num_latents >= 2`).
      anti_collapse: `"uniform_kl"`, `"gap"` or `"none"`.
      anti_collapse_bandwidth: bandwidth of the anti-collapse KDE; `None` = `bandwidth`.
      gap_level: density floor of `"gap"` as a fraction of the uniform density, in `(0, 1]`.
      grid_size: see :func:`qdjax.losses.kde_marginals`.
      grid_range: see :func:`qdjax.losses.kde_marginals`.
      num_conditioning: see :func:`qdjax.losses.cliff_bivariate`.
      conditioning_range: see :func:`qdjax.losses.cliff_bivariate`.
      weights: a :class:`qdjax.losses.CliffWeights`.
      eps: standardization floor, normalization/log offset and density floor.

    Returns:
      A :class:`qdjax.losses.CliffTerms` of scalars (`uniform` holds the anti-collapse term).

    Example:
      >>> z = jax.random.uniform(jax.random.key(0), (512, 2))
      >>> t = cliff_loss_variant(z, bandwidth=0.2, anti_collapse="gap")
      >>> float(t.uniform)
      0.0
    """
    z = _check_latents(z, "cliff_loss_variant")
    _check_grid(grid_size, grid_range, "cliff_loss_variant")
    if univariate not in _UNIVARIATE:
        raise ValueError(f"cliff_loss_variant: univariate must be one of {_UNIVARIATE}")
    if anti_collapse not in _ANTI_COLLAPSE:
        raise ValueError(f"cliff_loss_variant: anti_collapse must be one of {_ANTI_COLLAPSE}")
    if not 0.0 < gap_level <= 1.0:
        raise ValueError(f"cliff_loss_variant: gap_level must be in (0, 1]; got {gap_level}")
    if num_conditioning < 1:
        raise ValueError(
            f"cliff_loss_variant: num_conditioning must be >= 1; got {num_conditioning}"
        )
    for name, value in (
        ("bandwidth", bandwidth),
        ("anti_collapse_bandwidth", anti_collapse_bandwidth),
    ):
        if value is not None and not value > 0:
            raise ValueError(f"cliff_loss_variant: {name} must be > 0 or None; got {value}")
    d = z.shape[1]
    if univariate == "conditional" and d < 2:
        raise ValueError("cliff_loss_variant: univariate='conditional' needs num_latents >= 2")
    inside = _uniform_slice(grid_size, grid_range)
    zs, _, _, _, h, x = _setup(z, bandwidth, grid_size, grid_range, eps)
    dkernel = -x * jnp.exp(-0.5 * jnp.square(x))  # [B, T, d]
    off = (1.0 - jnp.eye(d, dtype=z.dtype))[:, :, None]
    if d > 1:
        u = _conditioning_values(num_conditioning, conditioning_range, z.dtype)
        q, pi = _conditional_profiles(zs, dkernel, h, u, eps)
        mixture = jnp.einsum("jm,ijmt->ijt", pi, q)
        cond_entropy = jnp.einsum("jm,ijm->ij", pi, _entropy(q, eps))
        jsd = (_entropy(mixture, eps) - cond_entropy) * off[..., 0]
        bivariate = jnp.sum(jsd) / (d * (d - 1))
    else:
        bivariate = jnp.zeros((), z.dtype)
    if univariate == "marginal":
        derivative = jnp.sum(dkernel, axis=0) / (
            z.shape[0] * jnp.square(h) * math.sqrt(2 * math.pi)
        )
        uni = jnp.mean(_univariate(derivative, eps))
    elif univariate == "relative":
        norm = z.shape[0] * h * math.sqrt(2 * math.pi)
        density = jnp.sum(jnp.exp(-0.5 * jnp.square(x)), axis=0) / norm
        derivative = jnp.sum(dkernel, axis=0) / (norm * h)
        floor = relative_floor / (2.0 * _SQRT3)
        uni = jnp.mean(_univariate(derivative / (density + floor), eps))
    else:
        uni = jnp.sum(cond_entropy * off[..., 0]) / (d * (d - 1))
    if anti_collapse == "none":
        anti = jnp.zeros((), z.dtype)
    else:
        if anti_collapse_bandwidth is None:
            xa, ha = x, h
        else:
            _, _, _, _, ha, xa = _setup(z, anti_collapse_bandwidth, grid_size, grid_range, eps)
        if anti_collapse == "uniform_kl":
            anti = jnp.mean(_uniform_kl(xa[:, inside], ha, eps))
        else:
            anti = jnp.mean(_gap_hinge(xa[:, inside], ha, gap_level, eps))
    total = weights.univariate * uni + weights.bivariate * bivariate + weights.uniform * anti
    return CliffTerms(total, uni, bivariate, anti)


#: Named Cliff criteria measured in the consistency table; each maps `z -> CliffTerms`.
#: "v1" is :func:`qdjax.losses.cliff_loss` with its defaults (the formulation first shipped).
CLIFF_VARIANTS: dict[str, Callable[[ArrayLike], CliffTerms]] = {
    "v1": cliff_loss,
    "v1_h0.1": functools.partial(cliff_loss, bandwidth=0.1),
    "v1_h0.2": functools.partial(cliff_loss, bandwidth=0.2),
    "v1_h0.5": functools.partial(cliff_loss, bandwidth=0.5),
    "gap": functools.partial(cliff_loss_variant, anti_collapse="gap"),
    "gap_h0.2": functools.partial(cliff_loss_variant, bandwidth=0.2, anti_collapse="gap"),
    "cond": functools.partial(cliff_loss_variant, univariate="conditional"),
    "rel": functools.partial(cliff_loss_variant, univariate="relative"),
    "rel_gap": functools.partial(cliff_loss_variant, univariate="relative", anti_collapse="gap"),
    "rel_f0.05": functools.partial(cliff_loss_variant, univariate="relative", relative_floor=0.05),
    "rel_f1": functools.partial(cliff_loss_variant, univariate="relative", relative_floor=1.0),
    "v2": functools.partial(cliff_loss_variant, univariate="conditional", anti_collapse="gap"),
    "cond_gap": functools.partial(
        cliff_loss_variant, univariate="conditional", anti_collapse="gap"
    ),
    "cond_gap_a0.1": functools.partial(
        cliff_loss_variant,
        univariate="conditional",
        anti_collapse="gap",
        anti_collapse_bandwidth=0.1,
    ),
    "cond_gap_a0.1_l0.1": functools.partial(
        cliff_loss_variant,
        univariate="conditional",
        anti_collapse="gap",
        anti_collapse_bandwidth=0.1,
        gap_level=0.1,
    ),
    "cond_gap_h0.2": functools.partial(
        cliff_loss_variant, bandwidth=0.2, univariate="conditional", anti_collapse="gap"
    ),
    "cond_gap_w3": functools.partial(
        cliff_loss_variant,
        univariate="conditional",
        anti_collapse="gap",
        weights=CliffWeights(uniform=3.0),
    ),
    "kl_h0.05": functools.partial(cliff_loss_variant, anti_collapse_bandwidth=0.05),
    "no_anti": functools.partial(cliff_loss_variant, anti_collapse="none"),
}


def cliff_variant(name: str) -> Callable[[ArrayLike], CliffTerms]:
    """The named criterion of :data:`CLIFF_VARIANTS`; ValueError naming the choices if unknown."""
    if name not in CLIFF_VARIANTS:
        raise ValueError(f"unknown Cliff variant {name!r}; use one of {sorted(CLIFF_VARIANTS)}")
    return CLIFF_VARIANTS[name]

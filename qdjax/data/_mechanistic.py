"""Invertible-MLP generators with controlled support overlap between latent groups.

In the style of Brady et al. (2023)'s compositional generators, for the support-overlap
sweep of seed 004 (mechanistic independence). ``K`` groups ("slots") of ``group_dim``
latents each; group ``k`` drives its own *private* output coordinates and all *shared*
ones:

.. code-block:: text

    h_k = W_{k,L} σ(... W_{k,1} σ(W_{k,0} z_{G_k}))         (σ = LeakyReLU(slope))
    x[private_k] = h_k[:p_k]
    x[shared]    = φ(Σ_k h_k[p_k:])                           (φ = tanh, or identity)

The *support-overlap ratio* is the fraction of output coordinates that depend on more
than one group: ``len(shared) / obs_dim = round(overlap * obs_dim) / obs_dim``. With
``combine="tanh"`` the shared coordinates mix the groups non-additively (cross second
derivatives ≠ 0 there); ``"sum"`` keeps the generator additive over groups.

Each ``W_{k,0}: [group_dim, m_k]`` (``m_k = p_k + len(shared)``) and each square
``W_{k,l}: [m_k, m_k]`` is a Gaussian draw scaled by ``1/sqrt(fan_in)`` that is rejected
and redrawn while its condition number exceeds ``max_condition``; every private block has
``p_k >= group_dim`` outputs, so the generator is injective and a local diffeomorphism
onto its image — checked numerically (``σ_min/σ_max`` of the Jacobian at sample points).

Latents: ``N(0, I)``, or ``N(0, C)`` with ``C`` the correlation matrix of a Wishart draw
``Aᵀ A / df`` (``A: [df, d_z]`` Gaussian; ``df = d_z + 2`` by default: strongly correlated).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "MechanisticDataset",
    "MechanisticGenerator",
    "make_mechanistic",
    "generator_forward",
    "make_mechanistic_generator",
]


class MechanisticGenerator(NamedTuple):
    """A sampled generator. ``decode(z)`` maps ``[..., d_z] -> [..., obs_dim]`` (JAX).

    Attributes:
      weights: per group, the tuple of its layer matrices (``W_0`` first).
      groups: latent indices of each group (contiguous blocks).
      private: per group, its private output coordinates.
      shared: the shared output coordinates.
      obs_dim: number of outputs.
      combine: ``"tanh"`` or ``"sum"``.
      slope: LeakyReLU slope.
    """

    weights: tuple[tuple[np.ndarray, ...], ...]
    groups: tuple[tuple[int, ...], ...]
    private: tuple[np.ndarray, ...]
    shared: np.ndarray
    obs_dim: int
    combine: str
    slope: float

    @property
    def overlap(self) -> float:
        """Fraction of outputs that depend on more than one group."""
        return len(self.shared) / self.obs_dim

    def decode(self, z):
        z = jnp.asarray(z)
        x = jnp.zeros((*z.shape[:-1], self.obs_dim), z.dtype)
        shared = 0.0
        for g, ws, priv in zip(self.groups, self.weights, self.private):  # K groups
            h = z[..., list(g)] @ jnp.asarray(ws[0], z.dtype)
            for w in ws[1:]:
                h = jax.nn.leaky_relu(h, self.slope) @ jnp.asarray(w, z.dtype)
            x = x.at[..., priv].set(h[..., : len(priv)])
            shared = shared + h[..., len(priv) :]
        if len(self.shared):
            x = x.at[..., self.shared].set(jnp.tanh(shared) if self.combine == "tanh" else shared)
        return x


class MechanisticDataset(NamedTuple):
    """``x: [n, obs_dim]`` float32, ``z: [n, d_z]`` float32, the generator and the latent
    covariance ``[d_z, d_z]`` (float64 on purpose: the exact reference the latents were drawn
    from, never fed to a model)."""

    x: np.ndarray
    z: np.ndarray
    generator: MechanisticGenerator
    covariance: np.ndarray


def generator_forward(gen: MechanisticGenerator, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy float64 ``(x: [n, obs_dim], jacobian: [n, obs_dim, d_z])`` by the chain rule
    (host-side, no compilation: used for sampling and the rank check)."""
    z = np.asarray(z, np.float64)
    n, d_z = z.shape
    x = np.zeros((n, gen.obs_dim))
    jac = np.zeros((n, gen.obs_dim, d_z))
    u = 0.0
    du = np.zeros((n, len(gen.shared), d_z))
    for g, ws, priv in zip(gen.groups, gen.weights, gen.private):
        h = z[:, list(g)] @ ws[0]
        j = np.broadcast_to(ws[0].T, (n, *ws[0].T.shape)).astype(np.float64)  # [n, m, |g|]
        for w in ws[1:]:
            slope = np.where(h > 0, 1.0, gen.slope)
            h = (h * slope) @ w
            j = np.einsum("ml,nmg->nlg", w, slope[:, :, None] * j)
        p = len(priv)
        x[:, priv] = h[:, :p]
        jac[:, priv[:, None], list(g)] = j[:, :p]
        u = u + h[:, p:]
        du[:, :, list(g)] += j[:, p:]
    if len(gen.shared):
        scale = 1.0 - np.tanh(u) ** 2 if gen.combine == "tanh" else np.ones_like(u)
        x[:, gen.shared] = np.tanh(u) if gen.combine == "tanh" else u
        jac[:, gen.shared] = scale[:, :, None] * du
    return x, jac


def _well_conditioned(rng, shape, max_condition: float, max_tries: int) -> np.ndarray:
    for _ in range(max_tries):
        w = rng.standard_normal(shape) / math.sqrt(shape[0])
        if np.linalg.cond(w) <= max_condition:
            return w.astype(np.float32)
    raise ValueError(
        f"no {shape} weight draw with condition number <= {max_condition} in {max_tries} tries; "
        "raise max_condition or lower obs_dim"
    )


def make_mechanistic_generator(
    seed: int,
    *,
    num_groups: int = 2,
    group_dim: int = 2,
    obs_dim: int = 40,
    overlap: float = 0.0,
    num_layers: int = 2,
    combine: str = "tanh",
    slope: float = 0.2,
    max_condition: float = 50.0,
    max_tries: int = 1000,
    min_rank_ratio: float = 1e-3,
) -> MechanisticGenerator:
    """Draws a generator (see the module docstring); deterministic given ``seed``.

    Args:
      seed: NumPy seed.
      num_groups: ``K >= 2`` groups.
      group_dim: latents per group.
      obs_dim: outputs ``d_x``.
      overlap: support-overlap ratio in ``[0, 1)``: ``round(overlap * obs_dim)`` shared outputs.
      num_layers: layers per group MLP (>= 1; the first maps ``group_dim -> m_k``).
      combine: ``"tanh"`` (non-additive shared outputs) or ``"sum"`` (additive).
      slope: LeakyReLU slope in ``(0, 1]`` (invertible).
      max_condition: reject weight draws whose condition number exceeds it.
      max_tries: draws per weight before giving up.
      min_rank_ratio: reject the generator if ``σ_min/σ_max`` of its Jacobian falls below
        this at any of 64 sampled points (local diffeomorphism check).

    Raises:
      ValueError: on impossible sizes (each group needs ``>= group_dim`` private outputs),
        a ratio outside ``[0, 1)``, a bad ``combine`` or ``slope``, or no acceptable draw.
    """
    if num_groups < 2 or group_dim < 1:
        raise ValueError(f"need num_groups >= 2 and group_dim >= 1; got {num_groups}, {group_dim}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be a ratio in [0, 1) (e.g. 0.2 for 20 %); got {overlap}")
    if combine not in ("tanh", "sum"):
        raise ValueError(f"combine must be 'tanh' or 'sum'; got {combine!r}")
    if not 0.0 < slope <= 1.0:
        raise ValueError(f"slope must be in (0, 1] (an invertible LeakyReLU); got {slope}")
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1; got {num_layers}")
    num_shared = int(round(overlap * obs_dim))
    num_private = obs_dim - num_shared
    if num_private < num_groups * group_dim:
        raise ValueError(
            f"obs_dim={obs_dim} with overlap {overlap} leaves {num_private} private outputs; each "
            f"of the {num_groups} groups needs >= group_dim={group_dim}: raise obs_dim"
        )
    rng = np.random.default_rng(seed)
    sizes = [num_private // num_groups + (k < num_private % num_groups) for k in range(num_groups)]
    bounds = np.cumsum([0, *sizes])
    private = tuple(np.arange(bounds[k], bounds[k + 1]) for k in range(num_groups))
    shared = np.arange(num_private, obs_dim)
    groups = tuple(tuple(range(k * group_dim, (k + 1) * group_dim)) for k in range(num_groups))
    d_z = num_groups * group_dim
    for _ in range(max_tries):
        weights = []
        for k in range(num_groups):
            m = sizes[k] + num_shared
            ws = [_well_conditioned(rng, (group_dim, m), max_condition, max_tries)]
            for _ in range(num_layers - 1):
                ws.append(_well_conditioned(rng, (m, m), max_condition, max_tries))
            weights.append(tuple(ws))
        gen = MechanisticGenerator(
            tuple(weights), groups, private, shared, obs_dim, combine, float(slope)
        )
        _, jac = generator_forward(gen, rng.standard_normal((64, d_z)))
        s = np.linalg.svd(jac, compute_uv=False)
        if np.min(s[:, -1] / s[:, 0]) >= min_rank_ratio:
            return gen
    raise ValueError(f"no full-rank generator in {max_tries} draws; lower min_rank_ratio")


def latent_covariance(
    seed: int, num_latents: int, *, latents: str = "normal", wishart_df: int | None = None
) -> np.ndarray:
    """Identity (``"normal"``) or the correlation matrix of a Wishart draw (``"wishart"``)."""
    if latents == "normal":
        return np.eye(num_latents)
    if latents != "wishart":
        raise ValueError(f"latents must be 'normal' or 'wishart'; got {latents!r}")
    df = num_latents + 2 if wishart_df is None else int(wishart_df)
    if df < num_latents:
        raise ValueError(f"wishart_df must be >= num_latents ({num_latents}); got {df}")
    a = np.random.default_rng([seed, 1]).standard_normal((df, num_latents))
    cov = a.T @ a / df
    d = np.sqrt(np.diag(cov))
    return cov / d[:, None] / d[None, :]


def make_mechanistic(
    seed: int,
    num_samples: int,
    *,
    latents: str = "normal",
    wishart_df: int | None = None,
    **generator_kwargs,
) -> MechanisticDataset:
    """Samples ``num_samples`` latents and their observations from a fresh generator.

    ``generator_kwargs`` go to :func:`make_mechanistic_generator` (``num_groups``,
    ``group_dim``, ``obs_dim``, ``overlap``, ...). Deterministic given ``seed``.

    Example:
      >>> ds = make_mechanistic(0, 100, num_groups=2, group_dim=2, obs_dim=40, overlap=0.2)
      >>> ds.x.shape, ds.z.shape, ds.generator.overlap
      ((100, 40), (100, 4), 0.2)
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    gen = make_mechanistic_generator(seed, **generator_kwargs)
    d_z = sum(len(g) for g in gen.groups)
    cov = latent_covariance(seed, d_z, latents=latents, wishart_df=wishart_df)
    chol = np.linalg.cholesky(cov)
    eps = np.random.default_rng([seed, 2]).standard_normal((num_samples, d_z))
    z = (eps @ chol.T).astype(np.float32)
    x = generator_forward(gen, z)[0].astype(np.float32)
    return MechanisticDataset(x, z, gen, cov)

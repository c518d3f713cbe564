"""`jacobian_groups(decode, z)`: the entry point users call first, and its plots.

It computes the decoder's Jacobians at the points ``z``, the support graph G_D and its
connected components (the recovered factor groups), then runs the Type D/M/S/H checks
and the full-rank check on a partition: the ``groups`` you pass (a hypothesis, e.g. the
planted slots or a model's latent blocks) or else the recovered one.

Overall verdict (``JacobianVerdict.holds``): ``False`` if the decoder is not a local
diffeomorphism (rank) or there is only one group; ``None`` (cannot tell) if the
recovered grouping changes within a factor 10 of the tolerance; otherwise ``True`` when
at least one of Type D, M, S, H holds on the sampled points (each implies identifiability
of the groups up to block permutation under the seed's assumptions), ``False`` when all
fail.

Example::

    v = qd.identifiability.jacobian_groups(lambda z: dec(z[None])[0], z_points)
    print(v.summary(), v.groups)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse.csgraph

from qdjax.identifiability._jacobian import (
    Groups,
    _check_points,
    _check_tol,
    check_groups,
    column_scales,
    components,
    decoder_jacobians,
    group_support,
    support_graph,
    support_mask,
)
from qdjax.identifiability._jacobian_checks import (
    FullRankVerdict,
    TypeDVerdict,
    TypeHVerdict,
    TypeMVerdict,
    TypeSVerdict,
    full_rank,
    type_d,
    type_h,
    type_m,
    type_s,
)
from qdjax.identifiability._verdict import Verdict

__all__ = [
    "JacobianVerdict",
    "SupportStability",
    "jacobian_groups",
    "plot_support",
    "plot_support_graph",
    "support_stability",
]


@dataclasses.dataclass(frozen=True)
class SupportStability(Verdict):
    """The components of G_D at each tolerance of a log-spaced range around ``tolerance``;
    holds if the grouping is the same at all of them."""

    tolerances: tuple[float, ...] = ()
    groups_per_tolerance: tuple[Groups, ...] = ()
    stable_range: tuple[float, float] = (0.0, 0.0)


def support_stability(
    jac, *, tol: float = 1e-2, factors: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0)
) -> SupportStability:
    """Recovered groups at ``tol * factor`` for each factor (clipped below 1)."""
    tol = _check_tol(tol)
    tols = tuple(sorted({min(tol * f, 0.5) for f in factors}))
    per = tuple(components(support_graph(support_mask(jac, tol=t))) for t in tols)
    ref = components(support_graph(support_mask(jac, tol=tol)))
    same = [p == ref for p in per]
    lo = hi = tols.index(min(tols, key=lambda t: abs(t - tol)))
    while lo > 0 and same[lo - 1]:
        lo -= 1
    while hi < len(tols) - 1 and same[hi + 1]:
        hi += 1
    holds = all(same)
    reason = (
        f"the same {len(ref)} group(s) for every tolerance in [{tols[0]:g}, {tols[-1]:g}]"
        if holds
        else f"the grouping changes with the tolerance (stable only in [{tols[lo]:g}, "
        f"{tols[hi]:g}]): the support decision is sensitive"
    )
    return SupportStability(holds, tol, reason, tols, per, (tols[lo], tols[hi]))


@dataclasses.dataclass(frozen=True)
class JacobianVerdict(Verdict):
    """Result of :func:`jacobian_groups`.

    Attributes:
      groups: recovered factor groups (connected components of G_D), tuples of latents.
      checked_groups: the partition the criteria were evaluated on (``groups`` argument,
        else ``groups``, else the Type H components when G_D is connected).
      criteria: names of the criteria that hold (subset of ``("D", "M", "S", "H")``).
      edge_counts: G_D edge weights ``[d_z, d_z]`` (co-supported (point, output) pairs).
      irreducible: per checked group, whether its latents are connected in G_D.
      weakest_link: per checked group, the smallest edge weight on its maximum spanning
        tree in G_D (0 if disconnected; large = robustly irreducible).
      support_frequency: ``[K, d_x]`` fraction of points at which output ``o`` is in
        checked group ``k``'s support (the heat map of :func:`plot_support`).
      energy_share: ``[K, d_x]`` mean over points of group ``k``'s share of output ``o``'s
        squared (column-normalized) Jacobian: a tolerance-free view of dense decoders.
      output_shape: the decoder's output shape (to draw image supports as images).
    """

    groups: Groups = ()
    checked_groups: Groups = ()
    criteria: tuple[str, ...] = ()
    num_points: int = 0
    edge_counts: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    irreducible: tuple[bool, ...] = ()
    weakest_link: tuple[int, ...] = ()
    support_frequency: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    energy_share: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    output_shape: tuple[int, ...] = ()
    stability: SupportStability | None = None
    full_rank: FullRankVerdict | None = None
    type_d: TypeDVerdict | None = None
    type_m: TypeMVerdict | None = None
    type_s: TypeSVerdict | None = None
    type_h: TypeHVerdict | None = None


def _irreducibility(edges: np.ndarray, groups: Groups) -> tuple[tuple[bool, ...], tuple[int, ...]]:
    conn, weak = [], []
    for g in groups:
        sub = edges[np.ix_(g, g)].astype(np.float64)
        np.fill_diagonal(sub, 0.0)
        if len(g) == 1:
            conn.append(True)
            weak.append(int(edges[g[0], g[0]]))
            continue
        n_comp = scipy.sparse.csgraph.connected_components(sub > 0, directed=False)[0]
        conn.append(n_comp == 1)
        if n_comp > 1:
            weak.append(0)
            continue
        tree = scipy.sparse.csgraph.minimum_spanning_tree(-sub).toarray()
        weak.append(int(-tree[tree != 0].max()))
    return tuple(conn), tuple(weak)


def jacobian_groups(
    decode: Callable,
    z,
    *,
    groups: Sequence[Sequence[int]] | None = None,
    tol: float = 1e-2,
    tol_h: float = 1e-3,
    rank_tol: float = 1e-4,
    type_h_points: int = 16,
    num_rotations: int = 16,
    chunk_size: int | None = None,
    jacobian: np.ndarray | None = None,
    seed: int = 0,
) -> JacobianVerdict:
    """Which groups of latents act on the observations independently, and by which criteria.

    Args:
      decode: one latent vector ``[d_z]`` -> one observation ``[d_x]`` or ``[H, W, C]``
        (a JAX function or a Flax module call; wrap a batched decoder as
        ``lambda z: dec(z[None])[0]``).
      z: sampled latent points ``[n, d_z]`` (e.g. encodings of held-out data).
      groups: a partition of the latents to test (default: the recovered one).
      tol: support tolerance (fraction of the row scale, see ``support_mask``).
      tol_h: tolerance of the normalized cross second derivatives (Type H).
      rank_tol: minimum ``σ_min/σ_max`` for the full-rank check.
      type_h_points: points used by the (costlier) second-derivative check; 0 skips it.
      num_rotations: random group-mixing rotations per angle for Type S.
      chunk_size: points per Jacobian chunk (default: from a 256 MiB budget).
      jacobian: precomputed ``decoder_jacobians(decode, z)`` to reuse.
      seed: seed of the random rotations.

    Returns:
      A :class:`JacobianVerdict` (see the module docstring for ``holds``).

    Raises:
      ValueError / TypeError: bad decoder output, non-finite Jacobians, ``groups`` not a
        partition of the latents, a tolerance outside ``(0, 1)``.
    """
    z = _check_points(z)
    tol = _check_tol(tol)
    _check_tol(tol_h, "tol_h")
    _check_tol(rank_tol, "rank_tol")
    if jacobian is None:
        jac, out_shape = decoder_jacobians(decode, z, chunk_size=chunk_size, return_shape=True)
    else:
        jac, out_shape = np.asarray(jacobian), (np.asarray(jacobian).shape[1],)
        if jac.shape[0] != z.shape[0] or jac.shape[2] != z.shape[1]:
            raise ValueError(f"jacobian {jac.shape} does not match z {z.shape}; pass [n, d_x, d_z]")
    d_z = z.shape[1]
    hypothesis = None if groups is None else check_groups(groups, d_z)
    mask = support_mask(jac, tol=tol)
    edges = support_graph(mask)
    recovered = components(edges)
    stability = support_stability(jac, tol=tol)
    rank = full_rank(jac, tol=rank_tol)
    h = None
    if type_h_points > 0:
        zh = z[:: max(1, len(z) // type_h_points)][:type_h_points]
        h = type_h(decode, zh, hypothesis or recovered, tol=tol_h)
    checked = hypothesis or recovered
    if hypothesis is None and len(recovered) == 1 and h is not None and len(h.groups_h) > 1:
        checked = h.groups_h
        h = type_h(decode, zh, checked, tol=tol_h)
    d = type_d(jac, checked, tol=tol)
    m = type_m(jac, checked, tol=tol)
    s = type_s(jac, checked, tol=tol, num_rotations=num_rotations, seed=seed)
    crit = tuple(n for n, v in zip("DMSH", (d, m, s, h)) if v is not None and v.holds)
    irreducible, weakest = _irreducibility(edges, checked)
    freq = group_support(mask, checked).mean(0).T  # [K, d_x]
    sq = np.square(jac / column_scales(jac))
    blocks = np.stack([sq[..., list(g)].sum(-1) for g in checked], -1)  # [n, d_x, K]
    share = (blocks / np.maximum(blocks.sum(-1, keepdims=True), 1e-30)).mean(0).T
    if not rank.holds:
        holds, reason = False, f"not a local diffeomorphism: {rank.reason}"
    elif len(checked) < 2:
        holds, reason = False, "all latents form one group: no independent factors found"
    elif not stability.holds and hypothesis is None:
        holds, reason = None, f"{len(checked)} groups, but {stability.reason}"
    elif crit:
        holds = True
        reason = f"{len(checked)} groups {checked} independent by Type {'/'.join(crit)}"
    elif any(v is not None and v.holds is None for v in (d, m, s, h)):
        holds, reason = None, "no criterion holds and some cannot be decided"
    else:
        holds, reason = False, f"none of Type D/M/S/H holds for the groups {checked}"
    return JacobianVerdict(
        holds,
        {"tol": tol, "tol_h": tol_h, "rank_tol": rank_tol},
        reason,
        recovered,
        checked,
        crit,
        len(z),
        edges,
        irreducible,
        weakest,
        freq,
        share,
        tuple(out_shape),
        stability,
        rank,
        d,
        m,
        s,
        h,
    )


def plot_support(verdict: JacobianVerdict, path: str | None = None, *, title: str = ""):
    """Heat maps per checked group: how often each output is in its support, and the
    group's mean share of the output's Jacobian energy (tolerance-free).

    Flat outputs are drawn as one row per group; image outputs ``[H, W, C]`` as one
    ``H x W`` panel per group (max over channels). Returns the figure (saved to ``path``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("support frequency", np.asarray(verdict.support_frequency)),
        ("energy share", np.asarray(verdict.energy_share)),
    )
    k = panels[0][1].shape[0]
    image = len(verdict.output_shape) == 3
    if image:
        fig, axes = plt.subplots(2, k, figsize=(2.4 * k, 5.0), squeeze=False)
        for r, (label, values) in enumerate(panels):
            for i, ax in enumerate(axes[r]):
                img = values[i].reshape(verdict.output_shape).max(-1)
                ax.imshow(img, vmin=0, vmax=1, cmap="magma")
                ax.set_title(f"{label}: {verdict.checked_groups[i]}", fontsize=7)
                ax.axis("off")
    else:
        width = max(4, panels[0][1].shape[1] / 8)
        fig, axes = plt.subplots(2, 1, figsize=(width, 1.4 + 0.8 * k))
        for ax, (label, values) in zip(axes, panels):
            ax.imshow(values, aspect="auto", vmin=0, vmax=1, cmap="magma", interpolation="nearest")
            ax.set_yticks(range(k), [str(g) for g in verdict.checked_groups], fontsize=7)
            ax.set_title(label, fontsize=7)
        axes[-1].set_xlabel("output coordinate")
    fig.suptitle(title or verdict.summary()[:90], fontsize=8)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def plot_support_graph(verdict: JacobianVerdict, path: str | None = None, *, title: str = ""):
    """The graph G_D: latents on a circle, edges weighted by co-support, colored by group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = np.asarray(verdict.edge_counts, np.float64)
    d = w.shape[0]
    ang = 2 * np.pi * np.arange(d) / max(d, 1)
    xy = np.stack([np.cos(ang), np.sin(ang)], 1)
    top = max(float((w - np.diag(np.diag(w))).max()), 1.0)
    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    for i in range(d):
        for j in range(i + 1, d):
            if w[i, j] > 0:
                ax.plot(*xy[[i, j]].T, color="0.4", lw=0.5 + 3 * w[i, j] / top, zorder=1)
    color = np.zeros(d)
    for k, g in enumerate(verdict.groups):
        color[list(g)] = k
    ax.scatter(*xy.T, c=color, cmap="tab10", s=160, zorder=2, vmin=0, vmax=9)
    for i in range(d):
        ax.annotate(str(i), xy[i], ha="center", va="center", fontsize=7, zorder=3)
    ax.set_title(title or f"G_D: {len(verdict.groups)} component(s)", fontsize=8)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig

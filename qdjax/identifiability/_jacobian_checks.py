"""The mechanistic-independence criteria of seed 004 as verdicts over sampled points.

Each check takes per-point Jacobians ``jac: [n, d_x, d_z]`` (from
:func:`decoder_jacobians`) and a partition ``groups`` of the latents, and returns a
:class:`~qdjax.identifiability.Verdict` with its evidence. All are *empirical*: they
test the criterion at the sampled points (and, for Type S, at the rotations tried), so
``holds=True`` is evidence, not a proof over the whole latent space.

``groups`` must *partition* the latents ``0..d_z-1`` (every latent in exactly one
non-empty group; checked by :func:`check_groups`, one ``ValueError`` naming the missing,
repeated and out-of-range latents). A partial grouping is not meaningful here: a latent
left out could carry the very overlap (D), inclusion (M), sparser mixing (S) or cross
derivative (H) the criterion is about, so it would be silently ignored. To test a subset
of latents, put the rest in one group of their own.

- :func:`type_d`: support disjointness. The Hadamard product of the column blocks
  ``J[:, G_k]`` and ``J[:, G_l]`` (as per-output block norms) vanishes at every point.
- :func:`type_m`: mutual non-inclusion. At every point, neither group's output support
  contains the other's. The bound reported with it (our reading of the seed's sparsity
  bound): a generic rotation mixing groups ``k`` and ``l`` gives each mixed column the union
  of both supports, so it adds at least ``min(|Ω_k \\ Ω_l|, |Ω_l \\ Ω_k|) >= 1`` non-zeros.
- :func:`type_s`: sparsity gap. ℓ0 (at the tolerance) and a smooth proxy (row-wise
  ℓ1/ℓ2 of the column-normalized Jacobian) of ``J R`` minus that of ``J`` for rotations
  ``R = cayley(A)``, ``A`` antisymmetric with only cross-group entries: random ones at each
  angle, and the worst (sparsest) found by gradient descent on ``A`` at the small angle.
- :func:`type_h`: higher order (H2). Cross-group second derivatives
  ``∂²g/∂z_i∂z_j`` by jvp-of-jvp (one ``[d_x]`` vector per pair and point; never a full
  Hessian), normalized to ``‖∂²g/∂z_i∂z_j‖·σ_x / (‖∂g/∂z_i‖‖∂g/∂z_j‖)`` (dimensionless:
  invariant to rescaling the output or a latent). Zero for a decoder additive over groups.
- :func:`full_rank`: local diffeomorphism onto the image: ``σ_min/σ_max`` of the
  column-normalized Jacobian at every point.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qdjax.identifiability._jacobian import (
    Groups,
    _check_jacobian,
    _check_points,
    _check_tol,
    _flat_decoder,
    check_groups,
    column_scales,
    components,
    group_support,
    support_mask,
)
from qdjax.identifiability._verdict import Verdict

__all__ = [
    "FullRankVerdict",
    "TypeDVerdict",
    "TypeHVerdict",
    "TypeMVerdict",
    "TypeSVerdict",
    "cross_derivatives",
    "full_rank",
    "type_d",
    "type_h",
    "type_m",
    "type_s",
]


def _partition(groups, d_z: int) -> Groups:
    """``groups`` as tuples of ints, in the caller's order, after :func:`check_groups`
    confirmed they partition ``0..d_z-1`` (raises a one-line ``ValueError`` otherwise)."""
    check_groups(groups, d_z)
    return tuple(tuple(int(i) for i in g) for g in groups)


def _offdiag(k: int) -> np.ndarray:
    return ~np.eye(k, dtype=bool)


def _block_norms(jac: np.ndarray, groups: Groups) -> np.ndarray:
    """``[n, d_x, K]`` per-output norms of the column-normalized blocks ``J[:, :, G_k]``."""
    a = np.square(jac / column_scales(jac))
    return np.stack([np.sqrt(a[..., list(g)].sum(-1)) for g in groups], axis=-1)


@dataclasses.dataclass(frozen=True)
class TypeDVerdict(Verdict):
    """Support disjointness. ``overlap[k, l]``: max over points of the fraction of outputs in
    both supports; ``hadamard[k, l]``: max over points of the cosine between the block-norm
    profiles (0 iff the Hadamard product of the blocks vanishes)."""

    groups: Groups = ()
    overlap: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    hadamard: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))


def type_d(jac, groups: Groups, *, tol: float = 1e-2) -> TypeDVerdict:
    jac = _check_jacobian(jac)
    groups = _partition(groups, jac.shape[-1])
    g = group_support(support_mask(jac, tol=tol), groups).astype(np.float32)  # [n, d_x, K]
    overlap = np.einsum("nok,nol->nkl", g, g).max(0) / jac.shape[1]
    b = _block_norms(jac, groups)
    norms = np.linalg.norm(b, axis=1)  # [n, K]
    cos = np.einsum("nok,nol->nkl", b, b) / np.maximum(norms[:, :, None] * norms[:, None], 1e-30)
    hadamard = cos.max(0)
    off = _offdiag(len(groups))
    worst = float(overlap[off].max()) if off.any() else 0.0
    holds = worst == 0.0 if len(groups) > 1 else None
    reason = (
        "a single group: nothing to separate"
        if holds is None
        else "no output is in two groups' supports at any sampled point"
        if holds
        else f"up to {worst:.1%} of the outputs are shared by two groups at some point"
    )
    return TypeDVerdict(holds, tol, reason, groups, overlap, hadamard)


@dataclasses.dataclass(frozen=True)
class TypeMVerdict(Verdict):
    """Mutual non-inclusion. ``exclusive[k, l]``: min over points of ``|Ω_k \\ Ω_l|``;
    ``sparsity_bound``: min over pairs of ``min(exclusive[k, l], exclusive[l, k])``, the
    least number of non-zeros a generic group-mixing rotation adds."""

    groups: Groups = ()
    exclusive: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    support_size: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    sparsity_bound: int = 0


def type_m(jac, groups: Groups, *, tol: float = 1e-2) -> TypeMVerdict:
    jac = _check_jacobian(jac)
    groups = _partition(groups, jac.shape[-1])
    g = group_support(support_mask(jac, tol=tol), groups).astype(np.float32)
    excl = np.einsum("nok,nol->nkl", g, 1.0 - g).min(0).round().astype(np.int64)
    size = g.sum(1).min(0).round().astype(np.int64)
    off = _offdiag(len(groups))
    if len(groups) < 2:
        return TypeMVerdict(None, tol, "a single group: nothing to separate", groups, excl, size)
    bound = int(np.minimum(excl, excl.T)[off].min())
    holds = bound >= 1
    if holds:
        reason = f"no group's support contains another's; mixing adds >= {bound} non-zeros"
    else:
        k, l_ = np.argwhere(off & (excl == 0))[0]
        reason = f"group {k}'s support lies inside group {l_}'s at some sampled point"
    return TypeMVerdict(holds, tol, reason, groups, excl, size, bound)


def _mixing_basis(groups: Groups, d_z: int) -> np.ndarray:
    label = np.empty(d_z, np.int64)
    for k, g in enumerate(groups):
        label[list(g)] = k
    return (label[:, None] != label[None, :]).astype(np.float32)


def _rotation(b: jax.Array, cross: jax.Array, angle: float) -> jax.Array:
    """Cayley rotation ``(I - A/2)^{-1}(I + A/2)`` of ``A = angle * P(b - bᵀ)/‖P(b - bᵀ)‖_F``
    (``P`` keeps cross-group entries): orthogonal, ≈ ``expm(A)`` for small angles."""
    a = cross * (b - b.T)
    a = angle * a / jnp.maximum(jnp.linalg.norm(a), 1e-12)
    eye = jnp.eye(a.shape[0], dtype=a.dtype)
    return jnp.linalg.solve(eye - a / 2, eye + a / 2)


def _smooth_l0(jn: jax.Array) -> jax.Array:
    """Mean over points of the summed row-wise ℓ1/ℓ2 (1 for a one-hot row, √d_z for a flat one)."""
    l1 = jnp.sum(jnp.abs(jn), -1)
    l2 = jnp.sqrt(jnp.sum(jnp.square(jn), -1) + 1e-30)
    return jnp.mean(jnp.sum(l1 / l2, -1))


def _mask_jnp(j: jax.Array, tol: float) -> jax.Array:
    """:func:`support_mask` in JAX (float32), for rotated Jacobians inside one jit."""
    a = jnp.abs(j)
    a = a / jnp.maximum(jnp.sqrt(jnp.mean(jnp.square(a), axis=(0, 1))), 1e-30)[None, None]
    row = a.max(-1)
    live = row > tol * row.max(-1, keepdims=True)
    return (a > tol * row[..., None]) & live[..., None] & (a > 0)


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _type_s_core(jn, cross, bs, b0, tol, angles, steps):
    """ℓ0 and smooth proxy of ``J`` and of ``J R`` for random rotations at each angle, G_D edge
    counts of the rotated Jacobians at the largest angle, and the worst rotation's numbers."""
    l0 = lambda j: jnp.mean(jnp.sum(_mask_jnp(j, tol), (1, 2)))  # noqa: E731
    l0s, ps, edges = [], [], None
    for a, b in zip(angles, bs):  # a couple of angles: unrolled on purpose
        rs = jax.vmap(_rotation, in_axes=(0, None, None))(b, cross, a)
        jr = jnp.einsum("noi,rij->rnoj", jn, rs)
        l0s.append(jax.lax.map(l0, jr))
        ps.append(jax.lax.map(_smooth_l0, jr))
        edges = jax.lax.map(
            lambda j: jnp.einsum("noi,noj->ij", *(2 * (_mask_jnp(j, tol).astype(jnp.float32),))),
            jr,
        )
    angle = min(angles)
    loss = lambda b: _smooth_l0(jn @ _rotation(b, cross, angle))  # noqa: E731
    opt = optax.adam(0.05)

    def body(carry, _):
        b, state = carry
        updates, state = opt.update(jax.grad(loss)(b), state)
        return (optax.apply_updates(b, updates), state), None

    (b, _), _ = jax.lax.scan(body, (b0, opt.init(b0)), None, length=steps)
    worst = jn @ _rotation(b, cross, angle)
    return l0(jn), _smooth_l0(jn), jnp.stack(l0s), jnp.stack(ps), edges, l0(worst), loss(b)


@dataclasses.dataclass(frozen=True)
class TypeSVerdict(Verdict):
    """Sparsity gap, per angle: ℓ0 and smooth-proxy gaps (rotated minus aligned) as mean
    and std over random group-mixing rotations, plus the worst (sparsest) rotation found by
    optimization at the smallest angle. ``l0_aligned``: mean non-zeros per point."""

    groups: Groups = ()
    angles: tuple[float, ...] = ()
    l0_aligned: float = 0.0
    l0_gap_mean: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    l0_gap_std: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    l0_gap_min: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    proxy_aligned: float = 0.0
    proxy_gap_mean: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    proxy_gap_std: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    l0_gap_worst: float = 0.0
    proxy_gap_worst: float = 0.0
    misaligned_components: float = 0.0


def type_s(
    jac,
    groups: Groups,
    *,
    tol: float = 1e-2,
    angles: tuple[float, ...] = (0.1, 1.0),
    num_rotations: int = 16,
    optimize_steps: int = 50,
    seed: int = 0,
) -> TypeSVerdict:
    jac = _check_jacobian(jac)
    d_z = jac.shape[-1]
    groups = _partition(groups, d_z)
    if len(groups) < 2:
        return TypeSVerdict(None, tol, "a single group: no rotation mixes groups", groups)
    jn = (jac / column_scales(jac)).astype(np.float32)
    rng = np.random.default_rng(seed)
    bs = rng.standard_normal((len(angles), num_rotations, d_z, d_z)).astype(np.float32)
    b0 = rng.standard_normal((d_z, d_z)).astype(np.float32)
    out = _type_s_core(
        jn,
        _mixing_basis(groups, d_z),
        bs,
        b0,
        tol,
        tuple(float(a) for a in angles),
        optimize_steps,
    )
    l0_0, p0, l0, p, edges, l0_worst, p_worst = jax.tree.map(np.asarray, out)
    l0, p = l0 - l0_0, p - p0  # [A, R] gaps
    l0_worst, p_worst = float(l0_worst - l0_0), float(p_worst - p0)
    l0_0, p0 = float(l0_0), float(p0)
    l0_mean, l0_std, l0_min = l0.mean(1), l0.std(1), l0.min(1)
    p_mean, p_std = p.mean(1), p.std(1)
    comps = [np.mean([len(components(e)) for e in edges])]
    angle = float(min(angles))
    holds = bool(min(l0_min) > 0 and l0_worst > 0 and p_worst > 0)
    reason = (
        f"every group-mixing rotation tried is less sparse (worst ℓ0 gap {l0_worst:.2f}, "
        f"smooth gap {p_worst:.3g} at angle {angle})"
        if holds
        else f"a group-mixing rotation is as sparse as the aligned basis (ℓ0 gap "
        f"{min(min(l0_min), l0_worst):.2f}, smooth gap {p_worst:.3g})"
    )
    return TypeSVerdict(
        holds,
        tol,
        reason,
        groups,
        tuple(float(a) for a in angles),
        l0_0,
        np.array(l0_mean),
        np.array(l0_std),
        np.array(l0_min),
        p0,
        np.array(p_mean),
        np.array(p_std),
        l0_worst,
        p_worst,
        float(comps[-1]),
    )


def cross_derivatives(
    decode: Callable, z, pairs: np.ndarray, *, chunk_size: int = 8
) -> tuple[np.ndarray, np.ndarray, float]:
    """Norms ``‖∂²g/∂z_i∂z_j‖`` ``[n, P]`` for ``pairs: [P, 2]`` by jvp-of-jvp, the column
    norms ``‖∂g/∂z_i‖`` ``[n, d_z]`` and the output spread ``σ_x`` (RMS distance to the mean).

    ``pairs`` holds integer latent indices in ``[0, d_z)``; anything else raises a one-line
    ``ValueError`` (JAX would clamp an out-of-range index to ``d_z - 1`` and silently return
    another pair's derivative)."""
    z = _check_points(z)
    n, d_z = z.shape
    pairs = _check_pairs(pairs, d_z)
    f, _ = _flat_decoder(decode, jax.ShapeDtypeStruct((d_z,), z.dtype))
    eye = jnp.eye(d_z, dtype=z.dtype)

    def one(zp):
        def d2(pair):
            inner = lambda x: jax.jvp(f, (x,), (eye[pair[1]],))[1]  # noqa: E731
            return jnp.linalg.norm(jax.jvp(inner, (zp,), (eye[pair[0]],))[1])

        jcols = jax.vmap(lambda e: jnp.linalg.norm(jax.jvp(f, (zp,), (e,))[1]))(eye)
        return jax.vmap(d2)(jnp.asarray(pairs)), jcols, f(zp)

    fn = jax.jit(lambda zs: jax.lax.map(one, zs, batch_size=chunk_size))
    h, jc, x = (np.asarray(a, np.float64) for a in fn(jnp.asarray(z)))
    sigma = float(np.sqrt(np.mean(np.sum(np.square(x - x.mean(0)), -1))))
    return h, jc, sigma


def _check_pairs(pairs, d_z: int) -> np.ndarray:
    """``pairs`` as an int32 ``[P, 2]`` array of latent indices in ``[0, d_z)``, or raises."""
    p = np.asarray(pairs)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < 1:
        raise ValueError(
            f"pairs must be [P, 2] latent index pairs, P >= 1, e.g. [[0, 2]]; got shape {p.shape}"
        )
    if not (np.issubdtype(p.dtype, np.integer) or np.issubdtype(p.dtype, np.floating)) or not (
        np.all(np.isfinite(p)) and np.all(p == np.round(p))
    ):
        raise ValueError(f"pairs must hold integer latent indices; got {pairs!r}")
    outside = sorted({int(i) for i in p.ravel() if not 0 <= i < d_z})
    if outside:
        raise ValueError(
            f"pairs index latents {outside} out of range for d_z = {d_z} latents; "
            f"use indices in 0..{d_z - 1}"
        )
    return p.astype(np.int32)


@dataclasses.dataclass(frozen=True)
class TypeHVerdict(Verdict):
    """H2 (additivity over groups). ``pairs``: latent pairs ``i <= j`` tested; ``ratio``: max over
    points of the normalized cross derivative; ``cross[k, l]``: max ratio between groups;
    ``groups_h``: components of G_H (edge = ratio > tolerance) over all latent pairs."""

    groups: Groups = ()
    pairs: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2)))
    ratio: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    cross: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    groups_h: Groups = ()


def type_h(decode: Callable, z, groups: Groups, *, tol: float = 1e-3) -> TypeHVerdict:
    tol = _check_tol(tol, "tol_h")
    z = _check_points(z)
    d_z = z.shape[1]
    groups = _partition(groups, d_z)
    # All pairs i <= j: the diagonal tells a piecewise-linear decoder (all zero) apart.
    pairs = np.array([(i, j) for i in range(d_z) for j in range(i, d_z)], np.int32)
    h, jc, sigma = cross_derivatives(decode, z, pairs)
    col = np.sqrt(np.mean(np.square(jc), 0))  # RMS over points of ‖∂g/∂z_i‖
    ratio = (h * sigma / np.maximum(col[pairs[:, 0]] * col[pairs[:, 1]], 1e-30)).max(0)
    if ratio.max() <= tol:
        return TypeHVerdict(
            None,
            tol,
            "every second derivative vanishes at the sampled points (a piecewise-linear "
            "decoder, e.g. ReLU): H2 cannot tell groups apart",
            groups,
            pairs,
            ratio,
            np.zeros((len(groups), len(groups))),
            tuple((i,) for i in range(d_z)),
        )
    label = np.empty(d_z, np.int64)
    for k, g in enumerate(groups):
        label[list(g)] = k
    cross = np.zeros((len(groups), len(groups)))
    adj = np.zeros((d_z, d_z), bool)
    for (i, j), r in zip(pairs, ratio):
        if i == j:
            continue
        a, b = label[i], label[j]
        if a != b:
            cross[a, b] = cross[b, a] = max(cross[a, b], r)
        adj[i, j] = adj[j, i] = r > tol
    groups_h = components(adj)
    if len(groups) < 2:
        return TypeHVerdict(None, tol, "a single group", groups, pairs, ratio, cross, groups_h)
    worst = float(cross[_offdiag(len(groups))].max())
    holds = worst <= tol
    reason = (
        f"cross-group second derivatives vanish (max normalized {worst:.2g} <= {tol:g})"
        if holds
        else f"cross-group second derivatives reach {worst:.3g} (> {tol:g}): not additive"
    )
    return TypeHVerdict(holds, tol, reason, groups, pairs, ratio, cross, groups_h)


@dataclasses.dataclass(frozen=True)
class FullRankVerdict(Verdict):
    """``ratio[n] = σ_min/σ_max`` of the column-normalized Jacobian at each point."""

    ratio: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    sigma_min: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))


def full_rank(jac, *, tol: float = 1e-4) -> FullRankVerdict:
    jac = _check_jacobian(jac)
    tol = _check_tol(tol, "rank_tol")
    if jac.shape[1] < jac.shape[2]:
        return FullRankVerdict(
            False, tol, f"d_x = {jac.shape[1]} < d_z = {jac.shape[2]}: cannot be full rank"
        )
    jn = (jac / column_scales(jac)).astype(np.float64)
    ev = np.linalg.eigvalsh(np.einsum("noi,noj->nij", jn, jn))  # σ² ascending
    s = np.sqrt(np.clip(ev, 0, None))
    ratio = s[:, 0] / np.maximum(s[:, -1], 1e-300)
    worst = float(ratio.min())
    holds = worst > tol
    reason = (
        f"full column rank at every point (min σ_min/σ_max {worst:.3g})"
        if holds
        else f"rank-deficient at {int(np.sum(ratio <= tol))} point(s) (σ_min/σ_max {worst:.2g})"
    )
    return FullRankVerdict(holds, tol, reason, ratio, s[:, 0])

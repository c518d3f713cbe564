"""Decoder Jacobians, scale-aware support masks and the support graph G_D.

A decoder ``decode: [d_z] -> [d_x]`` (or ``-> [H, W, C]`` for images) acts on its
observations through its Jacobian ``J(z) = dg/dz: [d_x, d_z]``. Mechanistic independence
(seed 004) asks which groups of latents act on *disjoint* sets of outputs (Type D) and
related weaker criteria (``_jacobian_checks.py``). This module holds the array work:

- :func:`decoder_jacobians`: per-point Jacobians ``[n, d_x, d_z]`` (forward mode,
  vmapped, chunked under a memory budget; returned on the host).
- :func:`support_mask`: ``|J| > tol`` with a scale-aware tolerance (below).
- :func:`support_graph` / :func:`components`: the graph G_D over latents (edge = the two
  latents' supports share an output at some sampled point) and its connected components.

**Scale-aware tolerance.** Latent ``i`` is first measured in its own units: column ``i``
is divided by ``c_i = RMS_{n,o} J[n, o, i]`` (rescaling latent ``i`` by ``b`` scales column
``i`` and ``c_i`` alike, so the normalized Jacobian ``Ĵ`` is unchanged). An entry is in the
support when it is a non-negligible share of its own output row at that point,

.. math:: M[n, o, i] = \\hat J[n,o,i] > \\mathrm{tol}\\cdot\\max_j \\hat J[n,o,j]
          \\quad\\text{and}\\quad \\max_j \\hat J[n,o,j] > \\mathrm{tol}\\cdot
          \\max_{o', j} \\hat J[n,o',j],

i.e. relative to the row (per output, per point), and rows that are themselves negligible
at that point (e.g. background pixels) carry no support. The mask is exactly invariant
to rescaling any latent and to rescaling the whole output; rescaling single output
coordinates changes it only through the column scales ``c_i``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse.csgraph

from qdjax._src.typing import ArrayLike

__all__ = [
    "JACOBIAN_MODES",
    "check_groups",
    "column_scales",
    "components",
    "decoder_jacobians",
    "group_support",
    "support_graph",
    "support_mask",
]

JACOBIAN_MODES = ("jacfwd", "jacrev", "jvp")
Groups = tuple[tuple[int, ...], ...]


def _flat_decoder(decode: Callable, z0: jax.ShapeDtypeStruct) -> tuple[Callable, tuple]:
    """`decode` with its output flattened, plus the output shape (checked flat or image)."""
    try:
        out = jax.eval_shape(decode, z0)
    except Exception as e:  # noqa: BLE001 - re-raised with the fix named
        raise TypeError(
            f"decode must map one latent vector [d_z] = {z0.shape} to one observation; calling "
            f"it failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}). Wrap a batched "
            "decoder as `lambda z: decoder(z[None])[0]`"
        ) from e
    if not hasattr(out, "shape") or len(out.shape) not in (1, 3):
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(
            f"decode must return a flat [d_x] or image [H, W, C] array for one latent vector; got "
            f"{shape}. Drop the batch axis (`lambda z: decoder(z[None])[0]`) or select the "
            "reconstruction field"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"decode must return floating point outputs; got {out.dtype}")
    return (lambda z: jnp.reshape(decode(z), (-1,))), tuple(out.shape)


def _check_points(z: ArrayLike) -> np.ndarray:
    z = np.asarray(z)
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"z must be latent points [n, d_z]; got shape {z.shape}")
    if not np.issubdtype(z.dtype, np.floating):
        raise TypeError(f"z must be floating point (cast with .astype(np.float32)); got {z.dtype}")
    if not np.all(np.isfinite(z)):
        raise ValueError("z contains NaN/Inf; pass finite latent points")
    return z


def _jacobian_one(f: Callable, mode: str, d_z: int) -> Callable:
    if mode == "jacfwd":
        return jax.jacfwd(f)
    if mode == "jacrev":
        return jax.jacrev(f)
    if mode == "jvp":  # a sequential loop of d_z jvps: the smallest working memory

        def jac(z):
            basis = jnp.eye(d_z, dtype=z.dtype)
            cols = jax.lax.map(lambda e: jax.jvp(f, (z,), (e,))[1], basis)
            return cols.T

        return jac
    raise ValueError(f"mode must be one of {JACOBIAN_MODES}; got {mode!r}")


def _measured_bytes_per_point(fn: Callable, d_z: int, dtype) -> float | None:
    """Device bytes (working + output) per point of the compiled chunk function, from XLA's
    memory analysis at chunks of 2 and 4 points (the slope: fixed costs cancel)."""
    try:
        sizes = []
        for c in (2, 4):
            stats = fn.lower(jax.ShapeDtypeStruct((c, d_z), dtype)).compile().memory_analysis()
            sizes.append(stats.temp_size_in_bytes + stats.output_size_in_bytes)
    except Exception:  # noqa: BLE001 - backends without memory analysis
        return None
    return max((sizes[1] - sizes[0]) / 2, 1.0)


def decoder_jacobians(
    decode: Callable,
    z: ArrayLike,
    *,
    chunk_size: int | None = None,
    memory_budget_bytes: int = 256 * 2**20,
    mode: str = "jacfwd",
    return_shape: bool = False,
) -> np.ndarray | tuple[np.ndarray, tuple[int, ...]]:
    """Per-point Jacobians of a decoder, ``[n, d_x, d_z]`` on the host (NumPy).

    ``jax.vmap(jax.jacfwd(decode))`` over chunks of ``chunk_size`` points (forward mode:
    ``d_z`` tangents, cheap when ``d_z << d_x``). Each chunk is computed under one jit,
    moved to the host and freed, so device memory holds one chunk's Jacobians and
    tangents at a time. By default ``chunk_size = memory_budget_bytes // B`` where ``B`` is
    the device memory per point that XLA's memory analysis reports for the compiled chunk
    function (its activations' tangents included; e.g. ~12.5 MiB per point for the QLAE
    64x64x3 decoder with 12 latents, so 20 points per chunk at 256 MiB); where the backend
    has no memory analysis, ``B`` = 4x the bytes of one point's Jacobian.

    Args:
      decode: maps one latent vector ``[d_z]`` to one observation ``[d_x]`` or
        ``[H, W, C]`` (wrap a batched Flax decoder as ``lambda z: dec(z[None])[0]``).
      z: points ``[n, d_z]`` (or one point ``[d_z]``).
      chunk_size: points per chunk (overrides the budget).
      memory_budget_bytes: device working-memory budget used to pick ``chunk_size``.
      mode: ``"jacfwd"`` (default, fastest in the benchmark), ``"jacrev"``, or ``"jvp"``
        (a sequential loop of ``d_z`` jvps; least memory).
      return_shape: also return the decoder's output shape (flat or image).

    Returns:
      ``jac: [n, d_x, d_z]`` float (image outputs flattened in C order), and the output
      shape when ``return_shape``.

    Raises:
      TypeError / ValueError: on a non-flat/non-image output, bad points, a bad chunk size
        or mode, or non-finite Jacobians.
    """
    z = _check_points(z)
    n, d_z = z.shape
    f, out_shape = _flat_decoder(decode, jax.ShapeDtypeStruct((d_z,), z.dtype))
    d_x = math.prod(out_shape)
    fn = jax.jit(jax.vmap(_jacobian_one(f, mode, d_z)))
    if chunk_size is None:
        if memory_budget_bytes <= 0:
            raise ValueError(f"memory_budget_bytes must be > 0; got {memory_budget_bytes}")
        per_point = _measured_bytes_per_point(fn, d_z, z.dtype)
        if per_point is None:  # no memory analysis on this backend: 4x the Jacobian itself
            per_point = 4 * d_x * d_z * z.dtype.itemsize
        chunk_size = max(1, int(memory_budget_bytes // per_point))
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size!r}")
    chunk_size = min(chunk_size, n)
    out = np.empty((n, d_x, d_z), dtype=z.dtype)
    for lo in range(0, n, chunk_size):
        zc = z[lo : lo + chunk_size]
        m = zc.shape[0]
        if m < chunk_size:  # pad: one compiled shape for every chunk
            zc = np.concatenate([zc, np.repeat(zc[-1:], chunk_size - m, axis=0)])
        out[lo : lo + m] = np.asarray(fn(zc))[:m]
    if not np.all(np.isfinite(out)):
        bad = int(np.sum(~np.all(np.isfinite(out), axis=(1, 2))))
        raise ValueError(
            f"the decoder's Jacobian is non-finite at {bad} of {n} points; evaluate it at "
            "points where the decoder is finite and differentiable"
        )
    return (out, out_shape) if return_shape else out


def _check_jacobian(jac: ArrayLike) -> np.ndarray:
    jac = np.asarray(jac)
    if jac.ndim == 2:
        jac = jac[None]
    if jac.ndim != 3:
        raise ValueError(f"jacobian must be [n, d_x, d_z]; got shape {jac.shape}")
    if not np.all(np.isfinite(jac)):
        raise ValueError("jacobian contains NaN/Inf; recompute it at finite, differentiable points")
    return jac


def _check_tol(tol: float, name: str = "tol") -> float:
    if not isinstance(tol, (int, float, np.floating)) or not (0 < float(tol) < 1):
        raise ValueError(f"{name} must be in (0, 1) (a fraction of the row scale); got {tol!r}")
    return float(tol)


def check_groups(groups: Sequence[Sequence[int]], d_z: int) -> Groups:
    """Validates that ``groups`` partitions ``0..d_z-1``; returns sorted tuples."""
    try:
        gs = tuple(tuple(sorted(int(i) for i in g)) for g in groups)
    except TypeError as e:
        raise TypeError(
            f"groups must be a sequence of sequences of latent indices, e.g. ((0, 1), (2, 3)); "
            f"got {groups!r}"
        ) from e
    flat = [i for g in gs for i in g]
    missing = sorted(set(range(d_z)) - set(flat))
    repeated = sorted({i for i in flat if flat.count(i) > 1})
    outside = sorted({i for i in flat if not 0 <= i < d_z})
    if missing or repeated or outside or any(len(g) == 0 for g in gs):
        raise ValueError(
            f"groups must partition the latents 0..{d_z - 1} into non-empty groups "
            f"(missing {missing}, repeated {repeated}, out of range {outside}); "
            "e.g. ((0, 1), (2, 3))"
        )
    return tuple(sorted(gs))


def column_scales(jac: np.ndarray) -> np.ndarray:
    """``c_i = RMS_{n,o} J[n, o, i]`` (1 for an all-zero column): latent ``i``'s own unit."""
    c = np.sqrt(np.mean(np.square(jac, dtype=np.float64), axis=(0, 1)))
    return np.where(c > 0, c, 1.0)


def support_mask(jac: ArrayLike, *, tol: float = 1e-2) -> np.ndarray:
    """Boolean support ``[n, d_x, d_z]`` of a Jacobian at a scale-aware tolerance.

    See the module docstring for the rule; ``tol`` is a fraction in ``(0, 1)``.
    """
    jac = _check_jacobian(jac)
    tol = _check_tol(tol)
    a = np.abs(jac) / column_scales(jac)
    row = a.max(axis=-1)  # [n, d_x]
    live = row > tol * row.max(axis=-1, keepdims=True)
    return (a > tol * row[..., None]) & live[..., None] & (a > 0)


def group_support(mask: np.ndarray, groups: Groups) -> np.ndarray:
    """``[n, d_x, K]``: output ``o`` is in group ``k``'s support at point ``n``."""
    onehot = np.zeros((mask.shape[-1], len(groups)), np.float32)
    for k, g in enumerate(groups):
        onehot[list(g), k] = 1.0
    return (mask.astype(np.float32) @ onehot) > 0


def support_graph(mask: np.ndarray) -> np.ndarray:
    """Edge weights of G_D, ``[d_z, d_z]`` int: number of (point, output) pairs in which both
    latents have support (diagonal: each latent's support size)."""
    m = mask.astype(np.float32)
    return np.einsum("noi,noj->ij", m, m).round().astype(np.int64)


def components(adjacency: np.ndarray) -> Groups:
    """Connected components of a graph (nonzero off-diagonal = edge), as sorted tuples."""
    adj = np.asarray(adjacency) != 0
    _, labels = scipy.sparse.csgraph.connected_components(adj, directed=False)
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(int(lab), []).append(i)
    return tuple(sorted(tuple(g) for g in groups.values()))

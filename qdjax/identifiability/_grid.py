r"""Grid recovery: the axis-aligned cliffs (density discontinuities) of a sample, as a verdict.

Seed 000 (arXiv:2306.16334) proves that the *grid cell* of each latent sample is identifiable
through any diffeomorphism, up to axis permutation and reversal, when the latent density has
axis-aligned discontinuities. :func:`recover_grid` finds those discontinuities in a finite
sample `z: [n, d]` (true latents or a model's codes) and returns a :class:`GridRecovery`.

Per axis `i` (all in units of `z_i` standardized by its sample std):

1. **Support.** The support edges are the sample extremes (reported in ``support``); they are
   never interior thresholds, and windows are truncated at them.
2. **Views.** Cliffs may show only in conditional densities (two neighbouring cells can have
   the same marginal mass), so the scan runs on the marginal and on the conditionals
   `z_i | z_j in slab b`, with `num_slabs` quantile slabs of every other axis `j`.
3. **Scan statistic.** Windows hold a fixed fraction of the sample (through the marginal
   quantile function, so a monotone warp of the axis barely changes them) or have a fixed
   width; every width named here is for n <= 5000 and shrinks like n^(-1/3) above it
   (``window_reference_n``: a smooth misfit's evidence grows like n w^3, a jump's like
   n w; ``grow_windows`` widens them below 5000 rows too). For a candidate position `t`,
   window half-width `w` and slab `s`, with
   `n_L`, `n_R` samples in `[t - w_L, t)` and `[t, t + w_R)` (`w_L, w_R <= w`, truncated at
   the support), under a locally flat density :math:`n_L \sim \mathrm{Bin}(n_L + n_R,
   w_L/(w_L + w_R))`; its z-score :math:`\zeta_s(t)` is combined over the slabs of a view as
   :math:`Q(t) = \sum_s \zeta_s(t)^2`.
4. **Noise floor by resampling.** The same statistic on flat samples of the same slab sizes on
   the same support (`num_null` replicates); its `null_quantile` quantile of `max_t Q(t)` is
   the floor of each (view, scale). A candidate's strength is `max Q / floor` over views and
   scales; a detection needs a margin over the floor against the many (view, scale,
   position) comparisons: strength > ``first_pass_min_strength`` (3) in this first pass,
   which sees no grid yet, > ``min_strength`` (2) in the rescans of step 7 (version 13;
   before, 2 in both: about one smooth 2-D sample in 15 got a false first-pass cliff).
5. **Jump vs smooth slope.** A jump's one-sided density difference
   :math:`\hat\Delta_w = n_R/(N w_R) - n_L/(N w_L)` stays at the jump height whatever `w`
   (its KDE-derivative peak grows like 1/h), a smooth slope's shrinks like :math:`w p'`.
   The test removes the slope explicitly. Default (``jump_test="log-shared"``, round 7):
   the likelihood ratio of a step in the *log*-density, per slab
   `log p_s(u) = a_s + b u + c u^2 + step_s [u >= 0]` on the window, the smooth part shared
   by the slabs. A monotone warp multiplies every conditional density of a grid by one
   smooth factor (its Jacobian), which this model absorbs exactly to second order, while an
   additive fit does not in a curved warped cell; sharing it keeps a per-slab slope from
   mimicking the step (much more power). "log-shared-cubic" adds a shared cubic term (for
   a warp whose Jacobian changes by a large factor inside a window; round 8: no more
   pairs at target on the tuning seeds, so not the default). The price: it assumes the
   slabs share their smooth shape, true for a grid after per-axis warps and for
   independent axes; two dependent smooth densities (correlation 0.6, a banana) are in the
   tuning's admissibility set and give no false cliff. "log-quadratic" shares the curvature only.
   Additive alternatives: "shared-quadratic" (the round 3-6 default), a least-squares
   projection density fit of one quadratic across the candidate plus a step (basis
   `1, u, u^2, [u >= 0]`), unbiased for any locally quadratic density; one-sided boundary
   kernels `4 - 6u` ("linear": its curvature bias does not cancel in lopsided windows,
   e.g. a Gaussian tail) or `9 - 36u + 30u^2` ("quadratic"), "shared-linear",
   "shared-cubic". The chi-square of
   the step over the slabs must reject smoothness at `max_smooth_pvalue` (1e-4: at 1e-3,
   with tens of candidates per sample, smooth densities got about one false cliff in
   eight samples on the tuning seeds). ``scale_ratio`` (:math:`E(w/2)/E(w)` of
   the debiased jump energy: ~1 jump, ~1/4 slope) is reported for each cliff. A Gaussian
   (or any smooth) density thus gives no interior cliffs.
6. **Position and uncertainty.** The position is the maximum-likelihood change point of a
   two-piece constant density in `[t - w, t + w]`, summed over the slabs of the best view;
   its uncertainty is the std over `num_bootstrap` bootstrap resamples.
7. **Conditioning on the grid.** Then every axis is rescanned with one more view whose
   slabs are the recovered cells of the other axes (they follow the grid, so each
   conditional cliff shows at full contrast), and each segment between found cliffs is
   rescanned with wider windows that cannot straddle a found cliff (`segment_scales`; an
   infinite scale is a change-point scan: the whole segment split at `t`, so a cliff
   between two found ones is compared over both of its cells, as an oracle would).
   Since version 11 (``rescan_partial``) this runs as soon as one axis has a cliff (before,
   only when every axis had one: in 5-D half the samples had an axis without a first-pass
   cliff and got no rescan at all); an axis still without a cliff is rescanned with the
   first pass's narrow windows only, the grid-aligned slabs as one more view. Since version
   12 (``regrow="any"``) the rescans repeat while some axis gains cliffs (at most `d` more
   times; version 11: only when an axis gained its first), since each axis was rescanned on
   the cells the others had *before* the rescan: a conditional cliff that shows only
   against a cliff found in the same pass is then missed (a 6-cell axis: found at p ~ 1e-45
   on the new cells, 3e-4 on the old).
8. **Final jump tests.** Each kept cliff's jump test is redone with a window clear of every
   other kept cliff (the passes only see their own candidates), dropping the least
   significant failure until all pass: a spurious candidate inside a cell compressed by a
   warp can no longer borrow the step of the cliff beside it. Since round 11 the test is
   also redone in the window of half its sides (``scale_check_ratio``): a jump keeps about
   half of its likelihood ratio's excess over the degrees of freedom there, a smooth shape
   that the log-quadratic misfits keeps ~w^7 of it; a cliff keeping less than 1/4 fails.
   Since version 14 (round 18) each cliff must also reject smoothness at 0.01 in a window of
   half-width 0.32 around it (``local_check_window``): a jump is local, while a wide
   window's misfit of a long tail, a shoulder or a bimodal piece is not.
9. **Jump-test scan** (``test_scan``, default since round 7). The count statistic of
   step 3 assumes a locally flat density, so under a warp it can miss or misplace a cliff
   that the jump test, given the position, rejects overwhelmingly. Each segment between
   kept cliffs is therefore scanned with the jump test itself in the grid-aligned view,
   and a cliff is added where its p-value, Bonferroni-corrected for the positions and
   windows scanned, passes ``max_smooth_pvalue`` (at most two per axis); then step 8 again.
   A cliff detected by the whole-segment window is placed at the likelihood-ratio maximum
   of the 0.32 window near it (``test_scan_place_window``, round 10): under a strong warp
   the whole segment's log-quadratic misfit moves the wide window's maximum off the step
   (tuning seeds 0 and 1 under sinh/sin: 0.15-0.2 standardized units). Since version 14
   the scanned positions keep 5 % of the segment's *points* on either side
   (``test_scan_pad="mass"``; before, 5 % of its range: a long sparse tail was split beside
   its last few points, where the log-quadratic's misfit of the tail reads as a huge step).
10. **Split views** (``test_scan_split``, version 16). Once the rescans stop growing, the
   jump-test scan runs once more per axis `i` on one more view per other grid axis `j`:
   the grid-aligned slabs with every recovered cell of `j` cut at its median (p-values
   corrected for these views too), then step 8 again; if some axis gained a cliff the
   rescans resume on the new cells, and this repeats at most `d` times. Two cliffs, one on
   each of two axes, that show only in the conditionals on each other are otherwise never
   found: each axis is sliced by the other's recovered cells, which merge the two cells
   its conditional step lives in. Cutting those cells shows one of them, and the other
   then shows at full contrast in the next rescan. Only on samples of at most 3 axes
   (``_SPLIT_MAX_AXES``: its cost grows with the joint cells, 3.7x on a 5-D grid).

When `num_cells` is given the `num_cells - 1` strongest candidates of each axis are kept
(``holds`` then also requires them to pass the floor and the scale test); otherwise every
candidate passing both is kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import scipy.special
import scipy.stats

from qdjax.identifiability._verdict import Verdict

__all__ = ["RECOVER_GRID_VERSION", "GridRecovery", "plot_grid", "recover_grid"]

# Bumped whenever recover_grid's defaults or algorithm change what it returns, so that cached
# results (e.g. the protocol's cells.json) are recomputed rather than silently reused.
# 5: the final retest with one-sided window limits (grid-recovery round 5).
# 6: the log-shared jump test and the jump-test scan by default (round 7).
# 7: the jump-test scan's cliffs placed by the 0.32 window (round 10).
# 8: the relative half-window scale check of the final jump tests, ratio 1/4 (round 11).
# 9: axes with repeated values spread over their resolution, near-copies of an axis never
#    slice it (input checks; thresholds identical to 8 on continuous samples without
#    near-functional axis pairs: 44 cases of true latents, warps and learned codes); a
#    1-D sample gets the segment passes too (marginals of seeds 2000-2013: 58 of 84 true
#    cliffs found vs 49, no cliff on 48 smooth 1-D samples).
# 10: windows shrink like (n / 5000)^(-1/3) above n = 5000 (``window_reference_n``): with
#     fixed windows smooth dependent densities got interior cliffs from n ~ 20 000 on.
#     Samples of at most 5000 rows give the same thresholds as 9.
# 11: the grid-conditioned rescans run when some axis has a cliff, not only when all do
#     (``rescan_partial``); identical to 10 whenever the first pass finds a cliff on every
#     axis or on none.
# 12: the rescans repeat while any axis gains cliffs (``regrow="any"``), not only when one
#     gains its first; a rounded axis's rounding-edge steps are dropped after every pass
#     (before, only at the end, so one could open version 11's partial rescans).
# 13: ``first_pass_min_strength`` 3 (was ``min_strength``, 2): false cliffs on about one
#     smooth sample in 15 (round 16).
# 14: the jump-test scan keeps 5 % of a segment's points (not of its range) on each side
#     (``test_scan_pad="mass"``) and every kept cliff must reject smoothness at 0.01 in a
#     0.32 window too (``local_check_window``): a smooth column with one real cliff got
#     extra cliffs in its tails and shoulders in 13 % of draws (round 18).
# 15: a cliff needs 1 % of the sample on either side (``min_side_mass``): densities vanishing
#     at a support edge like a power (chi2(3), gamma(2), Weibull(1.5)) got cliffs within the
#     outermost 0.7 % of their rows (round 19).
# 16: once the rescans stop, the jump-test scan also runs on the grid-aligned views with one
#     other axis's cells cut at their medians (``test_scan_split=2``), and the rescans
#     resume if it adds a cliff: two cliffs that show only against each other were never
#     found (round 20). Identical to 15 whenever that scan adds nothing, and on samples of
#     more than 3 axes (skipped there for its cost).
RECOVER_GRID_VERSION = 16


@dataclasses.dataclass(frozen=True)
class GridRecovery(Verdict):
    """The axis-aligned grid recovered from a sample (see :func:`recover_grid`).

    ``holds`` is True when every axis has at least one interior cliff and every kept cliff
    passes the noise floor and the scale test, False when some axis has no cliff at all
    (no grid), None when cliffs were kept (``num_cells`` given) that fail a test.

    Attributes:
      thresholds: per axis, the ascending interior cliff positions in the units of `z`.
      uncertainty: per axis, the bootstrap std of each threshold (units of `z`).
      support: `[d, 2]` detected support edges (sample min and max) per axis.
      num_cells: per axis, `len(thresholds[i]) + 1`.
      strength: per axis, each threshold's scan statistic over its noise floor (> 1 = detected).
      scale_ratio: per axis, each threshold's energy ratio `E(w/2)/E(w)` (~1 jump, ~1/4 slope).
      view: per axis, which view detected each threshold (-1 marginal, `j` = slabs of axis `j`).
      rejected: per axis, positions of candidates that passed the floor but not the scale test.
      resolution: `[d]` width of the uniform noise that spread each axis's repeated values
        (0 = the axis was continuous; see ``max_tied_fraction`` of :func:`recover_grid`).
    """

    thresholds: tuple[np.ndarray, ...] = ()
    uncertainty: tuple[np.ndarray, ...] = ()
    support: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2)))
    num_cells: tuple[int, ...] = ()
    strength: tuple[np.ndarray, ...] = ()
    scale_ratio: tuple[np.ndarray, ...] = ()
    smooth_pvalue: tuple[np.ndarray, ...] = ()
    view: tuple[np.ndarray, ...] = ()
    rejected: tuple[np.ndarray, ...] = ()
    resolution: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    check: ClassVar[str] = "grid"

    def cells(self, z) -> np.ndarray:
        """`[n, d]` int64 cell index of each row of `z` (number of thresholds below it)."""
        z = _as_matrix(z, allow_empty=True)
        if z.shape[1] != len(self.thresholds):
            raise ValueError(
                f"z has {z.shape[1]} axes but the grid was recovered on {len(self.thresholds)}"
            )
        return np.stack(
            [np.searchsorted(t, z[:, a], side="right") for a, t in enumerate(self.thresholds)],
            axis=1,
        ).astype(np.int64)


def _as_matrix(z, *, allow_empty: bool = False) -> np.ndarray:
    try:
        z = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"z must be a numeric [n, d] array ({e}); convert it first") from None
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or (z.shape[0] == 0 and not allow_empty) or z.shape[1] == 0:
        raise ValueError(f"z must be a non-empty [n, d] array with d >= 1; got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("z contains NaN/Inf; drop those rows first")
    return z


# ----------------------------------------------------------------------------- scan


# Jump tests: "linear"/"quadratic" are one-sided boundary kernels on u in [0, 1] with
# `int K = 1`, `int u^k K = 0` for k = 1..order (each side its own polynomial); "shared-*"
# fit one polynomial across the candidate plus a step (the density's slope is continuous).
_BOUNDARY_KERNELS = {
    "linear": (4.0, -6.0),  # K(u) = 4 - 6u: unbiased for a linear density
    "quadratic": (9.0, -36.0, 30.0),  # K(u) = 9 - 36u + 30u^2: unbiased for a quadratic one
    "shared-linear": 1,  # p = a + b u + jump [u >= 0]
    "shared-quadratic": 2,  # p = a + b u + c u^2 + jump [u >= 0]
    "shared-cubic": 3,  # p = a + b u + c u^2 + e u^3 + jump [u >= 0]
    # log-density steps (likelihood-ratio tests, `_log_step_lr`): a smooth factor multiplies
    # the density, as a monotone warp's Jacobian does, instead of adding to it
    "log-quadratic": ("log", False),  # log p_s = a_s + b_s u + c u^2 + step_s [u >= 0]
    "log-shared": ("log", True),  # log p_s = a_s + b u + c u^2 + step_s [u >= 0]
    "log-shared-cubic": ("log", True, 3),  # log p_s = a_s + b u + c u^2 + e u^3 + step_s [u >= 0]
}
_GAUSS_LEGENDRE = np.polynomial.legendre.leggauss(6)  # exact to degree 11: Gram entries <= 6


def _one_sided(v, t, width, side, kernel):
    """One-sided local-polynomial density at `t` from the slab's sorted values `v`, its variance.

    `u = |x - t| / width` over the window on side `side` (+1 right, -1 left); with the
    boundary kernel `K` the estimate `sum K(u) / (N width)` is unbiased for a density that is
    a polynomial of the kernel's order near `t`; `Var = sum K(u)^2 / (N width)^2`.
    """
    lo, hi = (t, t + width) if side > 0 else (t - width, t)
    x = v[np.searchsorted(v, lo, side="left") : np.searchsorted(v, hi, side="left")]
    k = np.polynomial.polynomial.polyval(side * (x - t) / width, kernel)
    norm = v.size * width
    return float(np.sum(k)) / norm, float(np.sum(k * k)) / norm**2


def _shared_basis(x, t, scale, degree):
    """`[len(x), degree + 2]` basis `1, u, .., u^degree, [u >= 0]` with `u = (x - t) / scale`."""
    u = (x - t) / scale
    return np.stack([u**k for k in range(degree + 1)] + [(u >= 0).astype(np.float64)], axis=1)


def _shared_jump(v, t, wl, wr, degree):
    """Least-squares density fit `polynomial + step` on `[t - wl, t + wr)`: step, variance, floor.

    Projection estimator: with basis `phi` the coefficients solve `G beta = m`, `G` the
    Gram matrix of `phi` on the window and `m = sum_i phi(x_i) / N`; unbiased when the
    density is in the span, `Cov(beta) = G^-1 (sum_i phi phi^T / N^2) G^-1`. The floor is
    the variance for one point spread evenly over the window.
    """
    scale = max(wl, wr)
    nodes, weights = _GAUSS_LEGENDRE
    gram = np.zeros((degree + 2, degree + 2))
    for a, b in ((t - wl, t), (t, t + wr)):
        xq = 0.5 * (b - a) * nodes + 0.5 * (a + b)
        # the step is 1 on the right piece; evaluate just inside each piece
        phi = _shared_basis(np.clip(xq, a + 1e-12 * scale, b - 1e-12 * scale), t, scale, degree)
        gram += (phi * (0.5 * (b - a) * weights)[:, None]).T @ phi
    x = v[np.searchsorted(v, t - wl, side="left") : np.searchsorted(v, t + wr, side="left")]
    phi = _shared_basis(x, t, scale, degree)
    inv = np.linalg.inv(gram)
    beta = inv @ phi.sum(0) / v.size
    cov = inv @ (phi.T @ phi) @ inv / v.size**2
    floor = inv[-1, -1] / (v.size**2 * (wl + wr))
    return float(beta[-1]), float(cov[-1, -1]), float(floor)


def _sides(t, w, lo, hi):
    """Left and right widths of the window `[t - w, t + w)` truncated to `[lo, hi]` (> 0)."""
    return np.maximum(t - np.maximum(t - w, lo), 1e-12), np.maximum(
        np.minimum(t + w, hi) - t, 1e-12
    )


def _is_log(kernel) -> bool:
    return isinstance(kernel, tuple) and kernel[0] == "log"


def _log_kw(kernel) -> dict:
    """`_log_step_lr` keywords of a log kernel `("log", shared_slope[, degree])`."""
    return {"shared_slope": kernel[1], "degree": kernel[2] if len(kernel) > 2 else 2}


def _jumps(slabs, t, w, lo, hi, kernel):
    """`[S]` jump estimates `f(t+) - f(t-)` at `t` (see `_BOUNDARY_KERNELS`), variances, floors.

    The floor is the variance of an estimate from about one point (empty windows).
    """
    wl, wr = (float(x) for x in _sides(t, w, lo, hi))
    jump, var, floor = np.empty((3, len(slabs)))
    for s, v in enumerate(slabs):
        if isinstance(kernel, int):
            jump[s], var[s], floor[s] = _shared_jump(v, t, wl, wr, kernel)
        else:
            fl, vl = _one_sided(v, t, wl, -1.0, kernel)
            fr, vr = _one_sided(v, t, wr, 1.0, kernel)
            jump[s], var[s] = fr - fl, vl + vr
            floor[s] = kernel[0] ** 2 / (v.size * w) ** 2
    return jump, var, floor


def _windows(r, w, marg, lo, hi, rank):
    """Window `[a, t, b)` at grid points `r` with half-width `w`, and where both sides are >= w/2.

    `rank=False`: `r` are positions and `w` a width in standardized units. `rank=True`: `r`
    and `w` are fractions of the sample (through the marginal quantile function), so every
    window holds about the same number of samples whatever a monotone warp did to the axis.
    `w = inf`: the whole range `[lo, hi)` split at `t` (a change-point scan), wherever both
    sides hold at least `_MIN_SIDE` of the range.
    """
    if rank:
        grid = np.linspace(0.0, 1.0, marg.size)

        def qf(x):
            return np.interp(x, grid, marg)

        t, a, b = qf(r), qf(np.maximum(r - w, 0.0)), qf(np.minimum(r + w, 1.0))
        ok = (r >= 0.5 * w) & (r <= 1.0 - 0.5 * w)
    else:
        t, a, b = r, np.maximum(r - w, lo), np.minimum(r + w, hi)
        ok = (t - a >= 0.5 * w) & (b - t >= 0.5 * w)
    if np.isinf(w):
        x = r if rank else (r - lo) / max(hi - lo, 1e-300)
        ok = (x >= _MIN_SIDE) & (x <= 1.0 - _MIN_SIDE)
    return t, a, b, ok & (b > t) & (t > a)


def _q(slabs, t, a, b, ok):
    """Scan statistic `Q(t) = sum_s zeta_s(t)^2` of binomial count z-scores.

    Under a locally flat density `n_L ~ Bin(n_L + n_R, w_L / (w_L + w_R))` with
    `w_L = t - a`, `w_R = b - t`; 0 where `ok` is False (at the support edges).
    """
    wl, wr = t - a, b - t
    p0 = wl / np.maximum(wl + wr, 1e-300)
    q = np.zeros(t.size)
    for v in slabs:
        ia, it, ib = (np.searchsorted(v, x, side="left") for x in (a, t, b))
        nl, nr = it - ia, ib - it
        q += (nl - (nl + nr) * p0) ** 2 / ((nl + nr) * p0 * (1 - p0) + 1.0)
    return np.where(ok, q, 0.0)


def _ll_test(slabs, c, w, lo, hi, kernel):
    """Jump statistic at `c` and its degrees of freedom (~chi2(df) if the density is smooth).

    Local-polynomial kernels: `sum_s jump_s^2 / Var_s` over the `S` slabs (df = S); log
    kernels: the likelihood ratio of `_log_step_lr`.
    """
    if _is_log(kernel):
        return _log_step_lr(slabs, c, *_sides(c, w, lo, hi), **_log_kw(kernel))
    jump, var, floor = _jumps(slabs, c, w, lo, hi, kernel)
    return float(np.sum(jump**2 / np.maximum(var, floor))), len(slabs)


def _ll_tests(slabs, ts, w, lo, hi, kernel):
    """`_ll_test` at every position of `ts` (log kernels computed together); `(stats, dfs)`."""
    if _is_log(kernel):
        return _log_step_lr(slabs, ts, *_sides(ts, w, lo, hi), **_log_kw(kernel))
    out = [_ll_test(slabs, t, w, lo, hi, kernel) for t in ts]
    return np.array([o[0] for o in out]), np.array([o[1] for o in out])


_GAUSS_LEGENDRE_16 = np.polynomial.legendre.leggauss(16)  # per side of the log-step window


def _exp_family_max_ll(f_shared, f_own, log_w, s_shared, s_own, n, start=None, iters=50):
    """Batched maximum of `sum_s [theta . s_shared + phi_s . s_own_s - n_s log Z_s]`.

    For each of `B` windows, the conditional log-likelihood of `S` slabs with densities
    `p_s(x) ∝ exp(f_shared(x) . theta + f_own(x) . phi_s)` on the window, `Z_s` its integral
    by quadrature (node features `f_*: [B, Q, k]`, log weights `log_w: [B, Q]`); `s_shared:
    [B, k_sh]` the shared features summed over every point, `s_own: [B, S, k_own]` and
    `n: [B, S]` per slab (a slab with `n = 0` contributes nothing). Concave (an exponential
    family): damped Newton from `start` (`(theta [B, k_sh], phi [B, S, k_own])`, default
    zero), a tiny ridge for unidentified coordinates. Returns `(ll [B], theta, phi)`.
    """
    nb, num = n.shape
    k_sh, k_own = f_shared.shape[2], f_own.shape[2]
    k = k_sh + k_own
    dim = k_sh + num * k_own
    f_all = np.concatenate([f_shared, f_own], axis=2)  # [B, Q, k]
    outer = (f_all[:, :, :, None] * f_all[:, :, None, :]).reshape(nb, -1, k * k)

    def value(theta, phi):
        eta = (f_shared @ theta[:, :, None])[:, None, :, 0]
        eta = eta + phi @ f_own.transpose(0, 2, 1) + log_w[:, None, :]
        m = eta.max(2, keepdims=True)
        e = np.exp(eta - m)
        z = e.sum(2, keepdims=True)
        log_z = np.log(z[..., 0]) + m[..., 0]
        ll = np.sum(s_shared * theta, axis=1) + np.sum(s_own * phi, axis=(1, 2))
        return ll - np.sum(n * log_z, axis=1), e / z

    if start is None:
        theta, phi = np.zeros((nb, k_sh)), np.zeros((nb, num, k_own))
    else:
        theta, phi = start
    ll, p = value(theta, phi)
    for _ in range(iters):
        mean = p @ f_all
        cov = (p @ outer).reshape(nb, num, k, k)
        cov = n[:, :, None, None] * (cov - mean[:, :, :, None] * mean[:, :, None, :])
        grad = np.concatenate(
            [
                s_shared - np.einsum("bs,bsk->bk", n, mean[:, :, :k_sh]),
                (s_own - n[:, :, None] * mean[:, :, k_sh:]).reshape(nb, -1),
            ],
            axis=1,
        )
        # Newton step: the negative Hessian (sum of n_s Cov_s) is an arrow matrix, a shared
        # block `a`, per-slab blocks `d_s` and their couplings `c_s`; solved by its Schur
        # complement (a tiny ridge on the diagonal for unidentified coordinates).
        a = cov[:, :, :k_sh, :k_sh].sum(1)
        c = cov[:, :, :k_sh, k_sh:]  # [B, S, k_sh, k_own]
        d = cov[:, :, k_sh:, k_sh:]
        trace = np.trace(a, axis1=1, axis2=2) + np.trace(d, axis1=2, axis2=3).sum(1)
        ridge = 1e-9 * (trace / dim + 1.0)
        d_inv = np.linalg.inv(d + ridge[:, None, None, None] * np.eye(k_own))
        g_sh, g_own = grad[:, :k_sh], grad[:, k_sh:].reshape(nb, num, k_own)
        c_dinv = np.einsum("bsij,bsjk->bsik", c, d_inv)
        schur = a + ridge[:, None, None] * np.eye(k_sh) - np.einsum("bsik,bsjk->bij", c_dinv, c)
        rhs = g_sh - np.einsum("bsik,bsk->bi", c_dinv, g_own)
        x_sh = np.linalg.solve(schur, rhs[:, :, None])[..., 0]
        x_own = np.einsum("bsij,bsj->bsi", d_inv, g_own - np.einsum("bsij,bi->bsj", c, x_sh))
        step = np.concatenate([x_sh, x_own.reshape(nb, -1)], axis=1)
        lam = np.ones(nb)
        for _ in range(25):
            new_theta = theta + lam[:, None] * step[:, :k_sh]
            new_phi = phi + lam[:, None, None] * step[:, k_sh:].reshape(nb, num, k_own)
            new_ll, new_p = value(new_theta, new_phi)
            bad = (new_ll < ll - 1e-10) & (lam >= 1e-6)
            if not bad.any():
                break
            lam = np.where(bad, 0.5 * lam, lam)
        converged = np.all(np.abs(new_ll - ll) < 1e-8)
        theta, phi, p, ll = new_theta, new_phi, new_p, new_ll
        if converged:
            break
    return ll, theta, phi


def _log_step_lr(slabs, t, wl, wr, *, shared_slope, degree=2):
    r"""Likelihood ratios for a step in the log-density at `t` on `[t - wl, t + wr)`.

    Per slab `s` with `u = (x - t) / max(wl, wr)`, the density conditional on the window is
    :math:`p_s(u) \propto \exp(b_s u + c u^2 + \delta_s [u \ge 0])` (the intercept is the
    normalisation); ``degree=3`` adds a shared cubic term `e u^3` (a log-density whose
    curvature changes inside the window, e.g. a strongly curved warp). The curvature `c` is
    shared by the slabs, and with
    ``shared_slope=True`` the slope too: the Jacobian of a monotone warp of the axis
    multiplies every conditional density by the same smooth factor, so a grid density after
    the warp is exactly a per-slab step times one shared smooth factor, while a step that
    each slab's own slope could mimic costs power. `LR = 2 (max ll - max ll|delta = 0)`,
    ~chi2(df) when the log-density is locally quadratic (exact for a Gaussian), df = the
    slabs with a point in the window (LR 0 and df 1 when none has).

    `t`, `wl`, `wr` are scalars (returns `(LR, df)`) or `[B]` arrays, computed together
    (returns `(LR [B], df [B])`); the slabs' sums come from prefix sums.
    """
    scalar = np.ndim(t) == 0
    t, wl, wr = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (t, wl, wr))
    t, wl, wr = np.broadcast_arrays(t, wl, wr)
    scale = np.maximum(wl, wr)
    nb, num = t.size, len(slabs)
    n, n_right = np.zeros((nb, num)), np.zeros((nb, num))
    su = np.zeros((degree + 1, nb, num))  # su[k]: sum of u^k over the window
    for j, v in enumerate(slabs):
        cum = [np.concatenate([[0.0], np.cumsum(v**k)]) for k in range(degree + 1)]
        ia, it, ib = (np.searchsorted(v, x) for x in (t - wl, t, t + wr))
        n[:, j], n_right[:, j] = ib - ia, ib - it
        # sums of u^k over the window, u = (x - t) / scale, by the binomial expansion of
        # (x - t)^k over prefix sums of x^m
        sx = [c[ib] - c[ia] for c in cum]
        for k in range(1, degree + 1):
            acc = sum(scipy.special.comb(k, m) * (-t) ** (k - m) * sx[m] for m in range(k + 1))
            su[k, :, j] = acc / scale**k
    used = np.any(n > 0, axis=0)  # slabs with no point in any of the windows drop out
    n, n_right, su = n[:, used], n_right[:, used], su[:, :, used]
    s1 = su[1]
    num = n.shape[1]
    nodes, weights = _GAUSS_LEGENDRE_16
    lo_u, hi_u = -wl / scale, wr / scale
    qu = np.concatenate(
        [
            np.clip(0.5 * lo_u[:, None] * (1 - nodes), lo_u[:, None] + 1e-12, -1e-12),
            np.clip(0.5 * hi_u[:, None] * (1 + nodes), 1e-12, hi_u[:, None] - 1e-12),
        ],
        axis=1,
    )
    log_w = np.log(
        np.concatenate([-0.5 * lo_u[:, None] * weights, 0.5 * hi_u[:, None] * weights], axis=1)
    )
    step = (qu >= 0).astype(np.float64)
    first = 1 if shared_slope else 2  # the lowest power of u shared by the slabs
    powers = range(first, degree + 1)
    f_sh = np.stack([qu**k for k in powers], axis=2)
    s_sh = np.stack([su[k].sum(1) for k in powers], axis=1)
    if shared_slope:
        f_own, s_own = step[:, :, None], n_right[:, :, None]
    else:
        f_own, s_own = np.stack([qu, step], axis=2), np.stack([s1, n_right], axis=2)
    ll0, theta, phi = _exp_family_max_ll(f_sh, f_own[..., :-1], log_w, s_sh, s_own[..., :-1], n)
    # the step model starts from the no-step fit (step 0)
    start = (theta, np.concatenate([phi, np.zeros((nb, num, 1))], axis=2))
    ll1, _, _ = _exp_family_max_ll(f_sh, f_own, log_w, s_sh, s_own, n, start=start)
    df = np.count_nonzero(n > 0, axis=1)
    lr = np.where(df > 0, np.maximum(2.0 * (ll1 - ll0), 0.0), 0.0)
    df = np.maximum(df, 1)
    return (float(lr[0]), int(df[0])) if scalar else (lr, df)


def _energy(slabs, c, w, lo, hi, kernel):
    """Debiased jump energy `sum_s N_s (jump_s^2 - Var_s)` at `c` with half-width `w`."""
    if _is_log(kernel):
        kernel = 2  # the scale ratio is reported only: from the additive shared-quadratic fit
    jump, var, _ = _jumps(slabs, c, w, lo, hi, kernel)
    sizes = np.array([v.size for v in slabs])
    return float(np.sum(sizes * (jump**2 - var)))


def _scale_ratio(slabs, c, w, lo, hi, kernel):
    """`E(w/2) / E(w)` of the debiased jump energy (~1 jump, ~1/4 slope; 0 if E(w) <= 0)."""
    e_w = _energy(slabs, c, w, lo, hi, kernel)
    return _energy(slabs, c, 0.5 * w, lo, hi, kernel) / e_w if e_w > 0 else 0.0


def _change_point(slabs, t, w, lo, hi):
    """Maximum-likelihood change point of a two-piece constant density in `[t - w, t + w]`."""
    a, b = max(t - w, lo), min(t + w, hi)
    pts = np.concatenate([v[(v > a) & (v < b)] for v in slabs])
    if pts.size < 2:
        return t
    pts = np.sort(pts)
    c = 0.5 * (pts[1:] + pts[:-1])
    if c.size > 4000:
        c = c[:: int(np.ceil(c.size / 4000))]
    ll = np.zeros(c.size)
    for v in slabs:
        nl = (np.searchsorted(v, c) - np.searchsorted(v, a)).astype(np.float64)
        nr = (np.searchsorted(v, b) - np.searchsorted(v, c)).astype(np.float64)
        wl, wr = c - a, b - c
        ll += np.where(nl > 0, nl * np.log(np.maximum(nl, 1) / wl), 0.0)
        ll += np.where(nr > 0, nr * np.log(np.maximum(nr, 1) / wr), 0.0)
    return float(c[np.argmax(ll)])


def _views(u: np.ndarray, i: int, num_slabs: int, skip=()):
    """Per view: sorted slab values of axis `i` (view -1 = marginal, `j` = slabs of axis `j`);
    the axes in `skip` (near-functions of axis `i`) slice nothing."""
    views = [(-1, [np.sort(u[:, i])])]
    for j in range(u.shape[1]):
        if j == i or j in skip:
            continue
        edges = np.quantile(u[:, j], np.linspace(0, 1, num_slabs + 1)[1:-1])
        lab = np.searchsorted(edges, u[:, j], side="right")
        views.append((j, [np.sort(u[lab == b, i]) for b in range(num_slabs)]))
    return views


def _floor(sizes, r, w, lo, hi, rank, rng, num_null, quantile, cache):
    """Resampled noise floor: quantile over flat replicates of `max_t Q(t)`.

    Cached per call of :func:`recover_grid` by (slab sizes, window, support, grid): the
    rescans conditioned on the grid reuse the floors of the views they share.
    """
    key = (tuple(sizes), w, lo, hi, rank, r.size)
    if key not in cache:
        maxima = np.empty(num_null)
        for k in range(num_null):
            slabs = [np.sort(rng.uniform(lo, hi, size=m)) for m in sizes]
            marg = np.sort(np.concatenate(slabs)) if rank else None
            maxima[k] = np.max(_q(slabs, *_windows(r, w, marg, lo, hi, rank)))
        cache[key] = float(np.quantile(maxima, quantile))
    return cache[key]


def _restrict(views, lo, hi):
    """The views with every slab cut to `(lo, hi)` (a segment between found cliffs)."""
    out = {}
    for vid, slabs in views.items():
        out[vid] = [np.sort(v[(v > lo) & (v < hi)]) for v in slabs]
    return out


def _scan(
    views, lo, hi, *, scales, grid_size, num_null, null_quantile, rng, rank, cache, marginal=()
):
    """Strength `max Q / floor` over views and scales at `grid_size` positions in `[lo, hi]`.

    `marginal`: more (wider) half-widths scanned in the marginal view only.

    Returns positions, strengths, and for each position the winning view and its window
    half-width in standardized units.
    """
    marg = views[-1][0]
    r = np.linspace(0.0, 1.0, grid_size) if rank else np.linspace(lo, hi, grid_size)
    best = np.zeros(grid_size)  # strength
    best_w = np.full(grid_size, np.nan)
    best_view = np.full(grid_size, -1)
    t_pos = _windows(r, scales[0], marg, lo, hi, rank)[0]
    for vid, slabs in views.items():
        sizes = [v.size for v in slabs]
        if min(sizes) < 2:
            continue
        for w in (*scales, *marginal) if vid == -1 else scales:
            t, a, b, ok = _windows(r, w, marg, lo, hi, rank)
            q = _q(slabs, t, a, b, ok)
            s = q / _floor(sizes, r, w, lo, hi, rank, rng, num_null, null_quantile, cache)
            better = s > best
            best = np.where(better, s, best)
            best_w = np.where(better, 0.5 * (b - a), best_w)
            best_view = np.where(better, vid, best_view)
    best_w = np.where(np.isfinite(best_w), best_w, 1e-3)
    return t_pos, best, best_w, best_view


def _evaluate(cands, t, strength, width, view, views, lo, hi, kernel, jump_window):
    """Per candidate: (position, strength, scale ratio, view, scale, smooth p-value)."""
    # the positions from the grid-aligned slabs when the other axes' cells are known
    pos = [
        _change_point(views.get(_CELLS_VIEW, views[int(view[k])]), t[k], float(width[k]), lo, hi)
        for k in cands
    ]
    recs = []
    for n_k, k in enumerate(cands):
        slabs, w, c = views[int(view[k])], float(width[k]), pos[n_k]
        ratio = _scale_ratio(slabs, c, w, lo, hi, kernel)
        # the jump test's window stays clear of the other candidates' refined positions
        others = [abs(q - c) for n_j, q in enumerate(pos) if n_j != n_k]
        w_ll = min([max(2.0 * w, jump_window), *(0.9 * x for x in others)])
        pval = float(scipy.stats.chi2.sf(*_ll_test(slabs, c, w_ll, lo, hi, kernel)))
        recs.append((c, float(strength[k]), ratio, int(view[k]), w, pval))
    return recs


def _retest(
    kept,
    views,
    lo,
    hi,
    kernel,
    jump_window,
    max_pvalue,
    half_pvalue=None,
    half_ratio=None,
    local=None,
):
    """Jump tests of the kept cliffs redone with windows clear of *every* other kept cliff.

    Each side of a cliff's window reaches up to 0.9 of the way to the neighbouring kept cliff
    (or the support edge), at most twice the detecting scale: as wide on each side as the
    segment pass allowed, so a cliff found by a whole-segment scan keeps its power.

    The passes test each candidate against the candidates of its own scan only, so a
    spurious candidate beside a cliff found by another pass (e.g. in a cell compressed by a
    warp) could borrow that cliff's step. Here the least significant failing cliff is dropped
    and the rest retested, until every kept cliff passes.

    With ``half_pvalue`` (the scale check), each cliff must also reject smoothness at that
    level in the window of half the sides: a jump keeps about half its likelihood ratio
    there (half the points, the same step), while a smooth shape the log-quadratic misfits
    (e.g. a warp whose Jacobian swings inside the window, a curved tail) loses it like
    ``w^7`` (a misfit of the log-density of order w^3, squared, times the w n points).
    With ``half_ratio`` (the relative scale check, default since round 11) the half
    window's statistic in excess of its degrees of freedom must be at least ``half_ratio``
    times the full window's: it spares a weak true cliff, whose half-window p-value alone
    can be large. With ``local = (window, pvalue)`` (the local check, round 18) each cliff
    must also reject smoothness at `pvalue` in the window of half-width `window` around it
    (within the same limits): a jump is local, while the log-quadratic's misfit of a wide
    window over a long or heavy tail (Student t, lognormal) or a bimodal piece shows at any
    split of it and vanishes in a narrow window. A cliff's score is the largest of its
    ratios to these limits; the worst one over 1 is dropped first.
    """
    kept = sorted(kept, key=lambda r: r[0])
    while kept:
        pvals, scores = [], []
        for j, r in enumerate(kept):
            # each side of the window stops short of the neighbouring kept cliff on that side
            a = lo if j == 0 else r[0] - 0.9 * (r[0] - kept[j - 1][0])
            b = hi if j == len(kept) - 1 else r[0] + 0.9 * (kept[j + 1][0] - r[0])
            slabs = views[r[3]]
            w = max(2.0 * r[4], jump_window)
            stat, df = _ll_test(slabs, r[0], w, a, b, kernel)
            pvals.append(float(scipy.stats.chi2.sf(stat, df)))
            score = pvals[-1] / max_pvalue
            if half_pvalue is not None or half_ratio is not None:
                wl, wr = _sides(r[0], w, a, b)
                half_a, half_b = r[0] - 0.5 * wl, r[0] + 0.5 * wr
                h_stat, h_df = _ll_test(slabs, r[0], np.inf, half_a, half_b, kernel)
                if half_pvalue is not None:
                    score = max(score, float(scipy.stats.chi2.sf(h_stat, h_df)) / half_pvalue)
                if half_ratio is not None:
                    # the excess over df (the noncentrality) must keep `half_ratio` of itself
                    ratio = half_ratio * max(stat - df, 0.0) / max(h_stat - h_df, 1e-12)
                    score = max(score, ratio)
            if local is not None:
                l_stat, l_df = _ll_test(slabs, r[0], local[0], a, b, kernel)
                score = max(score, float(scipy.stats.chi2.sf(l_stat, l_df)) / local[1])
            scores.append(score)
        worst = int(np.argmax(scores))
        if scores[worst] <= 1.0:
            return [(*r[:5], max(r[5], p)) for r, p in zip(kept, pvals)]
        kept.pop(worst)
    return kept


def _test_scan(
    kept,
    scan_views,
    lo,
    hi,
    kernel,
    max_pvalue,
    *,
    cap,
    windows,
    positions=48,
    place_window=None,
    num_tests=None,
    pad="range",
):
    """Cliffs missed by the count scans, found by scanning the jump test itself (step 9).

    In each segment between kept cliffs (and the support edges), the jump test of each view
    of `scan_views` (`{view id: slabs}`: the grid-aligned view in the rescans, the split
    views of ``test_scan_split`` after them) is evaluated at `positions` evenly spaced
    points clear of the segment ends, with half-widths `windows` (inf = the whole segment
    split at the point); its smallest p-value, Bonferroni-corrected for the points, windows
    and views scanned (or multiplied by `num_tests` when given: an effective number of
    tests per view), must reach `max_pvalue`. The most significant segment's cliff is added
    (its position refined on a 10x finer grid) and the search repeats until none passes or
    `cap` cliffs are kept.
    Strength is reported as the statistic over its Bonferroni critical value (> 1 = kept).
    `pad`: the points are kept `_MIN_SIDE` of the segment clear of its ends in units of the
    range (``"range"``) or of the segment's points pooled over the slabs (``"mass"``: each
    split leaves at least that share of them on either side, so a long sparse tail is not
    split next to its last few points).
    """
    kept = sorted(kept, key=lambda r: r[0])
    cap = min(cap, len(kept) + _TEST_SCAN_MAX_ADDED)
    num_tests = positions * len(windows) if num_tests is None else num_tests
    num_tests *= len(scan_views)
    marginal = scan_views[min(scan_views)]  # the grid-aligned view
    seen = {}  # segment -> its best (p_adj, position, window, a, b, grid step, view) or None

    def segment_best(a, b):
        a, b = a + _SEGMENT_MARGIN, b - _SEGMENT_MARGIN
        if b - a < 4 * _SEGMENT_MARGIN:
            return None
        if pad == "mass":
            pooled = np.sort(np.concatenate([v[(v > a) & (v < b)] for v in marginal]))
            if pooled.size < 2:
                return None
            first, last = np.quantile(pooled, [_MIN_SIDE, 1.0 - _MIN_SIDE])
        else:
            first, last = a + _MIN_SIDE * (b - a), b - _MIN_SIDE * (b - a)
        ts = np.linspace(first, last, positions)
        best = None
        for vid, slabs in scan_views.items():
            for w in windows:
                pvals = scipy.stats.chi2.sf(*_ll_tests(slabs, ts, w, a, b, kernel))
                k = int(np.argmin(pvals))
                p_adj = min(1.0, pvals[k] * num_tests)
                if p_adj <= max_pvalue and (best is None or p_adj < best[0]):
                    best = (p_adj, ts[k], w, a, b, ts[1] - ts[0], vid)
        return best

    while len(kept) < cap:
        bounds = [lo, *(r[0] for r in kept), hi]
        best = None
        for seg in zip(bounds[:-1], bounds[1:]):
            if seg not in seen:  # only the two segments a new cliff made are scanned anew
                seen[seg] = segment_best(*seg)
            if seen[seg] is not None and (best is None or seen[seg][0] < best[0]):
                best = seen[seg]
        if best is None:
            break
        _, t0, w, a, b, step, vid = best
        slabs = scan_views[vid]
        if place_window is not None and w > place_window:
            # placed by the local window: a wide window's log-quadratic misfit moves its
            # likelihood-ratio maximum away from the step
            edge = _MIN_SIDE * (b - a)
            ts = np.linspace(max(t0 - place_window, a + edge), min(t0 + place_window, b - edge), 97)
            t0 = float(ts[int(np.argmax(_ll_tests(slabs, ts, place_window, a, b, kernel)[0]))])
            step = ts[1] - ts[0]
        fine = np.clip(np.linspace(t0 - step, t0 + step, 21), a + 1e-9, b - 1e-9)
        stats, dfs = _ll_tests(slabs, fine, w, a, b, kernel)
        k = int(np.argmax(stats))
        stat, df = float(stats[k]), int(dfs[k])
        t = float(fine[k])
        crit = scipy.stats.chi2.isf(max_pvalue / num_tests, df)
        pval = float(scipy.stats.chi2.sf(stat, df))
        half = w if np.isfinite(w) else max(t - a, b - t)
        ratio = _scale_ratio(slabs, t, half, a, b, kernel)
        kept.append((t, float(stat / crit), ratio, vid, float(half), pval))
        kept.sort(key=lambda r: r[0])
    return kept


def _candidates(t, strength, width, *, min_strength):
    """Greedy non-maximum suppression: strongest first, at least one window apart."""
    order = np.argsort(-strength)
    keep = []
    for k in order:
        if strength[k] <= min_strength:
            break
        is_max = (k == 0 or strength[k] >= strength[k - 1]) and (
            k == t.size - 1 or strength[k] >= strength[k + 1]
        )
        if is_max and all(abs(t[k] - t[j]) > min(width[k], width[j]) for j in keep):
            keep.append(k)
    return keep


# window -> (scan half-widths, extra half-widths of the segment pass)
_DEFAULT_SCALES = {
    "rank": ((0.01, 0.02, 0.04), (0.08, 0.16)),
    "std": ((0.04, 0.08, 0.16), (0.32, 0.64, np.inf)),
}
# At most this many cliffs per axis are added by the jump-test scan (a compute bound: each
# addition rescans two segments). On the grids of tuning and evaluation seeds 0-13, 500-511
# and 600-611 (true latents and the three warps) it added at most 2 per axis; a code that
# would need more, e.g. a rotated grid, is not an axis-aligned grid the scans see.
_TEST_SCAN_MAX_ADDED = 2
_MIN_SIDE = 0.05  # smallest side of a change-point window (w = inf), fraction of the range
_SEGMENT_MARGIN = 0.01  # standardized units kept clear of a found cliff in the segment pass
_CELLS_VIEW = 10**6  # view id of the slabs given by the recovered cells of the other axes
# view ids `_SPLIT_VIEW + j`: the recovered cells with those of axis `j` split further
# (``test_scan_split``); scanned by the jump-test scan after the rescans only
_SPLIT_VIEW = 2 * 10**6
# The split stage runs on samples of at most this many axes: in 5-D each axis gets 4 split
# views of up to 162 slabs, which made recover_grid 3.7x slower on a 5-D 3-cell grid (81 vs
# 22 s) and 1.3x on 8 real columns, and no grid of more than 3 axes was tuned with it.
_SPLIT_MAX_AXES = 3


def _cells_of(results, u: np.ndarray) -> np.ndarray:
    """`[n, d]` cell of each row on the grid of the axes' kept cliffs (`results[j][0]`)."""
    return np.stack(
        [np.searchsorted(sorted(q[0] for q in r[0]), u[:, j]) for j, r in enumerate(results)],
        axis=1,
    )


def _cell_slabs(u: np.ndarray, i: int, grid: np.ndarray, skip) -> list[np.ndarray]:
    """Sorted values of axis `i` per cell of the other axes' labels `grid` (not `skip`),
    cells with fewer than 20 rows left out."""
    others = np.delete(grid, [i, *sorted(skip)], axis=1)
    _, lab = np.unique(others, axis=0, return_inverse=True)
    lab = lab.reshape(-1)
    return [np.sort(v) for v in (u[lab == b, i] for b in range(lab.max() + 1)) if v.size >= 20]


def _dependent_axes(u: np.ndarray, max_rank_correlation: float) -> list[set]:
    """Per axis, the other axes whose |Spearman correlation| with it exceeds the bound."""
    d = u.shape[1]
    if d < 2:
        return [set()]
    ranks = np.argsort(np.argsort(u, axis=0), axis=0).astype(np.float64)
    rho = np.abs(np.corrcoef(ranks, rowvar=False))
    return [{j for j in range(d) if j != i and rho[i, j] > max_rank_correlation} for i in range(d)]


_DISCRETE_VALUES = 10  # up to this many distinct values, an axis is discrete: all gaps count


def _dequantize(z: np.ndarray, rng: np.random.Generator, max_tied_fraction: float):
    """Spreads each axis with many repeated values uniformly over its resolution.

    Rounded or discrete values (counts, a table's fixed decimals, a quantized code) put
    all of an axis's mass on a lattice, whose every gap reads as a cliff. An axis whose
    share of repeated values exceeds `max_tied_fraction` gets `U(-r/2, r/2)` noise, with
    `r` the smallest gap between its distinct values: the density of the rounded variable
    spread over its rounding cells, whose cliffs are the original ones (to within `r/2`)
    and, for a discrete variable, the midpoints between its values. Returns the axes and
    the resolution used and the number of distinct values per axis (resolution 0 = left
    alone).
    """
    z = z.copy()
    res, distinct = np.zeros(z.shape[1]), np.zeros(z.shape[1], np.int64)
    for i in range(z.shape[1]):
        vals = np.unique(z[:, i])
        distinct[i] = vals.size
        if 1 - vals.size / z.shape[0] <= max_tied_fraction or vals.size < 2:
            continue
        res[i] = float(np.min(np.diff(vals)))
        z[:, i] += res[i] * (rng.random(z.shape[0]) - 0.5)
    return z, res, distinct


def _recover_axis(
    views,
    x,
    i,
    *,
    scales,
    num_cells,
    min_strength,
    max_smooth_pvalue,
    refine_segments,
    scan_kw,
    kernel,
    segment_min_strength,
    jump_window,
    extra_scales=(),
    test_scan=False,
    test_scan_windows=(0.32, np.inf),
    scale_check_pvalue=None,
    scale_check_ratio=None,
    test_scan_place_window=None,
    test_scan_num_tests=None,
    test_scan_pad="range",
    local_check=None,
    marginal_scales=(),
):
    """Cliffs of one axis: scan, candidates, tests; `(kept, rejected, failed, lo, hi)`."""
    lo, hi = float(x.min()), float(x.max())
    scale_check = (scale_check_pvalue, scale_check_ratio, local_check)
    floor = 0.0 if num_cells is not None else min_strength
    t, strength, width, view = _scan(
        views, lo, hi, scales=scales, marginal=marginal_scales, **scan_kw
    )
    cands = _candidates(t, strength, width, min_strength=floor)
    recs = _evaluate(cands, t, strength, width, view, views, lo, hi, kernel, jump_window)
    # Optional second pass: weak cliffs inside each segment between found cliffs, with
    # the floor resampled on the segment (segment ends act as support edges).
    found = sorted(r[0] for r in recs if r[1] > min_strength and r[5] <= max_smooth_pvalue)
    bounds = [lo, *found, hi] if refine_segments else []
    marg = views[-1][0]
    for a, b in zip(bounds[:-1], bounds[1:]):
        a, b = a + _SEGMENT_MARGIN, b - _SEGMENT_MARGIN
        if scan_kw["rank"]:  # fractions of the whole sample -> fractions of the segment
            frac = max(np.count_nonzero((marg > a) & (marg < b)) / marg.size, 1e-12)
            wide = tuple(
                w / frac for w in (*scales, *extra_scales) if 4 * w / frac <= 1 or np.isinf(w)
            )
        else:
            wide = tuple(w for w in (*scales, *extra_scales) if 4 * w <= b - a or np.isinf(w))
        if not wide or np.count_nonzero((marg > a) & (marg < b)) < 2:
            continue
        sub = _restrict(views, a, b)
        ts, ss, ws, vs = _scan(sub, a, b, scales=wide, **scan_kw)
        # a stricter floor: the segments add many (position, scale) comparisons
        cs = _candidates(ts, ss, ws, min_strength=segment_min_strength)
        recs += [
            r
            for r in _evaluate(cs, ts, ss, ws, vs, sub, a, b, kernel, jump_window)
            if r[5] <= max_smooth_pvalue
        ]
    recs.sort(key=lambda r: -r[1])
    kept, rejected = [], []
    for r in recs:
        if any(abs(r[0] - q[0]) < 0.5 * min(r[4], q[4]) for q in kept):
            continue  # the same cliff seen by both passes
        if num_cells is None and (r[1] <= min_strength or r[5] > max_smooth_pvalue):
            if r[1] > min_strength:
                rejected.append(r[0])
            continue
        kept.append(r)
        if num_cells is not None and len(kept) == num_cells[i] - 1:
            break
    if num_cells is None:
        kept = _retest(kept, views, lo, hi, kernel, jump_window, max_smooth_pvalue, *scale_check)
    if test_scan and _CELLS_VIEW in views:
        cap = num_cells[i] - 1 if num_cells is not None else 10**6
        kept = _test_scan(
            kept,
            {_CELLS_VIEW: views[_CELLS_VIEW]},
            lo,
            hi,
            kernel,
            max_smooth_pvalue,
            cap=cap,
            windows=test_scan_windows,
            place_window=test_scan_place_window,
            num_tests=test_scan_num_tests,
            pad=test_scan_pad,
        )
        if num_cells is None:
            kept = _retest(
                kept, views, lo, hi, kernel, jump_window, max_smooth_pvalue, *scale_check
            )
    kept.sort(key=lambda r: r[0])
    failed = num_cells is not None and (
        len(kept) < num_cells[i] - 1
        or any(r[1] <= min_strength or r[5] > max_smooth_pvalue for r in kept)
    )
    return kept, rejected, failed, lo, hi


def recover_grid(
    z,
    *,
    num_cells: int | Sequence[int] | None = None,
    window: str = "std",
    scales: Sequence[float] | None = None,
    num_slabs: int = 6,
    grid_size: int = 400,
    num_null: int = 20,
    null_quantile: float = 0.95,
    max_smooth_pvalue: float = 1e-4,
    min_strength: float = 2.0,
    first_pass_min_strength: float = 3.0,
    num_bootstrap: int = 20,
    refine_segments: bool = False,
    num_iterations: int = 1,
    segment_scales: Sequence[float] | None = None,
    jump_test: str = "log-shared",
    segment_min_strength: float | None = None,
    jump_window: float = 0.0,
    test_scan: bool = True,
    test_scan_windows: Sequence[float] = (0.32, np.inf),
    scale_check_pvalue: float | None = None,
    scale_check_ratio: float | None = 0.25,
    test_scan_place_window: float | None = 0.32,
    test_scan_num_tests: float | None = None,
    test_scan_pad: str = "mass",
    test_scan_split: int = 2,
    local_check_window: float | None = 0.32,
    local_check_pvalue: float = 0.01,
    min_side_mass: float = 0.01,
    max_rank_correlation: float = 0.9,
    max_tied_fraction: float = 0.01,
    window_reference_n: int | None = 5000,
    grow_windows: bool = False,
    marginal_scales: Sequence[float] = (),
    rescan_partial: bool = True,
    regrow: str = "any",
    seed: int = 0,
) -> GridRecovery:
    """Recovers the axis-aligned grid (interior cliffs per axis) of a sample.

    See the module docstring for the method. Deterministic given `seed`.

    Args:
      z: `[n, d]` samples (true latents or codes); NaN/Inf are rejected.
      num_cells: cells per axis when known (an int for every axis or one per axis, each
        >= 2); None estimates them from the detections.
      window: ``"std"`` (default): half-widths in units of the axis's standard deviation;
        ``"rank"``: half-widths are fractions of the sample, mapped through the marginal
        quantile function, so each window holds about the same number of samples whatever
        a monotone warp did to the axis. In the tuning (seeds 0-13) rank windows found
        false cliffs on smooth densities with every jump test tried (long smooth tails
        make a fixed-count window wide and lopsided); after warps they helped on exp(z/2)
        only (7 of 14 seeds at target vs 4 for the default).
      scales: scan half-widths (ascending), in the units of `window`; None = (0.04, 0.08,
        0.16) for std, (0.01, 0.02, 0.04) for rank.
      num_slabs: quantile slabs per conditioning axis (conditional cliffs).
      grid_size: candidate positions per axis.
      num_null: flat resamples per (view, scale) for the noise floor.
      null_quantile: quantile of the resampled maxima used as the floor.
      max_smooth_pvalue: a candidate is a cliff only if the jump test rejects a smooth
        density at this level (chi-square over the slabs of its view). 1e-4 was selected on
        tuning seeds 0-13: at 1e-3 smooth densities got about one false cliff in 8 samples.
      min_strength: minimum scan statistic over the noise floor for a detection (a margin
        over the floor against the many (view, scale, position) comparisons) in the
        rescans; the first pass uses ``first_pass_min_strength``.
      first_pass_min_strength: ``min_strength`` of the first pass, which sees no grid yet.
        3 since round 16 (version 13; before, ``min_strength`` everywhere): 25 draws of each
        smooth density instead of 4 showed that at 2 the first pass's marginal view put a
        false cliff on about one smooth 2-D sample in 15 (10-13 of 200 per floor seed),
        which then opened the rescans; at 3 in the first pass, 0-3 of 200 (the 3: one draw
        of the sinh/sin warp, whose narrow smooth bumps are outside what the tests can tell
        from steps) with as many tuning pairs at target; 3 in every pass lost 9 of 10
        five-axis grids, whose cliff-less axes the rescans find at the lower limit; holding
        a cliff-less axis's first-pass views to 3 in the rescans too changed no tuning
        number and lost a 5-D grid (the benchmark's seed 600), so it was dropped
        (experiments/synthetic/results/grid_recovery.tuning_r16*.md,
        partial_grids.tuning_r16*.md).
      num_bootstrap: bootstrap resamples for the threshold uncertainty (0 = none, NaN).
      refine_segments: also rescan each segment between found cliffs in the first pass
        (floor resampled on the segment, wider windows `segment_scales`, strength above
        twice `min_strength`). Off by default in the first pass: on smooth densities it
        added false cliffs; the conditioned rescans always do it.
      num_iterations: rescans conditioned on the recovered cells of the other axes
        (view id 1_000_000 in ``view``; its slabs also give the positions), with the
        segment pass; 0 = quantile slabs only. A 1-D sample gets them too, its "cells of
        the other axes" being the whole sample (before version 9 it stopped after the
        first pass and missed cliffs that the segment scans find).
      segment_scales: the extra, wider half-widths of the segment pass; ``inf`` = the whole
        segment split at each position (change-point scan). None = (0.32, 0.64, inf) for
        std, (0.08, 0.16) for rank.
      jump_test: the jump-vs-slope estimator (module docstring, step 5): ``"linear"``,
        ``"quadratic"``, ``"shared-linear"``, ``"shared-cubic"`` (round 6: fewer pairs at
        target than the default on the tuning seeds, 31 vs 40), the log-density tests
        ``"log-quadratic"``, ``"shared-quadratic"`` (rounds 3-6) or ``"log-shared"``
        (default; selected with ``test_scan`` in round 7 on tuning seeds 0-13: 51 pairs at
        target vs 40, see experiments/synthetic/results/grid_recovery.tuning_r7.md) or
        ``"log-shared-cubic"`` (a shared cubic term too; round 8: 51 pairs as well, no false
        cliff on the lognormal stress case vs 3, not selected since ties keep the default;
        ``..._r8.md``).
      jump_window: smallest half-width (standardized units) of the jump test's windows; they
        span twice the detecting scale, at least ``jump_window``, and at most 0.9 of the
        distance to the nearest other candidate (wider = more power, less bias than a
        slope-blind test only if the jump test models the curvature, e.g. "quadratic").
      test_scan: after the conditioned rescans, scan the jump test itself over each segment
        between kept cliffs in the grid-aligned view (module docstring, step 9): a cliff
        the count scans missed or misplaced is added when its Bonferroni-corrected p-value
        reaches ``max_smooth_pvalue``. Default on since round 7.
      test_scan_windows: the jump-test scan's half-widths (standardized units); ``inf`` =
        the whole segment split at each position (round 7's default (0.32, inf); round 8
        tried (0.32, 0.64) and (0.16, 0.32, inf): 51 pairs each, no gain).
      test_scan_place_window: when set, a cliff that the jump-test scan detects with a wider
        window is placed at the likelihood-ratio maximum of this half-width within that
        distance of the detection (a wide window's log-quadratic misfit under a strong warp
        moves its maximum off the step). None = placed by the detecting window (round 7).
        0.32 was selected in round 10 on tuning seeds 0-13: 53 pairs at target vs 51
        (experiments/synthetic/results/grid_recovery.tuning_r10.md).
      test_scan_num_tests: the factor multiplying the jump-test scan's smallest p-value
        (an effective number of tests). None = Bonferroni over the scanned positions and
        windows (48 x 2 = 96 by default). Calibrated in round 18 on flat segments (4 slabs,
        3000 draws): the scan's smallest p-value behaves like 55-65 independent tests at
        p = 3e-4, so Bonferroni is close to exact there and a smaller value only loosens the
        level (24 with windows (0.32, 0.64): no more tuning pairs, more false cliffs).
      test_scan_pad: how the jump-test scan keeps its positions clear of a segment's ends:
        5 % of the segment's points (``"mass"``, version 14) or of its range (``"range"``,
        before: a long sparse tail was split beside its last few points, where the
        log-quadratic's misfit of the tail reads as a huge step).
      test_scan_split: when > 1, once the rescans stop the jump-test scan runs again on
        one more view per other axis `j` with cliffs: the grid-aligned slabs with each
        recovered cell of axis `j` cut into this many quantile parts (p-values
        Bonferroni-corrected for these views too); the rescans resume when it adds a cliff
        (module docstring, step 10). Two cliffs, one on each of two axes, that show only
        in the conditionals on each other are otherwise never found: each axis is sliced
        by the other's cells, which merge the two cells where the conditional step lives
        (tuning seed 3: both cliffs at p ~ 1e-20 given the true cells, missed with the
        recovered ones). 1 = off (version 15 and before). Round 20 selected 2 over 3 and
        off on tuning seeds 0-13 (58 (seed, condition) pairs at target on every noise-floor
        seed vs 54, the same false cliffs on the smooth densities and the planted-cliff
        columns) but, run inside every rescan, it lost a 5-D grid of the standing check;
        run once the rescans stop (round 20b, version 16) it keeps the 58 pairs and the
        standing check is identical to version 15. Skipped on samples of more than 3 axes
        (cost: 81 vs 22 s on a 5-D 3-cell grid)
        (experiments/synthetic/results/grid_recovery.tuning_r20*.md,
        partial_grids.tuning_r20*.md).
      local_check_window: when set, the final jump tests (step 8) also require each cliff
        to reject smoothness at ``local_check_pvalue`` in the window of this half-width
        around it (standardized units): a jump shows in a narrow window, while the
        log-quadratic's misfit of a wide window over a long or heavy tail or a bimodal
        piece does not. None = off (version 13 and before). Round 18 (version 14, with
        ``test_scan_pad="mass"``) selected 0.32 at 0.01 on tuning seeds 0-13 and one smooth
        column with one planted 3:1 cliff (17 densities x 25 draws): extra cliffs on 16 of
        425 samples vs 55 for version 13, 54 (seed, condition) pairs at target vs 55 (a
        barely feasible outer cliff under the cube warp, seed 13, is lost)
        (experiments/synthetic/results/grid_recovery.tuning_r18*.md).
      local_check_pvalue: the level of that local test.
      min_side_mass: a cliff needs at least this fraction of the sample on either side of
        it (checked after every pass, so a dropped one opens no rescan). 0 = off (version
        14 and before). A density that vanishes at a support edge like a power (chi2(3),
        gamma(2), Weibull(1.5): an unbounded log-slope there) read as a cliff within the
        outermost 0.2-0.7 % of the rows on 6 of 850 fresh one-column samples at n = 20 000.
        Round 19 (version 15) selected 0.01 over 0.005 on tuning seeds 0-13: the same 54
        pairs at target, planted-cliff extras 15 / 12 / 15 vs 16 / 13 / 16
        (experiments/synthetic/results/grid_recovery.tuning_r19.md). A real cell holding
        less than 1 % of the sample beyond its cliff is then not reported.
      scale_check_pvalue: when set, the final jump tests (step 8) also require each cliff to
        reject smoothness at this level in a window of half its sides (a jump keeps about
        half its likelihood ratio, a misfit smooth shape loses it like w^7). None = off.
      scale_check_ratio: when set, the final jump tests also require the half window's
        likelihood ratio in excess of its degrees of freedom to be at least this fraction of
        the full window's (~1/2 for a jump, ~1/128 for a cubic misfit); a relative version
        of ``scale_check_pvalue`` that spares weak true cliffs. None = off (round 10). 1/4
        was selected in round 11 on tuning seeds 0-13: 54 pairs at target vs 53 (1/8 and
        1/16: 53; experiments/synthetic/results/grid_recovery.tuning_r11.md).
      segment_min_strength: strength a segment-pass candidate needs; None = twice
        ``min_strength`` (the segments add many comparisons).
      max_rank_correlation: an axis is never sliced by another whose |Spearman correlation|
        with it exceeds this (a near-function of it, e.g. a duplicated code dimension):
        the slab edges of a near-copy cut the axis's conditional densities sharply and
        read as cliffs. 0.9 leaves a conditional spread of about sqrt(1 - 0.9^2) = 0.44
        standard deviations, wider than the widest scan window (0.32). The pairs found
        are named in ``reason``.
      max_tied_fraction: an axis whose share of repeated values exceeds this (rounded,
        count or quantized values) is spread uniformly over its resolution first (the
        smallest gap between its distinct values; ``resolution`` in the result), so the
        lattice's gaps do not read as cliffs; a discrete axis (at most 10 distinct values)
        then gets its cliffs between its values, while on an axis with more values a step
        within one resolution of the support's edges (the outermost rounding cells hold only
        the part of the support they overlap) is dropped. Accidental float32 ties (a few
        pairs) stay below the default 1 %.
      window_reference_n: the sample size the windows are meant for (the defaults were
        selected at n = 5000). For a larger sample every window (``scales``,
        ``segment_scales``, ``test_scan_windows``, ``test_scan_place_window``,
        ``jump_window``, given or default) is multiplied by
        :math:`(n / n_\\mathrm{ref})^{-1/3}`: the likelihood ratio that a smooth density's
        misfit earns in a window of half-width `w` grows like :math:`n w^3` (a log-slope
        that differs between slabs, which the shared smooth part cannot absorb, e.g. any
        dependent smooth density), a jump's like :math:`n w`; shrinking `w` this way keeps
        the misfit where the tests were calibrated while a jump's evidence still grows
        like :math:`n^{2/3}`. With fixed windows (None, version 9) smooth dependent
        densities got interior cliffs from n ~ 20 000 on (a Gaussian with correlation 0.6
        and a banana, 12 draws each: 0 and 3 false cliffs at n = 20 000, 45 and 48 at
        50 000; shrinking: 0, 0 and 0, 0; every planted 4 x 4 grid exact with both;
        ``experiments/synthetic/results/large_samples.md``). Smaller samples: see
        ``grow_windows``.
      grow_windows: also multiply the windows by :math:`(n / n_\\mathrm{ref})^{-1/3}` for
        a *smaller* sample (wider windows: the same misfit calibration on a smooth density
        whose shape the tests model, while a jump's evidence falls only like
        :math:`n^{2/3}`). Off by default (round 17): on tuning seeds 0-13 (three floor
        seeds) it met the tuning rule, n = 1000: 51 pairs at target vs 39, mean cell
        accuracy of the true latents 0.72 vs 0.57; n = 2000: 93 vs 85, 0.80 vs 0.74; 0-1
        constrained smooth false cliffs of 200 per floor seed vs 0
        (experiments/synthetic/results/grid_recovery.tuning_r17_n1000.md, ..._n2000.md);
        one column at n = 1000 with a 5:1 step: 15 of 20 draws found vs 3. But on a real
        table of strongly dependent, skewed columns (scikit-learn's breast-cancer data, 569
        rows x 8) it finds cliffs on 6 columns (5 in version 13) where the default finds
        none: wider windows read the dependent shapes as steps. Use it for small samples of nearly
        independent axes, and check the cliffs it adds.
      marginal_scales: wider half-widths (units of `window`) that the first pass scans in
        the marginal view only, for broad cells with a moderate jump that the narrow
        `scales` cannot see above the noise floor (the slab views are not scanned with
        them: the jump test's shared slope misfits a dependent smooth density's slabs in
        wide windows). Empty = off: in round 13 (tuning seeds 0-13) (0.32) and (0.32, 0.64)
        got 48 and 46 pairs at target vs 54 and a false cliff on the smooth set
        (experiments/synthetic/results/grid_recovery.tuning_r13.md).
      rescan_partial: run the grid-conditioned rescans (``num_iterations``) as soon as one
        axis has a first-pass cliff (default, version 11); False = only when every axis has
        one (version 10). An axis without a cliff is then rescanned with the first pass's
        settings plus the grid-aligned view (no segment or jump-test scans: on a whole smooth
        axis their wide windows read the shoulders of a density dependent on a grid axis as
        cliffs), and the rescans repeat as ``regrow`` says. Designed (with ``regrow="first"``)
        on 5-D 3-cell grids (tuning seeds 0-9: 6 of 10 at cell accuracy >= 0.99 vs 4) and on
        a smooth axis beside grid axes (54 draws, no false cliff; the variants with wide
        windows on a cliff-less axis found 4-21); 2-D tuning seeds 0-13 unchanged (54 pairs
        at target). Fresh draws (seeds 100-111, 3000-3011): 5-D 3-cell
        grids 9 of 12 at >= 0.99 vs 4, no false cliff on 108 smooth axes beside grid axes,
        and the grid axes beside them 0.995 vs 0.752
        (``experiments/synthetic/results/partial_grids.md``).
      regrow: when the rescans repeat (at most `d` more times than ``num_iterations``):
        ``"any"`` (default, version 12) while some axis has more cliffs than in the cells
        the last rescan conditioned on; ``"first"`` (version 11) only when an axis got its
        first cliff. Each rescan conditions every axis on the cells the other axes had
        before it, so a cliff found in a rescan sharpens the others' grid-aligned views
        only in the next one. Round 15 on tuning draws: 5-D 3-cell grids 10 of 10 at cell
        accuracy >= 0.99 vs 6, 2-D 6-cell grids 0.880 vs 0.816 mean (seeds 0-9), 2-D 4 x 4
        tuning pairs 165 vs 164 over three floor seeds, no false cliff on the smooth sets
        (``experiments/synthetic/results/grid_recovery.tuning_r15.md``,
        ``partial_grids.tuning_r15.md``; fresh evaluation: ``partial_grids.v12.md``).
      seed: seed of the resampling (and of the dequantizing noise).

    Returns:
      A :class:`GridRecovery`.

    Example:
      >>> rng = np.random.default_rng(0)
      >>> z = np.concatenate([rng.uniform(0, 1, (3000, 1)), rng.uniform(1, 1.5, (500, 1))])
      >>> g = recover_grid(z)
      >>> [round(float(x), 2) for x in g.thresholds[0]]
      [1.0]
    """
    z = _as_matrix(z)
    n, d = z.shape
    if n < 200:
        raise ValueError(
            f"recover_grid needs at least 200 samples to tell cliffs from noise; got {n}"
        )
    if num_cells is not None:
        raw = np.asarray(num_cells)
        flat = np.full(d, raw.item()) if raw.ndim == 0 else raw.reshape(-1)
        if (
            raw.ndim > 1
            or flat.size != d
            or not np.issubdtype(flat.dtype, np.number)
            or np.any(flat != np.round(flat))
            or np.any(flat < 2)
        ):
            raise ValueError(
                f"num_cells must be an integer >= 2, or one per axis ({d}); got {num_cells!r}"
            )
        ks = [int(k) for k in flat]
    for name, value, low in (
        ("num_slabs", num_slabs, 1),
        ("grid_size", grid_size, 10),
        ("num_null", num_null, 1),
        ("num_bootstrap", num_bootstrap, 0),
        ("num_iterations", num_iterations, 0),
    ):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    for name, value in (
        ("min_strength", min_strength),
        ("first_pass_min_strength", first_pass_min_strength),
    ):
        if not (isinstance(value, (int, float, np.number)) and np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    if not 0 < null_quantile < 1:
        raise ValueError(f"null_quantile must be in (0, 1); got {null_quantile}")
    if not 0 < max_rank_correlation <= 1:
        raise ValueError(f"max_rank_correlation must be in (0, 1]; got {max_rank_correlation}")
    if not 0 <= max_tied_fraction < 1:
        raise ValueError(f"max_tied_fraction must be in [0, 1); got {max_tied_fraction}")
    if jump_test not in _BOUNDARY_KERNELS:
        raise ValueError(f"jump_test must be one of {sorted(_BOUNDARY_KERNELS)}; got {jump_test!r}")
    if window not in _DEFAULT_SCALES:
        raise ValueError(f"window must be 'rank' or 'std'; got {window!r}")
    scales = tuple(
        sorted(float(s) for s in (_DEFAULT_SCALES[window][0] if scales is None else scales))
    )
    segment_scales = tuple(_DEFAULT_SCALES[window][1] if segment_scales is None else segment_scales)
    if not scales or scales[0] <= 0:
        raise ValueError(f"scales must be positive window half-widths; got {scales}")
    if window_reference_n is not None and not (
        isinstance(window_reference_n, (int, np.integer)) and window_reference_n >= 200
    ):
        raise ValueError(
            f"window_reference_n must be an integer >= 200 or None; got {window_reference_n!r}"
        )
    if any(not 0 < float(w) < np.inf for w in marginal_scales):
        raise ValueError(
            f"marginal_scales must be positive finite half-widths; got {tuple(marginal_scales)}"
        )
    if not test_scan_windows or any(not float(w) > 0 for w in test_scan_windows):
        raise ValueError(
            f"test_scan_windows must be positive half-widths (inf allowed); got {test_scan_windows}"
        )
    for name, value in (
        ("test_scan_place_window", test_scan_place_window),
        ("local_check_window", local_check_window),
    ):
        if value is not None and not 0 < value < np.inf:
            raise ValueError(f"{name} must be a positive finite half-width or None; got {value}")
    if test_scan_num_tests is not None and not 1 <= test_scan_num_tests < np.inf:
        raise ValueError(
            f"test_scan_num_tests must be a finite number >= 1 or None; got {test_scan_num_tests}"
        )
    if not 0 < local_check_pvalue <= 1:
        raise ValueError(f"local_check_pvalue must be in (0, 1]; got {local_check_pvalue}")
    if not 0 <= min_side_mass < 0.5:
        raise ValueError(f"min_side_mass must be in [0, 0.5); got {min_side_mass}")
    if isinstance(test_scan_split, bool) or not isinstance(test_scan_split, (int, np.integer)):
        raise ValueError(f"test_scan_split must be an int >= 1; got {test_scan_split!r}")
    if test_scan_split < 1:
        raise ValueError(f"test_scan_split must be an int >= 1; got {test_scan_split}")
    if test_scan_pad not in ("range", "mass"):
        raise ValueError(f"test_scan_pad must be 'range' or 'mass'; got {test_scan_pad!r}")
    if regrow not in ("first", "any"):
        raise ValueError(f"regrow must be 'first' or 'any'; got {regrow!r}")
    if scale_check_ratio is not None and not 0 < scale_check_ratio < 1:
        raise ValueError(f"scale_check_ratio must be in (0, 1) or None; got {scale_check_ratio}")
    if scale_check_pvalue is not None and not 0 < scale_check_pvalue <= 1:
        raise ValueError(f"scale_check_pvalue must be in (0, 1] or None; got {scale_check_pvalue}")
    # constant up to rounding: the spread is below float64 resolution of the values
    spread = z.max(0) - z.min(0)
    const = spread <= 1e-12 * np.maximum(np.abs(z).max(0), np.finfo(np.float64).tiny)
    if np.any(const):
        raise ValueError(f"axes {np.flatnonzero(const).tolist()} are constant; drop them")
    # windows shrink like n^(-1/3) above the size they were selected at (see the docstring)
    factor = 1.0 if window_reference_n is None else (n / window_reference_n) ** (-1 / 3)
    if not grow_windows:
        factor = min(1.0, factor)
    scales = tuple(factor * s for s in scales)
    segment_scales = tuple(factor * float(s) for s in segment_scales)
    test_scan_windows = tuple(factor * float(w) for w in test_scan_windows)
    if test_scan_place_window is not None:
        test_scan_place_window = factor * test_scan_place_window
    jump_window = factor * float(jump_window)
    local_check = (
        None if local_check_window is None else (factor * local_check_window, local_check_pvalue)
    )
    marginal_scales = tuple(factor * float(w) for w in marginal_scales)
    z, resolution, distinct = _dequantize(z, np.random.default_rng([seed, 1]), max_tied_fraction)
    mean, std = z.mean(0), z.std(0)
    u = (z - mean) / std
    rng = np.random.default_rng(seed)
    skip = _dependent_axes(u, max_rank_correlation)
    out = {k: [] for k in ("thr", "unc", "str", "rat", "pval", "view", "rej")}
    support = np.zeros((d, 2))
    failed = []
    scan_kw = dict(
        grid_size=grid_size,
        num_null=num_null,
        null_quantile=null_quantile,
        rng=rng,
        rank=window == "rank",
        cache={},
    )
    axis_kw = dict(
        scales=scales,
        marginal_scales=marginal_scales,
        num_cells=None if num_cells is None else ks,
        min_strength=min_strength,
        max_smooth_pvalue=max_smooth_pvalue,
        refine_segments=refine_segments,
        scan_kw=scan_kw,
        kernel=_BOUNDARY_KERNELS[jump_test],
        jump_window=float(jump_window),
        scale_check_pvalue=scale_check_pvalue,
        scale_check_ratio=scale_check_ratio,
        local_check=local_check,
        segment_min_strength=(
            2 * min_strength if segment_min_strength is None else segment_min_strength
        ),
    )
    all_views = [dict(_views(u, i, num_slabs, skip[i])) for i in range(d)]

    def axis_pass(i, views, kw):
        kept, rejected, is_failed, lo, hi = _recover_axis(views, u[:, i], i, **kw)
        kept, dropped = edge_filter(i, kept, views)
        return kept, rejected, is_failed or (num_cells is not None and dropped), lo, hi

    def edge_filter(i, kept, views):
        """Drops a rounded axis's rounding-edge steps and cliffs with too little mass beyond."""
        dropped = False
        if resolution[i] > 0 and distinct[i] > _DISCRETE_VALUES:
            # a rounded continuous axis: its outermost rounding cells hold only the part of
            # the support they overlap, a step one resolution from each edge, not a cliff
            # (dropped after every pass, so it cannot open the rescans either)
            r = resolution[i] / std[i]
            lo, hi = views[-1][0][0], views[-1][0][-1]
            edge = [q for q in kept if q[0] - lo < r or hi - q[0] < r]
            kept = [q for q in kept if q not in edge]
            dropped = dropped or bool(edge)
        if min_side_mass > 0:
            # a cliff with almost no sample beyond it: a density vanishing at the support
            # edge like a power (unbounded log-slope), not a cell (dropped after every pass)
            col = views[-1][0]  # the sorted marginal
            side = [min(np.searchsorted(col, q[0]), n - np.searchsorted(col, q[0])) for q in kept]
            edge = [q for q, m in zip(kept, side) if m < min_side_mass * n]
            kept = [q for q in kept if q not in edge]
            dropped = dropped or bool(edge)
        return kept, dropped

    first_kw = {**axis_kw, "min_strength": first_pass_min_strength}
    results = [axis_pass(i, all_views[i], first_kw) for i in range(d)]
    rescan_kw = {
        **axis_kw,
        "refine_segments": True,
        "extra_scales": segment_scales,
        "test_scan": test_scan,
        "test_scan_windows": test_scan_windows,
        "test_scan_place_window": test_scan_place_window,
        "test_scan_num_tests": test_scan_num_tests,
        "test_scan_pad": test_scan_pad,
    }

    def rescans(results, least):
        """The rescans: at least `least` passes, repeated while axes gain cliffs (``regrow``)
        at most `d` more times; returns the results and the number of passes."""
        iteration, grown = 0, False
        while iteration < least or (grown and iteration < least + d):
            # Condition on the recovered cells of the other axes: slabs that follow the grid
            # show each conditional cliff at full contrast (quantile slabs mix cells).
            iteration += 1
            counts = [len(r[0]) for r in results]
            found = [c > 0 for c in counts]
            if not any(found) or (not rescan_partial and not all(found)):
                break
            cells = _cells_of(results, u)
            for i in range(d):
                all_views[i][_CELLS_VIEW] = _cell_slabs(u, i, cells, skip[i])
            # An axis without a cliff is rescanned as in the first pass (narrow windows, no
            # segment or jump-test scans) with the grid-aligned slabs as one more view: on a
            # whole smooth axis the wide windows of those scans read a dependent density's
            # smooth shoulders as cliffs (e.g. 0.8 x a grid axis + 0.6 x noise).
            # The full rescans slice by grid axes only: the quantile slabs of an axis without a
            # cliff (perhaps smooth and dependent on this one, e.g. a banana) have conditional
            # shapes that the shared-shape jump test misfits in the segment scans' wide windows.
            results = [
                axis_pass(
                    i,
                    {
                        k: v
                        for k, v in all_views[i].items()
                        if k < 0 or k == _CELLS_VIEW or (k < d and found[k])
                    },
                    rescan_kw,
                )
                if found[i]
                else axis_pass(
                    i, {k: v for k, v in all_views[i].items() if k < _SPLIT_VIEW}, axis_kw
                )
                for i in range(d)
            ]
            # "any": some axis has more cliffs than in the cells just used; "first": some axis
            # has its first cliff
            grown = any(
                len(r[0]) > c and (regrow == "any" or c == 0) for r, c in zip(results, counts)
            )
        return results, iteration

    def split_stage(results):
        """The jump-test scan on the split views (each other grid axis's recovered cells cut
        into `test_scan_split` quantile parts) from the kept cliffs, then the final jump
        tests again (module docstring, step 10); returns the results and whether any axis
        gained a cliff."""
        grown = False
        cells = _cells_of(results, u)
        split = {}
        for j in range(d):
            if results[j][0]:
                split[j] = cells[:, j] * test_scan_split
                for c in np.unique(cells[:, j]):
                    sel = cells[:, j] == c
                    q = np.quantile(u[sel, j], np.linspace(0, 1, test_scan_split + 1)[1:-1])
                    split[j][sel] += np.searchsorted(q, u[sel, j], side="right")
        for i in range(d):
            kept, rejected, is_failed, lo, hi = results[i]
            if not kept:
                continue
            scan_views = {}
            for j, col in split.items():
                if j != i and j not in skip[i]:
                    grid = cells.copy()
                    grid[:, j] = col
                    scan_views[_SPLIT_VIEW + j] = _cell_slabs(u, i, grid, skip[i])
            if not scan_views:
                continue
            all_views[i].update(scan_views)
            cap = ks[i] - 1 if num_cells is not None else 10**6
            new = _test_scan(
                kept,
                scan_views,
                lo,
                hi,
                axis_kw["kernel"],
                max_smooth_pvalue,
                cap=cap,
                windows=test_scan_windows,
                place_window=test_scan_place_window,
                num_tests=test_scan_num_tests,
                pad=test_scan_pad,
            )
            if len(new) == len(kept):
                continue
            if num_cells is None:
                new = _retest(
                    new,
                    all_views[i],
                    lo,
                    hi,
                    axis_kw["kernel"],
                    axis_kw["jump_window"],
                    max_smooth_pvalue,
                    scale_check_pvalue,
                    scale_check_ratio,
                    local_check,
                )
            new, dropped = edge_filter(i, sorted(new, key=lambda r: r[0]), all_views[i])
            if num_cells is not None:
                is_failed = (
                    dropped
                    or len(new) < ks[i] - 1
                    or any(r[1] <= min_strength or r[5] > max_smooth_pvalue for r in new)
                )
            grown = grown or len(new) > len(kept)
            results[i] = (new, rejected, is_failed, lo, hi)
        return results, grown

    results, passes = rescans(results, num_iterations)
    if test_scan and test_scan_split > 1 and passes > 0 and d <= _SPLIT_MAX_AXES:
        # Once the rescans stop, the split views; when they add a cliff the rescans resume
        # on the new cells (a cliff that showed only against the added one then shows at
        # full contrast), at most d times.
        for _ in range(d):
            results, grown = split_stage(results)
            if not grown:
                break
            results, _ = rescans(results, 1)
    for i in range(d):
        kept, rejected, is_failed, lo, hi = results[i]
        views = all_views[i]
        support[i] = (lo, hi)
        if is_failed:
            failed.append(i)
        unc = []
        for c, _, _, vid, w, _ in kept:
            boots = []
            for _ in range(num_bootstrap):
                slabs = [np.sort(rng.choice(v, size=v.size)) for v in views[vid]]
                slabs = [x if x.size else v for x, v in zip(slabs, views[vid])]
                boots.append(_change_point(slabs, c, w, lo, hi))
            unc.append(np.std(boots) * std[i] if boots else np.nan)
        out["thr"].append(np.array([r[0] for r in kept]) * std[i] + mean[i])
        out["unc"].append(np.array(unc, dtype=np.float64).reshape(-1))
        out["str"].append(np.array([r[1] for r in kept], dtype=np.float64))
        out["pval"].append(np.array([r[5] for r in kept], dtype=np.float64))
        out["rat"].append(np.array([r[2] for r in kept], dtype=np.float64))
        out["view"].append(np.array([r[3] for r in kept], dtype=np.int64))
        out["rej"].append(np.sort(np.array(rejected, dtype=np.float64)) * std[i] + mean[i])
    support = support * std[:, None] + mean[:, None]
    empty = [i for i in range(d) if out["thr"][i].size == 0]
    if empty:
        holds, reason = False, f"no interior cliff on axes {empty}: no grid found"
    elif failed:
        holds = None
        reason = f"num_cells forced cliffs on axes {failed} that fail the noise floor or scale test"
    else:
        counts = [t.size + 1 for t in out["thr"]]
        holds, reason = True, f"every axis has clear cliffs ({counts} cells)"
    pairs = sorted({(min(i, j), max(i, j)) for i in range(d) for j in skip[i]})
    if pairs:
        reason += (
            f"; axes {pairs} are near-functions of each other (|rank correlation| > "
            f"{max_rank_correlation}), so neither slices the other"
        )
    if np.any(resolution > 0):
        reason += (
            f"; axes {np.flatnonzero(resolution > 0).tolist()} have repeated values and were "
            "spread over their resolution"
        )
    return GridRecovery(
        holds=holds,
        tolerance={
            "null_quantile": null_quantile,
            "max_smooth_pvalue": max_smooth_pvalue,
            "min_strength": min_strength,
            "scales": list(scales),
            "max_rank_correlation": max_rank_correlation,
            "max_tied_fraction": max_tied_fraction,
            "min_side_mass": min_side_mass,
            "local_check": None if local_check is None else list(local_check),
            "window_factor": factor,
        },
        reason=reason,
        thresholds=tuple(out["thr"]),
        uncertainty=tuple(out["unc"]),
        support=support,
        num_cells=tuple(t.size + 1 for t in out["thr"]),
        strength=tuple(out["str"]),
        scale_ratio=tuple(out["rat"]),
        smooth_pvalue=tuple(out["pval"]),
        view=tuple(out["view"]),
        rejected=tuple(out["rej"]),
        resolution=resolution,
    )


def plot_grid(recovery: GridRecovery, z, *, axes: tuple[int, int] = (0, 1), ax=None, cells=None):
    """Scatter of two axes of `z` coloured by recovered (or given) cell, thresholds as lines.

    Args:
      recovery: a :class:`GridRecovery` of `z`.
      z: `[n, d]` samples.
      axes: the two axes to draw (`(0, 0)`-like for `d == 1` draws a histogram).
      ax: a matplotlib Axes (a new figure when None).
      cells: optional `[n, d]` cells for colouring (default `recovery.cells(z)`).

    Returns:
      The Axes.
    """
    import matplotlib.pyplot as plt

    z = _as_matrix(z)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    a, b = axes
    if z.shape[1] == 1 or a == b:
        ax.hist(z[:, a], bins=100, color="0.6")
        for t in recovery.thresholds[a]:
            ax.axvline(t, color="r", ls="--", lw=1)
    else:
        c = recovery.cells(z) if cells is None else np.asarray(cells)
        label = c[:, a] * (c[:, b].max() + 1) + c[:, b]
        ax.scatter(z[:, a], z[:, b], c=label, s=2, cmap="tab20", rasterized=True)
        for t in recovery.thresholds[a]:
            ax.axvline(t, color="r", ls="--", lw=1)
        for t in recovery.thresholds[b]:
            ax.axhline(t, color="r", ls="--", lw=1)
        ax.set_ylabel(f"z[{b}]")
    ax.set_xlabel(f"z[{a}]")
    ax.set_title(recovery.summary()[:80], fontsize=8)
    return ax

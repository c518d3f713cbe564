"""Synthetic ground truth for concept extraction, and streaming of user feature files.

- :func:`make_dictionary`: unit-norm atoms ``[d_in, width]`` with controlled coherence —
  ``"incoherent"`` (a randomly rotated union of the identity and a normalised Hadamard
  basis: μ = 1/√d_in exactly), ``"gaussian"`` (random directions), optionally a planted
  pair with a given cosine (``plant_coherence``) or planted linearly dependent triples
  (``plant_dependent``: atom c = (a + b)/||a + b||, so spark ≤ 3).
- :func:`make_sparse_coding`: k-sparse non-negative codes through a dictionary, with
  uniform or Zipfian feature frequencies and optional parent/child hierarchies.
- :func:`make_ica`: independent non-Gaussian sources (Laplace, uniform, …; ``num_gaussian``
  of them Gaussian) through a random well-conditioned mixing.
- :class:`NpyFeatureSource`: minibatches of a memory-mapped ``.npy`` feature file
  (rows = samples) without loading it; :func:`check_features` validates arrays and files.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qdjax._src.typing import Batch


class SparseCodingDataset(NamedTuple):
    """``x = codes @ dictionary.T + noise``.

    Attributes:
      x: observations ``[n, d_in]`` float32.
      codes: ground-truth codes ``[n, width]`` float32 (non-negative, k-sparse).
      dictionary: atoms as columns ``[d_in, width]`` (unit norm).
      frequencies: per-atom activation probabilities used to sample supports ``[width]``
        (float64: sampling weights, not data).
      planted: indices of planted coherent/dependent atoms (may be empty).
    """

    x: np.ndarray
    codes: np.ndarray
    dictionary: np.ndarray
    frequencies: np.ndarray
    planted: np.ndarray


class ICADataset(NamedTuple):
    """``x = s @ mixing.T``; ``gaussian`` marks the Gaussian sources.

    Attributes:
      x: observations ``[n, num_sources]`` float32 (what a model trains on).
      s: the standardized sources ``[n, num_sources]`` float32.
      mixing: the true mixing ``[num_sources, num_sources]``, float64 on purpose: it is the
        reference that estimated unmixings are scored against (Amari distance), not data.
      gaussian: ``[num_sources]`` bool.
    """

    x: np.ndarray
    s: np.ndarray
    mixing: np.ndarray
    gaussian: np.ndarray


def _hadamard(n: int) -> np.ndarray:
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


def make_dictionary(
    seed: int,
    d_in: int,
    width: int,
    *,
    coherence: str = "incoherent",
    plant_coherence: float | None = None,
    plant_dependent: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm atoms ``[d_in, width]`` and the indices of planted atoms.

    Args:
      seed: randomness (atoms, rotation, which atoms are planted).
      d_in: feature dimension.
      width: number of atoms. ``"incoherent"`` needs ``d_in`` a power of two and
        ``width <= 2 d_in``.
      coherence: ``"incoherent"`` (μ = 1/√d_in) or ``"gaussian"`` (random directions).
      plant_coherence: replace one atom by ``c·a + √(1-c²)·u`` (u ⟂ a) so μ ≥ c.
      plant_dependent: replace this many atoms by ``(a + b)/||a + b||`` of two others
        (each makes a linearly dependent triple: spark ≤ 3).
    """
    rng = np.random.default_rng(seed)
    if coherence == "incoherent":
        if d_in & (d_in - 1) or width > 2 * d_in:
            raise ValueError(
                f"coherence='incoherent' needs d_in a power of two and width <= 2*d_in; "
                f"got d_in={d_in}, width={width} (use coherence='gaussian')"
            )
        basis = np.concatenate([np.eye(d_in), _hadamard(d_in) / np.sqrt(d_in)], axis=1)
        q, r = np.linalg.qr(rng.normal(size=(d_in, d_in)))
        q = q * np.sign(np.diag(r))
        d = q @ basis[:, rng.permutation(2 * d_in)[:width]]
    elif coherence == "gaussian":
        d = rng.normal(size=(d_in, width))
    else:
        raise ValueError(f"coherence must be 'incoherent' or 'gaussian'; got {coherence!r}")
    d = d / np.linalg.norm(d, axis=0, keepdims=True)
    planted: list[int] = []
    order = rng.permutation(width)
    pos = 0
    if plant_coherence is not None:
        if not 0.0 < plant_coherence < 1.0:
            raise ValueError(f"plant_coherence must be in (0, 1); got {plant_coherence}")
        a, j = order[pos : pos + 2]
        pos += 2
        u = rng.normal(size=d_in)
        u -= (u @ d[:, a]) * d[:, a]
        u /= np.linalg.norm(u)
        d[:, j] = plant_coherence * d[:, a] + np.sqrt(1 - plant_coherence**2) * u
        planted.append(int(j))
    if 3 * plant_dependent + pos > width:
        raise ValueError(f"plant_dependent={plant_dependent} needs width >= {3 * plant_dependent}")
    for _ in range(plant_dependent):
        a, b, c = order[pos : pos + 3]
        pos += 3
        v = d[:, a] + d[:, b]
        d[:, c] = v / np.linalg.norm(v)
        planted.append(int(c))
    return d.astype(np.float32), np.asarray(planted, np.int64)


def make_sparse_coding(
    seed: int,
    *,
    num_samples: int,
    d_in: int,
    width: int,
    k: int,
    coherence: str = "incoherent",
    plant_coherence: float | None = None,
    plant_dependent: int = 0,
    zipf_exponent: float = 0.0,
    num_parents: int = 0,
    magnitude: tuple[float, float] = (0.5, 1.5),
    noise_std: float = 0.0,
) -> SparseCodingDataset:
    """k-sparse non-negative codes through a random dictionary.

    Every sample activates exactly ``k`` distinct atoms drawn without replacement with
    probabilities ∝ ``rank^-zipf_exponent`` (0: uniform) via Gumbel-top-k, magnitudes
    uniform in ``magnitude``. With ``num_parents > 0`` the first ``num_parents`` atoms
    are parents and the others are split evenly among them as children; an active child
    switches its parent on too (replacing the sample's weakest other atom), so children
    never appear without their parent, as in SAE hierarchy benchmarks.

    Raises:
      ValueError: on ``k >= width``, non-positive sizes or bad ranges.
    """
    if num_samples < 1 or d_in < 1:
        raise ValueError(f"need num_samples >= 1 and d_in >= 1; got {num_samples}, {d_in}")
    if not 1 <= k < width:
        raise ValueError(f"k must satisfy 1 <= k < width ({width}); got k={k}")
    if not 0 < magnitude[0] <= magnitude[1]:
        raise ValueError(f"magnitude must be (low, high) with 0 < low <= high; got {magnitude}")
    if num_parents < 0 or num_parents >= width:
        raise ValueError(f"num_parents must be in [0, width); got {num_parents}")
    dictionary, planted = make_dictionary(
        seed,
        d_in,
        width,
        coherence=coherence,
        plant_coherence=plant_coherence,
        plant_dependent=plant_dependent,
    )
    rng = np.random.default_rng([seed, 1])
    freq = (np.arange(width) + 1.0) ** (-float(zipf_exponent))
    freq = freq[rng.permutation(width)] if num_parents == 0 else freq
    freq = freq / freq.sum()
    gumbel = rng.gumbel(size=(num_samples, width))
    support = np.argsort(-(np.log(freq)[None, :] + gumbel), axis=1)[:, :k]
    mags = rng.uniform(*magnitude, size=(num_samples, k))
    codes = np.zeros((num_samples, width), np.float32)
    rows = np.arange(num_samples)[:, None]
    codes[rows, support] = mags
    if num_parents:
        for col in range(num_parents, width):  # a loop over columns, not samples
            parent = (col - num_parents) % num_parents
            idx = np.flatnonzero((codes[:, col] > 0) & (codes[:, parent] == 0))
            if not idx.size:
                continue
            sub = codes[idx].copy()
            sub[:, :num_parents] = np.inf  # never drop a parent ...
            sub[:, col] = np.inf  # ... or the child itself
            sub[sub == 0] = np.inf
            weakest = np.argmin(sub, axis=1)
            droppable = np.isfinite(sub[np.arange(idx.size), weakest])
            codes[idx[droppable], weakest[droppable]] = 0.0
            codes[idx, parent] = rng.uniform(*magnitude, size=idx.size)
    x = codes @ dictionary.T
    if noise_std > 0:
        x = x + rng.normal(scale=noise_std, size=x.shape)
    return SparseCodingDataset(x.astype(np.float32), codes, dictionary, freq, planted)


_SOURCES = {
    "laplace": lambda rng, n: rng.laplace(scale=1 / np.sqrt(2), size=n),
    "uniform": lambda rng, n: rng.uniform(-np.sqrt(3), np.sqrt(3), size=n),
    "exponential": lambda rng, n: rng.exponential(size=n) - 1.0,
    "bimodal": lambda rng, n: rng.choice([-1.0, 1.0], size=n) + 0.3 * rng.normal(size=n),
}


def make_ica(
    seed: int,
    *,
    num_samples: int,
    num_sources: int,
    num_gaussian: int = 0,
    distributions: tuple[str, ...] = ("laplace", "uniform", "exponential", "bimodal"),
    condition_max: float = 10.0,
) -> ICADataset:
    """Independent unit-variance sources through a random mixing ``[num_sources]²``.

    Non-Gaussian sources cycle through ``distributions``; the last ``num_gaussian`` are
    standard normal. The mixing has singular values spread in ``[1, condition_max]``.
    """
    if num_sources < 2 or num_samples < 2:
        raise ValueError(f"need num_sources >= 2 and num_samples >= 2; got {num_sources}")
    if not 0 <= num_gaussian <= num_sources:
        raise ValueError(f"num_gaussian must be in [0, {num_sources}]; got {num_gaussian}")
    unknown = [d for d in distributions if d not in _SOURCES]
    if unknown or not distributions:
        raise ValueError(f"distributions must be from {sorted(_SOURCES)}; got {distributions}")
    rng = np.random.default_rng(seed)
    cols, gaussian = [], np.zeros(num_sources, bool)
    for i in range(num_sources):
        if i >= num_sources - num_gaussian:
            cols.append(rng.normal(size=num_samples))
            gaussian[i] = True
        else:
            cols.append(_SOURCES[distributions[i % len(distributions)]](rng, num_samples))
    s = np.stack(cols, axis=1)
    s = (s - s.mean(0)) / s.std(0)
    u, _ = np.linalg.qr(rng.normal(size=(num_sources, num_sources)))
    v, _ = np.linalg.qr(rng.normal(size=(num_sources, num_sources)))
    a = u @ np.diag(np.linspace(1.0, condition_max, num_sources)) @ v
    return ICADataset((s @ a.T).astype(np.float32), s.astype(np.float32), a, gaussian)


def check_features(x, *, name: str = "features", chunk_rows: int = 65_536) -> None:
    """Raises a one-line ``ValueError`` unless ``x`` is a finite floating ``[n, dim]`` array.

    Works on memory-mapped arrays in chunks of ``chunk_rows`` rows (no full copy). The
    NaN/Inf message names how many rows are bad and the first one.
    """
    shape = np.shape(x)
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D [samples, dim] (rows = samples); got shape {shape}")
    if shape[0] < 2 or shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 rows and 1 column; got shape {shape}")
    dtype = np.asarray(x[:1]).dtype
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"{name} must be floating point (save as float32); got {dtype}")
    bad, first = 0, None
    for lo in range(0, shape[0], chunk_rows):
        rows = ~np.all(np.isfinite(np.asarray(x[lo : lo + chunk_rows])), axis=1)
        if rows.any():
            bad += int(rows.sum())
            first = lo + int(np.argmax(rows)) if first is None else first
    if bad:
        raise ValueError(
            f"{name} has {bad} row(s) with NaN/Inf (first: row {first}); drop or fix them"
        )


class NpyFeatureSource:
    """Epoch-shuffled minibatches read from a memory-mapped ``.npy`` file.

    The file is opened with ``np.load(path, mmap_mode="r")``; only the rows of each
    batch are read (sorted, then restored to the shuffled order). ``s`` is a dummy
    ``[batch, 1]`` zero column (features have no ground-truth factors).

    Args:
      path: a 2-D floating ``.npy`` file, rows = samples.
      batch_size: rows per batch, ``1 <= batch_size <= rows``.
      seed: shuffling seed (order is a pure function of ``(seed, step)``).
      validate: scan the file for NaN/Inf rows once (chunked).
    """

    def __init__(self, path: str, *, batch_size: int, seed: int = 0, validate: bool = True):
        try:
            self.x = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read features file {path!r} as .npy: {e}") from None
        if validate:
            check_features(self.x, name=path)
        n = self.x.shape[0]
        if not 1 <= batch_size <= n:
            raise ValueError(
                f"batch_size must be between 1 and {n} (rows of {path}); got {batch_size}"
            )
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.steps_per_epoch = n // self.batch_size
        self._perm: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def indices(self, step: int) -> np.ndarray:
        epoch, pos = divmod(int(step), self.steps_per_epoch)
        if self._perm is None or self._perm[0] != epoch:
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.x.shape[0])
            self._perm = (epoch, perm)
        return self._perm[1][pos * self.batch_size : (pos + 1) * self.batch_size]

    def batch(self, step: int) -> Batch:
        idx = self.indices(step)
        order = np.argsort(idx)
        rows = np.empty((idx.size, self.x.shape[1]), np.float32)
        rows[order] = self.x[idx[order]]
        return Batch(x=rows, s=np.zeros((idx.size, 1), np.float32))

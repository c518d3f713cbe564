"""Scalar latent quantizers: per-latent codebooks (QLAE), a global codebook, and FSQ.

Every quantizer maps a continuous code `z_continuous: [batch, num_latents]` to the
nearest allowed value of each latent, in one vectorized op over all latents, and
returns a :class:`QuantizerOutput`. The latent to feed the decoder is the
straight-through value

.. math:: z = z_c + \\mathrm{sg}(z_q - z_c),

which equals `z_q` in the forward pass and has identity Jacobian with respect to
`z_c` in the backward pass. The codebook therefore receives no gradient through
`z` (i.e. from the reconstruction path); it is learned only from the quantization
loss `||sg(z_c) - z_q||^2` on `z_quantized` (see `qdjax.losses.quantization_loss`).

References:
  Hsu et al., Disentanglement via Latent Quantization, NeurIPS 2023 (arXiv:2305.18378).
  Mentzer et al., Finite Scalar Quantization: VQ-VAE Made Simple, ICLR 2024
  (arXiv:2309.15505).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qdjax._src.typing import Array


class QuantizerOutput(NamedTuple):
    """Output of every quantizer.

    Attributes:
      z_continuous: the pre-quantization code, `[batch, num_latents]` (for FSQ: after
        the bounding `tanh`, rescaled to `[-1, 1]`).
      z_quantized: nearest codebook value of each latent, `[batch, num_latents]`;
        differentiable with respect to the codebook only.
      indices: int32 index of the chosen value per latent, `[batch, num_latents]`.
      z: straight-through latent `z_continuous + sg(z_quantized - z_continuous)`.
    """

    z_continuous: Array
    z_quantized: Array
    indices: Array
    z: Array


def _check_code(z: Array, num_latents: int, name: str) -> Array:
    z = jnp.asarray(z)
    if z.ndim != 2 or z.shape[-1] != num_latents:
        raise ValueError(f"{name}: expected z of shape [batch, {num_latents}]; got {z.shape}")
    return z


def _straight_through(z_c: Array, z_q: Array) -> Array:
    return z_c + jax.lax.stop_gradient(z_q - z_c)


def _as_sizes(num_values: int | Sequence[int], num_latents: int, name: str) -> np.ndarray:
    sizes = np.broadcast_to(np.asarray(num_values, dtype=np.int64), (num_latents,)).copy()
    if np.any(sizes < 1):
        raise ValueError(f"{name} must be >= 1 for every latent; got {num_values}")
    return sizes


def _check_indices(indices: Array, sizes: Sequence[int], name: str) -> Array:
    """Integer indices `[..., num_latents]`, each in `[0, sizes[i])`.

    Concrete indices out of range raise a ValueError naming the latent. Traced indices (under
    `jit`) cannot be checked: they are clipped to `[0, sizes[i] - 1]`, so `lookup` never
    returns NaN, padding or a wrapped-around value.
    """
    indices = jnp.asarray(indices)
    num_latents = len(sizes)
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise TypeError(f"{name}.lookup: indices must be integers; got {indices.dtype}")
    if indices.ndim < 1 or indices.shape[-1] != num_latents:
        raise ValueError(
            f"{name}.lookup: expected indices [..., {num_latents}]; got shape {indices.shape}"
        )
    upper = np.asarray(sizes, np.int64)
    if not isinstance(indices, jax.core.Tracer):
        host = np.asarray(indices)
        bad = (host < 0) | (host >= upper)
        if bad.any():
            i = int(np.nonzero(bad.reshape(-1, num_latents).any(axis=0))[0][0])
            value = int(host[..., i][bad[..., i]][0])
            raise ValueError(
                f"{name}.lookup: index {value} out of range for latent {i}, which has "
                f"{int(upper[i])} values (valid 0..{int(upper[i]) - 1})"
            )
    top = jnp.asarray(upper - 1, indices.dtype).reshape((1,) * (indices.ndim - 1) + (-1,))
    return jnp.clip(indices, 0, top)


class LatentQuantizer(nnx.Module):
    """Per-latent scalar codebooks (QLAE): latent `i` snaps to the nearest of its own values.

    .. math:: q_i = \\operatorname{argmin}_j |z_i - V_{ij}|, \\qquad (z_q)_i = V_{i q_i}

    The codebook `V: [num_latents, num_values]` is an `nnx.Param` named `codebook`
    (never weight-decayed by `qdjax.train.make_optimizer`), initialized with
    `num_values` evenly spaced values on `[-0.5, 0.5]` for every latent. Ragged
    codebooks (a different number of values per latent) are padded to the largest
    size and the padding is masked out of the argmin.

    Args:
      num_latents: number of latents `L`.
      num_values: values per latent `V` (an int, or one int per latent).
      rngs: unused (the initialization is deterministic); kept for the uniform
        constructor signature.
    """

    def __init__(self, num_latents: int, num_values: int | Sequence[int] = 10, *, rngs: nnx.Rngs):
        del rngs
        if num_latents < 1:
            raise ValueError(f"num_latents must be >= 1; got {num_latents}")
        sizes = _as_sizes(num_values, num_latents, "num_values")
        width = int(sizes.max())
        rows = [
            np.pad(np.linspace(-0.5, 0.5, n) if n > 1 else np.zeros(1), (0, width - n))
            for n in sizes
        ]
        self.num_latents = int(num_latents)
        self.num_values = tuple(int(n) for n in sizes)
        self.codebook = nnx.Param(jnp.asarray(np.stack(rows), jnp.float32))

    def __call__(self, z: Array) -> QuantizerOutput:
        z_c = _check_code(z, self.num_latents, "LatentQuantizer")
        codebook = self.codebook[...].astype(z_c.dtype)
        dist = jnp.abs(z_c[:, :, None] - jax.lax.stop_gradient(codebook)[None])  # [B, L, V]
        sizes = np.asarray(self.num_values)
        if np.any(sizes < sizes.max()):  # ragged: mask the padding out of the argmin
            mask = np.arange(sizes.max())[None, :] < sizes[:, None]
            dist = jnp.where(mask[None], dist, jnp.inf)
        indices = jnp.argmin(dist, axis=-1).astype(jnp.int32)
        z_q = jnp.take_along_axis(codebook[None], indices[..., None], axis=-1, mode="clip")
        z_q = z_q[..., 0]
        return QuantizerOutput(z_c, z_q, indices, _straight_through(z_c, z_q))

    def lookup(self, indices: Array) -> Array:
        """Codebook values `V[i, indices[:, i]]` for int indices `[batch, num_latents]`.

        Out-of-range indices raise a ValueError (clipped when traced under `jit`)."""
        indices = _check_indices(indices, self.num_values, "LatentQuantizer")
        vals = jnp.take_along_axis(self.codebook[...][None], indices[..., None], axis=-1)
        return vals[..., 0]


class GlobalQuantizer(nnx.Module):
    """One scalar codebook shared by all latents (the QLAE "global codebook" ablation).

    .. math:: q_i = \\operatorname{argmin}_j |z_i - v_j|, \\qquad (z_q)_i = v_{q_i}

    Args:
      num_latents: number of latents `L`.
      num_values: size of the shared codebook `v: [num_values]` (param `codebook`),
        initialized evenly spaced on `[-0.5, 0.5]`.
      rngs: unused (deterministic initialization).
    """

    def __init__(self, num_latents: int, num_values: int = 10, *, rngs: nnx.Rngs):
        del rngs
        if num_latents < 1 or num_values < 1:
            raise ValueError(
                f"num_latents and num_values must be >= 1; got {num_latents}, {num_values}"
            )
        self.num_latents = int(num_latents)
        self.num_values = int(num_values)
        init = np.linspace(-0.5, 0.5, num_values) if num_values > 1 else np.zeros(1)
        self.codebook = nnx.Param(jnp.asarray(init, jnp.float32))

    def __call__(self, z: Array) -> QuantizerOutput:
        z_c = _check_code(z, self.num_latents, "GlobalQuantizer")
        codebook = self.codebook[...].astype(z_c.dtype)
        dist = jnp.abs(z_c[:, :, None] - jax.lax.stop_gradient(codebook)[None, None])
        indices = jnp.argmin(dist, axis=-1).astype(jnp.int32)
        z_q = jnp.take(codebook, indices, axis=0)
        return QuantizerOutput(z_c, z_q, indices, _straight_through(z_c, z_q))

    def lookup(self, indices: Array) -> Array:
        """Codebook values `v[indices]` for int indices `[batch, num_latents]`.

        Out-of-range indices raise a ValueError (clipped when traced under `jit`)."""
        indices = _check_indices(indices, (self.num_values,) * self.num_latents, "GlobalQuantizer")
        return jnp.take(self.codebook[...], indices, axis=0)


class FSQQuantizer(nnx.Module):
    """Finite scalar quantization: bound each latent to `L_i` levels, round, straight-through.

    With half-width :math:`h_i = (L_i - 1)(1 - \\epsilon)/2`, offset :math:`o_i = 0.5`
    for even `L_i` (else 0) and shift :math:`s_i = \\operatorname{atanh}(o_i/h_i)` (so
    `z_i = 0` maps to the level 0; for `L_i = 2` the bound's range `(-1, 0)` does not hold 0
    and `atanh` is undefined, so :math:`s_i = 0`: the sign of `z_i` picks the level):

    .. math::
        b_i = h_i \\tanh(z_i + s_i) - o_i, \\qquad
        (z_q)_i = \\operatorname{round}(b_i) / \\lfloor L_i/2 \\rfloor, \\qquad
        q_i = \\operatorname{round}(b_i) + \\lfloor L_i/2 \\rfloor

    so every latent takes exactly `L_i` values in `[-1, 1]`. `z_continuous` is the
    bounded `b_i / floor(L_i/2)` (what the straight-through estimator passes
    gradients to); there are no learnable parameters.

    Args:
      num_latents: number of latents.
      num_levels: levels per latent (an int >= 2, or one per latent).
      eps: keeps the bound strictly inside the outermost rounding interval.
      rngs: unused.
    """

    def __init__(
        self,
        num_latents: int,
        num_levels: int | Sequence[int] = 5,
        *,
        eps: float = 1e-3,
        rngs: nnx.Rngs,
    ):
        del rngs
        if num_latents < 1:
            raise ValueError(f"num_latents must be >= 1; got {num_latents}")
        levels = _as_sizes(num_levels, num_latents, "num_levels")
        if np.any(levels < 2):
            raise ValueError(f"num_levels must be >= 2 for every latent; got {num_levels}")
        self.num_latents = int(num_latents)
        self.num_levels = tuple(int(n) for n in levels)
        self.eps = float(eps)

    def _constants(self, dtype):
        levels = np.asarray(self.num_levels, np.float64)
        half = (levels - 1) * (1 - self.eps) / 2
        offset = np.where(levels % 2 == 0, 0.5, 0.0)
        # L = 2: offset > half, atanh undefined (was NaN); shift 0 makes sign(z) the level
        ratio = offset / half
        shift = np.arctanh(np.where(ratio < 1, ratio, 0.0))
        width = np.floor(levels / 2)
        return tuple(jnp.asarray(a, dtype) for a in (half, offset, shift, width))

    def __call__(self, z: Array) -> QuantizerOutput:
        z = _check_code(z, self.num_latents, "FSQQuantizer")
        half, offset, shift, width = self._constants(z.dtype)
        bounded = half[None] * jnp.tanh(z + shift[None]) - offset[None]
        rounded = jnp.round(bounded)
        indices = (rounded + width[None]).astype(jnp.int32)
        z_c = bounded / width[None]
        z_q = rounded / width[None]
        return QuantizerOutput(z_c, z_q, indices, _straight_through(z_c, z_q))

    def lookup(self, indices: Array) -> Array:
        """Quantized values for int level indices `[batch, num_latents]`.

        Out-of-range indices raise a ValueError (clipped when traced under `jit`)."""
        indices = _check_indices(indices, self.num_levels, "FSQQuantizer")
        _, _, _, width = self._constants(jnp.float32)
        width = width.reshape((1,) * (indices.ndim - 1) + (-1,))
        return (indices.astype(jnp.float32) - width) / width

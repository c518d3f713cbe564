"""Compositional contrast (Brady et al., 2023) and a scale-invariant alternative, as pure
kernels on a decoder Jacobian.

Given a Jacobian ``J = ∂x/∂z: [batch, d_x, d_z]`` (or an image Jacobian
``[batch, H, W, C, d_z]``) and a partition of the latents into groups ``G_1..G_K``,
each output ``n`` has per-group block norms ``b_{nk} = ‖∂x_n/∂z_{G_k}‖_2``. For an image,
output ``n`` is a pixel and the norm also runs over its channels (the image form).

- :func:`compositional_contrast` — ``C_comp = Σ_n w_n Σ_{k<l} b_{nk} b_{nl}`` per example.
  Zero iff every output depends on at most one group (Type D supports). Cost: the kernel
  is ``O(batch · d_x · d_z)``; the Jacobian from forward mode costs ``d_z`` jvps of the
  decoder (:func:`decoder_compositional_contrast`), so training with it is about
  ``d_z``x the decoder's forward cost (see ``benchmarks/jacobian.py``).
- :func:`block_sparsity_ratio` — the alternative surrogate: a scale-invariant sparsity of
  each output row of block norms, ``Σ_n w_n (‖b_n‖_1 - ‖b_n‖_2) / Σ_n w_n ‖b_n‖_2``, in
  ``[0, √K - 1]``. Zero iff every output depends on one group; unlike ``C_comp`` it cannot
  be lowered by shrinking the decoder's Jacobian (rescaling the latents up), and rows with
  large sensitivity dominate it, not the many small ones.

References:
  Brady, Zimmermann, Sharma, Schölkopf, von Kügelgen, Brendel. Provably learning
  object-centric representations. ICML 2023.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from qdjax._src.typing import Array, ArrayLike

__all__ = [
    "block_norms",
    "block_sparsity_ratio",
    "compositional_contrast",
    "decoder_compositional_contrast",
    "group_matrix",
]


def group_matrix(groups: Sequence[Sequence[int]], num_latents: int) -> np.ndarray:
    """One-hot ``[num_latents, K]`` of a partition; ``ValueError`` unless it partitions them."""
    flat = [int(i) for g in groups for i in g]
    if sorted(flat) != list(range(num_latents)) or any(len(g) == 0 for g in groups):
        raise ValueError(
            f"groups must partition the latents 0..{num_latents - 1} into non-empty groups; "
            f"got {[tuple(g) for g in groups]} (e.g. ((0, 1), (2, 3)))"
        )
    onehot = np.zeros((num_latents, len(groups)), np.float32)
    for k, g in enumerate(groups):
        onehot[list(g), k] = 1.0
    return onehot


def block_norms(
    jacobian: ArrayLike, groups: Sequence[Sequence[int]], *, eps: float = 1e-12
) -> Array:
    """Per-output, per-group norms ``b: [batch, outputs, K]``.

    ``jacobian`` is ``[batch, d_x, d_z]`` (outputs = ``d_x``) or ``[batch, H, W, C, d_z]``
    (outputs = pixels; the norm runs over channels and the group's latents). ``eps`` keeps
    the gradient finite where a block is exactly zero: ``sqrt(s + eps) - sqrt(eps)``.
    """
    j = jnp.asarray(jacobian)
    if not jnp.issubdtype(j.dtype, jnp.floating):
        raise TypeError(f"jacobian must be floating point; got {j.dtype}")
    if j.ndim == 3:
        sq = jnp.square(j)
    elif j.ndim == 5:
        sq = jnp.sum(jnp.square(j), axis=3).reshape(j.shape[0], -1, j.shape[-1])
    else:
        raise ValueError(
            f"jacobian must be [batch, d_x, d_z] or [batch, H, W, C, d_z]; got shape {j.shape}"
        )
    onehot = jnp.asarray(group_matrix(groups, j.shape[-1]), sq.dtype)
    return jnp.sqrt(sq @ onehot + eps) - jnp.sqrt(jnp.asarray(eps, sq.dtype))


def _weights(weights: ArrayLike | None, b: Array) -> Array:
    if weights is None:
        return jnp.ones(b.shape[1], b.dtype)
    w = jnp.asarray(weights, b.dtype).reshape(-1)
    if w.shape[0] != b.shape[1]:
        raise ValueError(
            f"weights must have one entry per output ({b.shape[1]}: d_x, or H*W for images); "
            f"got {w.shape[0]}"
        )
    return w


def compositional_contrast(
    jacobian: ArrayLike,
    groups: Sequence[Sequence[int]],
    *,
    weights: ArrayLike | None = None,
    eps: float = 1e-12,
) -> Array:
    """Compositional contrast per example.

    .. math:: C_{comp}(J) = \\sum_n w_n \\sum_{k<l} \\|\\partial x_n/\\partial z_{G_k}\\|
              \\,\\|\\partial x_n/\\partial z_{G_l}\\|
              = \\sum_n w_n \\tfrac12\\big[(\\textstyle\\sum_k b_{nk})^2 - \\sum_k b_{nk}^2\\big]

    Args:
      jacobian: ``[batch, d_x, d_z]`` or image ``[batch, H, W, C, d_z]``.
      groups: a partition of ``0..d_z-1`` (the model's latent blocks / slots).
      weights: optional per-output weights ``[d_x]`` (or ``[H, W]`` / ``[H*W]``: the
        weighted image form), default 1.
      eps: smoothing of the block norms at 0.

    Returns:
      ``[batch]``; take the mean for the batch loss.

    Example:
      >>> import jax.numpy as jnp
      >>> j = jnp.array([[[1.0, 0.0], [3.0, 4.0]]])  # output 2 depends on both latents
      >>> round(float(compositional_contrast(j, ((0,), (1,)))[0]), 4)
      12.0
    """
    b = block_norms(jacobian, groups, eps=eps)
    w = _weights(weights, b)
    pair = 0.5 * (jnp.square(jnp.sum(b, -1)) - jnp.sum(jnp.square(b), -1))  # [batch, outputs]
    return jnp.sum(pair * w[None], axis=-1)


def block_sparsity_ratio(
    jacobian: ArrayLike,
    groups: Sequence[Sequence[int]],
    *,
    weights: ArrayLike | None = None,
    eps: float = 1e-12,
) -> Array:
    """Scale-invariant row sparsity of the block norms, per example (alternative surrogate).

    .. math:: R(J) = \\frac{\\sum_n w_n (\\|b_n\\|_1 - \\|b_n\\|_2)}{\\sum_n w_n \\|b_n\\|_2}

    ``0`` iff every output depends on a single group, at most ``√K - 1``; unchanged when
    ``J`` is multiplied by a scalar. Same arguments as :func:`compositional_contrast`.

    Example:
      >>> import jax.numpy as jnp
      >>> j = jnp.array([[[1.0, 0.0], [3.0, 4.0]]])
      >>> round(float(block_sparsity_ratio(j, ((0,), (1,)))[0]), 4)  # (1-1 + 7-5) / (1+5)
      0.3333
    """
    b = block_norms(jacobian, groups, eps=eps)
    w = _weights(weights, b)
    l1 = jnp.sum(b, -1)
    l2 = jnp.sqrt(jnp.sum(jnp.square(b), -1) + eps)
    return jnp.sum(w[None] * (l1 - l2), -1) / (jnp.sum(w[None] * l2, -1) + eps)


def decoder_compositional_contrast(
    decode: Callable,
    z: ArrayLike,
    groups: Sequence[Sequence[int]],
    *,
    kernel: Callable = compositional_contrast,
    weights: ArrayLike | None = None,
) -> Array:
    """A Jacobian kernel evaluated from a decoder: ``kernel(vmap(jacfwd(decode))(z), groups)``.

    ``decode`` maps one latent ``[d_z]`` to ``[d_x]`` or ``[H, W, C]``; ``z: [batch, d_z]``.
    Forward mode: ``d_z`` jvps per example. Differentiable (use it inside a training
    objective) and jit-able. Returns ``[batch]``.
    """
    z = jnp.asarray(z)
    if z.ndim != 2:
        raise ValueError(f"z must be [batch, d_z]; got shape {z.shape}")
    jac = jax.vmap(jax.jacfwd(decode))(z)  # [batch, d_x, d_z] or [batch, H, W, C, d_z]
    if jac.ndim not in (3, 5):
        raise ValueError(
            "decode must map one latent vector [d_z] to [d_x] or [H, W, C]; got Jacobian "
            f"shape {jac.shape} (wrap a batched decoder as `lambda z: dec(z[None])[0]`)"
        )
    return kernel(jac, groups, weights=weights)

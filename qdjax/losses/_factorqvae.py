"""FactorQVAE's kernels: the relaxed scalar-codebook posterior, its KL to uniform, and the
density-ratio total correlation of a two-class discriminator (shared with FactorVAE).

FactorQVAE quantizes every latent with one global scalar codebook `c: [K]`. The posterior of
latent `i` over the codebook is `softmax(-d_i)` with squared distances `d_ik = (z_i - c_k)^2`;
training decodes the Gumbel-softmax relaxation of it (temperature `exp(-1e-5 * step)`),
evaluation the nearest value. A discriminator `D` (two logits: "joint" and "permuted")
estimates the total correlation of the codes by the density-ratio trick.

References:
  Baykal, Kandemir, Unal. Disentanglement with Factor Quantized Variational Autoencoders
  (arXiv:2409.14851, 2024); code ituvisionlab/FactorQVAE (`quantizers/relaxed_vq_quantizer.py`,
  `quantizers/utils.py`, `models/factor_qvae.py`, `train.py`).
  Kim, Mnih. Disentangling by Factorising. ICML 2018 (arXiv:1802.05983).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, ArrayLike


def _floating(x: ArrayLike, fn: str, name: str, ndim: int | None = None) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: {name} must be floating point; got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{fn}: {name} must have {ndim} axes; got shape {x.shape}")
    return x


def scalar_codebook_distances(z: ArrayLike, codebook: ArrayLike) -> Array:
    """Squared distances of every latent to every value of one global scalar codebook.

    .. math:: d_{bik} = (z_{bi} - c_k)^2

    Args:
      z: continuous latents `[batch, num_latents]`.
      codebook: `[num_values]` shared by all latents.

    Returns:
      `[batch, num_latents, num_values]`; `-d` are the posterior logits.

    Example:
      >>> scalar_codebook_distances(jnp.zeros((2, 3)), jnp.array([-1.0, 2.0])).shape
      (2, 3, 2)
    """
    z = _floating(z, "scalar_codebook_distances", "z", 2)
    c = _floating(codebook, "scalar_codebook_distances", "codebook", 1).astype(z.dtype)
    return jnp.square(z[:, :, None] - c[None, None, :])


def gumbel_softmax(logits: ArrayLike, gumbel: ArrayLike, *, temperature: ArrayLike) -> Array:
    """The relaxed one-hot sample `softmax((logits + g) / tau)` over the last axis.

    `gumbel` is standard Gumbel noise of the logits' shape (the caller draws it, e.g.
    `jax.random.gumbel(key, logits.shape)`; zeros give the deterministic softmax). This is
    PyTorch's `F.gumbel_softmax(logits, tau, hard=False)`, which FactorQVAE's quantizer calls on
    `-distances` while training.

    Args:
      logits: `[..., num_values]`.
      gumbel: noise, same shape.
      temperature: `tau > 0` (a scalar; FactorQVAE anneals it by :func:`gumbel_temperature`).

    Returns:
      weights `[..., num_values]` summing to 1 over the last axis.
    """
    logits = _floating(logits, "gumbel_softmax", "logits")
    gumbel = jnp.asarray(gumbel, logits.dtype)
    if gumbel.shape != logits.shape:
        raise ValueError(f"gumbel_softmax: gumbel {gumbel.shape} must match logits {logits.shape}")
    return jax.nn.softmax((logits + gumbel) / jnp.asarray(temperature, logits.dtype), axis=-1)


def gumbel_temperature(step: ArrayLike, *, rate: float = 1e-5) -> Array:
    """FactorQVAE's temperature schedule `exp(-rate * step)` (its `DecayTemperature` callback)."""
    return jnp.exp(-rate * jnp.asarray(step, jnp.float32))


def uniform_kl(logits: ArrayLike) -> Array:
    """KL of the categorical posterior `p = softmax(logits)` to the uniform distribution.

    .. math:: \\mathrm{KL}(p \\,\\|\\, U_K) = \\sum_k p_k \\log(K p_k + 10^{-10})

    (the `1e-10` guard as in the authors' code; FactorQVAE averages it over batch and latents).

    Args:
      logits: `[..., num_values]` (FactorQVAE: `-scalar_codebook_distances(z, c)`).

    Returns:
      `[...]` KL per categorical, in nats.
    """
    logits = _floating(logits, "uniform_kl", "logits")
    k = logits.shape[-1]
    p = jax.nn.softmax(logits, axis=-1)
    return jnp.sum(p * jnp.log(p * k + 1e-10), axis=-1)


def density_ratio_tc(logits: ArrayLike) -> Array:
    """Per-example total-correlation estimate of a two-class discriminator.

    With logits `(l_joint, l_permuted)` of "this code is a joint sample" vs "a per-latent
    shuffled one", `log D / (1 - D) = l_joint - l_permuted` (Kim & Mnih's density-ratio
    trick); its batch mean estimates `TC(z)`.

    Args:
      logits: `[batch, 2]` discriminator output on the model's codes.

    Returns:
      `[batch]`.
    """
    logits = _floating(logits, "density_ratio_tc", "logits", 2)
    if logits.shape[-1] != 2:
        raise ValueError(f"density_ratio_tc: logits must be [batch, 2]; got {logits.shape}")
    return logits[:, 0] - logits[:, 1]


def discriminator_loss(logits_joint: ArrayLike, logits_permuted: ArrayLike) -> Array:
    """Per-example cross-entropy of the TC discriminator (class 0 joint, class 1 permuted).

    .. math:: \\ell_b = \\tfrac12 (\\mathrm{CE}(l^{joint}_b, 0) + \\mathrm{CE}(l^{perm}_b, 1))

    whose batch mean is the authors' `0.5 * (F.cross_entropy(D_z, zeros) +
    F.cross_entropy(D_perm, ones))`.

    Args:
      logits_joint: `[batch, 2]` on codes of the data.
      logits_permuted: `[batch, 2]` on per-latent batch-shuffled codes (same batch size).

    Returns:
      `[batch]`.
    """
    lj = _floating(logits_joint, "discriminator_loss", "logits_joint", 2)
    lp = _floating(logits_permuted, "discriminator_loss", "logits_permuted", 2)
    if lj.shape != lp.shape or lj.shape[-1] != 2:
        raise ValueError(
            f"discriminator_loss: logits must both be [batch, 2]; got {lj.shape}, {lp.shape}"
        )
    ce_joint = -jax.nn.log_softmax(lj, axis=-1)[:, 0]
    ce_perm = -jax.nn.log_softmax(lp, axis=-1)[:, 1]
    return 0.5 * (ce_joint + ce_perm)

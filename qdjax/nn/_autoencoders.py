"""Deterministic and Gaussian autoencoders composed from an encoder and a decoder.

Every model in qdjax follows one contract so that any loss kernel plugs into it:
`model(x, *, key=None)` returns a NamedTuple with at least `x_hat` (decoder
output: logits for a Bernoulli likelihood, means for a Gaussian one) and `z`
(the latent fed to the decoder); `model.encode(x)` returns the deterministic
`[batch, num_latents]` representation used for evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from qdjax._src.typing import Array
from qdjax.losses import gaussian_sample
from qdjax.nn._mlp import MLP


class AutoencoderOutput(NamedTuple):
    """Output of :class:`Autoencoder` and :class:`VAE`.

    Attributes:
      x_hat: decoder output, same shape as the input.
      z: latent fed to the decoder, `[batch, num_latents]` (a posterior sample for a VAE).
      z_mean: deterministic code, `[batch, num_latents]` (posterior mean for a VAE).
      z_logvar: posterior log-variance `[batch, num_latents]`, or None.
    """

    x_hat: Array
    z: Array
    z_mean: Array
    z_logvar: Array | None = None


class Autoencoder(nnx.Module):
    """Deterministic autoencoder `x -> z = encoder(x) -> x_hat = decoder(z)`.

    `encoder` maps `[batch, ...]` to `[batch, num_latents]`; `decoder` maps back
    to the input shape (reshape inside the decoder for images).
    """

    def __init__(self, encoder: nnx.Module, decoder: nnx.Module):
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, x: Array) -> Array:
        return self.encoder(x)

    def __call__(self, x: Array, *, key: jax.Array | None = None) -> AutoencoderOutput:
        del key  # deterministic
        z = self.encoder(x)
        return AutoencoderOutput(x_hat=self.decoder(z), z=z, z_mean=z)


class VAE(nnx.Module):
    """Gaussian VAE: the encoder outputs `2 * num_latents` values (mean, log-variance).

    With a key, `z` is a reparameterized posterior sample; without one (evaluation),
    `z` is the posterior mean. The log-variance is clipped to `[-logvar_clip, logvar_clip]`
    for numerical safety.
    """

    def __init__(self, encoder: nnx.Module, decoder: nnx.Module, *, logvar_clip: float = 15.0):
        self.encoder = encoder
        self.decoder = decoder
        self.logvar_clip = logvar_clip

    def _posterior(self, x: Array) -> tuple[Array, Array]:
        h = self.encoder(x)
        mean, logvar = jnp.split(h, 2, axis=-1)
        return mean, jnp.clip(logvar, -self.logvar_clip, self.logvar_clip)

    def encode(self, x: Array) -> Array:
        return self._posterior(x)[0]

    def __call__(self, x: Array, *, key: jax.Array | None = None) -> AutoencoderOutput:
        mean, logvar = self._posterior(x)
        z = mean if key is None else gaussian_sample(key, mean, logvar)
        return AutoencoderOutput(x_hat=self.decoder(z), z=z, z_mean=mean, z_logvar=logvar)


class _Reshape(nnx.Module):
    def __init__(self, module: nnx.Module, shape: tuple[int, ...], expect=None):
        self.module = module
        self.shape = tuple(shape)
        self.expect = None if expect is None else tuple(expect)  # input shape (no batch axis)

    def __call__(self, x: Array) -> Array:
        if self.expect is not None:
            if tuple(x.shape[1:]) != self.expect or x.ndim != len(self.expect) + 1:
                raise ValueError(
                    f"expected inputs [batch, {', '.join(map(str, self.expect))}]; got shape "
                    f"{tuple(x.shape)} (add a batch axis, or build the model for this shape)"
                )
            if not jnp.issubdtype(x.dtype, jnp.floating):
                raise TypeError(
                    f"inputs must be floating point; got {x.dtype} (cast them, e.g. uint8 "
                    "images / 255)"
                )
        h = self.module(x.reshape(x.shape[0], -1) if x.ndim > 2 else x)
        return h.reshape(h.shape[0], *self.shape)


def mlp_autoencoder(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    hidden: Sequence[int] = (256, 256),
    variational: bool = False,
    rngs: nnx.Rngs,
) -> Autoencoder | VAE:
    """An MLP autoencoder (or Gaussian VAE) for inputs of shape `input_shape` (no batch axis).

    The decoder mirrors the encoder's hidden widths. Inputs with more than one
    axis are flattened and the reconstruction is reshaped back.
    """
    shape = tuple(int(d) for d in input_shape)
    if num_latents < 1:
        raise ValueError(f"num_latents must be >= 1; got {num_latents}")
    flat = 1
    for d in shape:
        flat *= d
    enc_out = 2 * num_latents if variational else num_latents
    encoder = _Reshape(MLP(flat, hidden, enc_out, rngs=rngs), (enc_out,), expect=shape)
    decoder = _Reshape(MLP(num_latents, tuple(reversed(hidden)), flat, rngs=rngs), shape)
    return (VAE if variational else Autoencoder)(encoder, decoder)

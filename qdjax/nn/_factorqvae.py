"""FactorQVAE and FactorVAE: autoencoders with a total-correlation discriminator inside.

Both carry their discriminator as the submodule `discriminator` (so
`qdjax.train.discriminator` can give it its own optimizer by path, like the GAN's critic) and
expose `codes(out) -> [batch, num_latents, features]`, what the discriminator sees:

* :class:`FactorQVAE` (Baykal et al. 2024): one global scalar codebook of 64 values, initialised
  N(0, 1) (`nn.Embedding`'s default, the authors' `init_type: normal`). Training decodes the
  Gumbel-softmax relaxation `w = softmax((-d + g) / tau)` of the posterior over the codebook,
  `z = w @ c`; evaluation (no key) the nearest value. The discriminator sees the relaxed one-hot
  weights `w` flattened to `num_latents * 64` inputs, as in `models/factor_qvae.py`.
* :class:`FactorVAE` (Kim & Mnih 2018): a Gaussian VAE; the discriminator sees the posterior
  sample `z`.

The discriminator is the authors' MLP: `depth` hidden Linear layers of `width` units with
LeakyReLU(0.2), then 2 logits, weights N(0, 0.02) and zero biases (`blocks/discriminator.py`:
5 hidden layers of 1000; Kim & Mnih: 6 of 1000). The encoders/decoders are qdjax's MLP or conv
nets, not the authors' dVAE-style residual nets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from qdjax._src.typing import Array
from qdjax.losses import gaussian_sample
from qdjax.losses._factorqvae import gumbel_softmax, scalar_codebook_distances
from qdjax.nn._autoencoders import mlp_autoencoder
from qdjax.nn._convnets import conv_decoder, conv_encoder


class TCDiscriminator(nnx.Module):
    """`[batch, in_features] -> [batch, 2]` logits (joint, permuted); see the module docstring."""

    def __init__(self, in_features: int, *, width: int = 1000, depth: int = 5, rngs: nnx.Rngs):
        if in_features < 1 or width < 1 or depth < 1:
            raise ValueError(
                f"in_features, width and depth must be >= 1; got {in_features}, {width}, {depth}"
            )
        widths = [int(in_features), *([int(width)] * int(depth)), 2]
        init = dict(kernel_init=nnx.initializers.normal(0.02), bias_init=nnx.initializers.zeros)
        self.layers = nnx.List(
            [nnx.Linear(a, b, **init, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )

    def __call__(self, codes: Array) -> Array:
        h = codes.reshape(codes.shape[0], -1)
        for layer in self.layers[:-1]:
            h = jax.nn.leaky_relu(layer(h), 0.2)
        return self.layers[-1](h)


class RelaxedQuantizerOutput(NamedTuple):
    """Output of :class:`RelaxedScalarQuantizer`.

    Attributes:
      z_continuous: encoder output `[batch, num_latents]`.
      z_quantized: nearest codebook value per latent.
      indices: int32 index of the nearest value.
      z: decoder input: `weights @ codebook` (soft while training, the nearest value without a
        key).
      weights: relaxed one-hot `[batch, num_latents, num_values]` (one-hot without a key).
      logits: posterior logits `-distances`, same shape.
    """

    z_continuous: Array
    z_quantized: Array
    indices: Array
    z: Array
    weights: Array
    logits: Array


class RelaxedScalarQuantizer(nnx.Module):
    """FactorQVAE's quantizer: one global scalar codebook, Gumbel-softmax relaxed.

    Args:
      num_latents: number of latents `L`.
      num_values: codebook size `K` (the authors: 64).
      rngs: draws the N(0, 1) codebook initialisation from `rngs.params()`.
    """

    def __init__(self, num_latents: int, num_values: int = 64, *, rngs: nnx.Rngs):
        if num_latents < 1 or num_values < 2:
            raise ValueError(
                f"num_latents must be >= 1 and num_values >= 2; got {num_latents}, {num_values}"
            )
        self.num_latents = int(num_latents)
        self.num_values = int(num_values)
        self.codebook = nnx.Param(jax.random.normal(rngs.params(), (self.num_values,)))

    def __call__(
        self, z: Array, *, key: jax.Array | None = None, temperature: Array | float = 1.0
    ) -> RelaxedQuantizerOutput:
        if z.ndim != 2 or z.shape[-1] != self.num_latents:
            raise ValueError(
                f"RelaxedScalarQuantizer: expected z [batch, {self.num_latents}]; got {z.shape}"
            )
        codebook = self.codebook[...].astype(z.dtype)
        logits = -scalar_codebook_distances(z, codebook)
        indices = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        z_quantized = jnp.take(codebook, indices, axis=0)
        if key is None:
            weights = jax.nn.one_hot(indices, self.num_values, dtype=z.dtype)
        else:
            noise = jax.random.gumbel(key, logits.shape, logits.dtype)
            weights = gumbel_softmax(logits, noise, temperature=temperature)
        z_out = weights @ codebook
        return RelaxedQuantizerOutput(z, z_quantized, indices, z_out, weights, logits)


class FactorQVAEOutput(NamedTuple):
    """Output of :class:`FactorQVAE` (the quantizer's fields plus `x_hat`)."""

    x_hat: Array
    z: Array
    z_continuous: Array
    z_quantized: Array
    indices: Array
    weights: Array
    logits: Array


class FactorQVAE(nnx.Module):
    """`x -> encoder -> relaxed global-codebook quantizer -> decoder`, plus the discriminator.

    `encode(x)` is the nearest codebook value of each latent (deterministic and ordered, unlike
    the index the authors' metrics read: :meth:`encode_indices`).
    """

    def __init__(
        self,
        encoder: nnx.Module,
        quantizer: RelaxedScalarQuantizer,
        decoder: nnx.Module,
        discriminator: TCDiscriminator,
    ):
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        self.discriminator = discriminator

    def encode(self, x: Array) -> Array:
        return self.quantizer(self.encoder(x)).z_quantized

    def encode_indices(self, x: Array) -> Array:
        return self.quantizer(self.encoder(x)).indices

    @staticmethod
    def codes(out: FactorQVAEOutput) -> Array:
        return out.weights

    def __call__(
        self, x: Array, *, key: jax.Array | None = None, temperature: Array | float = 1.0
    ) -> FactorQVAEOutput:
        q = self.quantizer(self.encoder(x), key=key, temperature=temperature)
        return FactorQVAEOutput(
            self.decoder(q.z), q.z, q.z_continuous, q.z_quantized, q.indices, q.weights, q.logits
        )


class FactorVAEOutput(NamedTuple):
    """Output of :class:`FactorVAE`: the VAE fields (`kl_term` reads `z_mean`, `z_logvar`)."""

    x_hat: Array
    z: Array
    z_mean: Array
    z_logvar: Array


class FactorVAE(nnx.Module):
    """A Gaussian VAE (encoder emits mean and log-variance) plus the TC discriminator."""

    def __init__(
        self,
        encoder: nnx.Module,
        decoder: nnx.Module,
        discriminator: TCDiscriminator,
        *,
        logvar_clip: float = 15.0,
    ):
        self.encoder = encoder
        self.decoder = decoder
        self.discriminator = discriminator
        self.logvar_clip = logvar_clip

    def _posterior(self, x: Array) -> tuple[Array, Array]:
        mean, logvar = jnp.split(self.encoder(x), 2, axis=-1)
        return mean, jnp.clip(logvar, -self.logvar_clip, self.logvar_clip)

    def encode(self, x: Array) -> Array:
        return self._posterior(x)[0]

    @staticmethod
    def codes(out: FactorVAEOutput) -> Array:
        return out.z[:, :, None]

    def __call__(self, x: Array, *, key: jax.Array | None = None, **unused) -> FactorVAEOutput:
        del unused
        mean, logvar = self._posterior(x)
        z = mean if key is None else gaussian_sample(key, mean, logvar)
        return FactorVAEOutput(self.decoder(z), z, mean, logvar)


def _networks(input_shape, num_latents, variational, network, hidden, conv, rngs):
    shape = tuple(int(d) for d in input_shape)
    if network == "mlp":
        ae = mlp_autoencoder(shape, num_latents, hidden=hidden, variational=variational, rngs=rngs)
        return ae.encoder, ae.decoder
    if network == "conv":
        enc_out = 2 * num_latents if variational else num_latents
        return (
            conv_encoder(shape, enc_out, **conv, rngs=rngs),
            conv_decoder(num_latents, shape, **conv, rngs=rngs),
        )
    raise ValueError(f"network must be 'mlp' or 'conv'; got {network!r}")


def factorqvae(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    num_values: int = 64,
    network: str = "mlp",
    hidden: Sequence[int] = (256, 256),
    discriminator_width: int = 1000,
    discriminator_depth: int = 5,
    rngs: nnx.Rngs,
    **conv,
) -> FactorQVAE:
    """A :class:`FactorQVAE` on an MLP (`hidden`) or conv net (`conv`: the keywords
    `architecture`, `channels`, `dense`, `depth` of :func:`qdjax.nn.conv_encoder`)."""
    enc, dec = _networks(input_shape, num_latents, False, network, hidden, conv, rngs)
    quantizer = RelaxedScalarQuantizer(num_latents, num_values, rngs=rngs)
    disc = TCDiscriminator(
        num_latents * num_values, width=discriminator_width, depth=discriminator_depth, rngs=rngs
    )
    return FactorQVAE(enc, quantizer, dec, disc)


def factorvae(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    network: str = "mlp",
    hidden: Sequence[int] = (256, 256),
    discriminator_width: int = 1000,
    discriminator_depth: int = 6,
    rngs: nnx.Rngs,
    **conv,
) -> FactorVAE:
    """A :class:`FactorVAE` (Kim & Mnih's 6 x 1000 discriminator by default); args as
    :func:`factorqvae`."""
    enc, dec = _networks(input_shape, num_latents, True, network, hidden, conv, rngs)
    disc = TCDiscriminator(
        num_latents, width=discriminator_width, depth=discriminator_depth, rngs=rngs
    )
    return FactorVAE(enc, dec, disc)

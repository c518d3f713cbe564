"""The model zoo: conv AE / (β-, β-TC) VAE, QLAE (conv and MLP), QLVAE and QLInfoWGAN-GP.

Every factory returns a model following the qdjax contract: `model(x, *, key=None)`
returns a NamedTuple with at least `x_hat` (decoder output) and `z` (the latent fed
to the decoder), and `model.encode(x) -> [batch, num_latents]` is the deterministic
code used for evaluation. For quantized models `z` is the straight-through latent,
so latent regularizers (Cliff, ...) plug in unchanged through `out.z`; the
quantization and commitment losses read `out.z_continuous` and `out.z_quantized`.

Architectures (`architecture=`): ``"qlae"`` (QLAE exactly as its authors published it:
conv encoder and StyleGAN-like decoder, 7,651,780 parameters for 12 latents x 10 values),
``"qlae_legacy"`` (qdjax's earlier variant of it, 7,654,663) or ``"dlib"`` (the smaller
disentanglement_lib conv net); `channels`, `dense` and `depth` override their widths (tests
use tiny ones). Mixed precision: `dtype=jnp.bfloat16` (or `"bf16"`) computes in bfloat16
with float32 parameters and float32 outputs, so losses stay float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from qdjax._src.typing import Array
from qdjax.losses import gaussian_sample
from qdjax.nn._autoencoders import VAE, Autoencoder, mlp_autoencoder
from qdjax.nn._codebooks import FSQQuantizer, GlobalQuantizer, LatentQuantizer
from qdjax.nn._convnets import conv_decoder, conv_encoder

QUANTIZERS = ("latent", "global", "fsq")


def default_num_latents(num_factors: int) -> int:
    """The QLAE default latent width: twice the number of ground-truth factors."""
    if num_factors < 1:
        raise ValueError(f"num_factors must be >= 1; got {num_factors}")
    return 2 * int(num_factors)


def make_quantizer(
    num_latents: int, *, kind: str = "latent", num_values: int | Sequence[int] = 10, rngs: nnx.Rngs
) -> LatentQuantizer | GlobalQuantizer | FSQQuantizer:
    """`"latent"` (per-latent codebooks, QLAE), `"global"` (shared codebook) or `"fsq"`."""
    if kind == "latent":
        return LatentQuantizer(num_latents, num_values, rngs=rngs)
    if kind == "global":
        return GlobalQuantizer(num_latents, int(num_values), rngs=rngs)
    if kind == "fsq":
        return FSQQuantizer(num_latents, num_values, rngs=rngs)
    raise ValueError(f"quantizer must be one of {QUANTIZERS}; got {kind!r}")


# ----------------------------------------------------------------------------- outputs


class QuantizedOutput(NamedTuple):
    """Output of :class:`QuantizedAutoencoder` (and of :class:`QLInfoWGAN` on real data).

    Attributes:
      x_hat: decoder output `[batch, H, W, C]`.
      z: straight-through latent `[batch, num_latents]` (equals `z_quantized` in value).
      z_continuous: pre-quantization code.
      z_quantized: codebook values (differentiable w.r.t. the codebook only).
      indices: int32 codebook indices `[batch, num_latents]`.
    """

    x_hat: Array
    z: Array
    z_continuous: Array
    z_quantized: Array
    indices: Array


class QuantizedVAEOutput(NamedTuple):
    """Output of :class:`QuantizedVAE`: :class:`QuantizedOutput` fields plus the posterior.

    `z_continuous` is the posterior sample (the mean without a key); `z_mean` and
    `z_logvar` feed `qdjax.train.kl_term` unchanged.
    """

    x_hat: Array
    z: Array
    z_continuous: Array
    z_quantized: Array
    indices: Array
    z_mean: Array
    z_logvar: Array


class CriticOutput(NamedTuple):
    """Critic of :class:`QLInfoWGAN`: score `[batch]` and latent prediction `[batch, L]`."""

    score: Array
    z_pred: Array


class GeneratorSample(NamedTuple):
    """Samples of :meth:`QLInfoWGAN.sample`: images, their latent codes and indices."""

    x: Array
    z: Array
    indices: Array


# ------------------------------------------------------------------------------ models


class QuantizedAutoencoder(nnx.Module):
    """QLAE: `x -> z_c = encoder(x) -> quantize -> x_hat = decoder(z)` (straight-through).

    `encode(x)` returns the *continuous* pre-quantization code `z_c` (what the QLAE
    evaluation feeds InfoMEC/DCI); :meth:`encode_quantized` and :meth:`encode_indices`
    give the discrete code.
    """

    def __init__(self, encoder: nnx.Module, quantizer: nnx.Module, decoder: nnx.Module):
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder

    def encode(self, x: Array) -> Array:
        return self.encoder(x)

    def encode_quantized(self, x: Array) -> Array:
        return self.quantizer(self.encoder(x)).z_quantized

    def encode_indices(self, x: Array) -> Array:
        return self.quantizer(self.encoder(x)).indices

    def __call__(self, x: Array, *, key: jax.Array | None = None) -> QuantizedOutput:
        del key  # deterministic
        q = self.quantizer(self.encoder(x))
        return QuantizedOutput(self.decoder(q.z), q.z, q.z_continuous, q.z_quantized, q.indices)


class QuantizedVAE(nnx.Module):
    """QLVAE: a Gaussian VAE whose posterior sample is quantized before decoding.

    The encoder outputs `2 * num_latents` values (mean, log-variance clipped to
    `[-logvar_clip, logvar_clip]`); with a key `z_c ~ N(mean, exp(logvar))`, without one
    `z_c = mean`; `z` is the straight-through quantization of `z_c`. `encode(x)` is the
    posterior mean.
    """

    def __init__(
        self,
        encoder: nnx.Module,
        quantizer: nnx.Module,
        decoder: nnx.Module,
        *,
        logvar_clip: float = 15.0,
    ):
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        self.logvar_clip = logvar_clip

    def _posterior(self, x: Array) -> tuple[Array, Array]:
        mean, logvar = jnp.split(self.encoder(x), 2, axis=-1)
        return mean, jnp.clip(logvar, -self.logvar_clip, self.logvar_clip)

    def encode(self, x: Array) -> Array:
        return self._posterior(x)[0]

    def encode_indices(self, x: Array) -> Array:
        return self.quantizer(self.encode(x)).indices

    def __call__(self, x: Array, *, key: jax.Array | None = None) -> QuantizedVAEOutput:
        mean, logvar = self._posterior(x)
        z_c = mean if key is None else gaussian_sample(key, mean, logvar)
        q = self.quantizer(z_c)
        return QuantizedVAEOutput(
            self.decoder(q.z), q.z, q.z_continuous, q.z_quantized, q.indices, mean, logvar
        )


class Critic(nnx.Module):
    """WGAN critic with an InfoGAN latent-prediction head on a shared conv trunk.

    The trunk outputs `1 + num_latents` values: the Wasserstein score and the
    predicted latent code. No batch statistics are used, so the critic is applied
    independently per example (required by the per-example gradient penalty).
    """

    def __init__(self, trunk: nnx.Module):
        self.trunk = trunk

    def __call__(self, x: Array) -> CriticOutput:
        h = self.trunk(x)
        return CriticOutput(h[:, 0], h[:, 1:])


class QLInfoWGAN(nnx.Module):
    """QLInfoWGAN-GP: a generator on quantized codes and a critic with a latent head.

    The generator decodes codes `z_i = V[i, q_i]` with indices `q_i` drawn uniformly
    from each latent's codebook (:meth:`sample`). The critic scores images and
    predicts their code (InfoGAN). As an autoencoder, `model(x)` quantizes the
    critic's prediction and decodes it (`x_hat`), and `encode(x)` is the prediction
    itself. Train it with `qdjax.train.gan.make_gan_train_step`; the critic's
    parameters are exactly those under the `critic` attribute.
    """

    def __init__(self, generator: nnx.Module, quantizer: nnx.Module, critic: Critic):
        self.generator = generator
        self.quantizer = quantizer
        self.critic = critic

    def sample(self, key: jax.Array, num_samples: int) -> GeneratorSample:
        """`num_samples` generated images with their (uniformly sampled) quantized codes."""
        sizes = jnp.asarray(_codebook_sizes(self.quantizer))
        u = jax.random.uniform(key, (num_samples, sizes.shape[0]))
        indices = jnp.minimum(jnp.floor(u * sizes[None]), sizes[None] - 1).astype(jnp.int32)
        z = self.quantizer.lookup(indices)
        return GeneratorSample(self.generator(z), z, indices)

    def encode(self, x: Array) -> Array:
        return self.critic(x).z_pred

    def encode_indices(self, x: Array) -> Array:
        return self.quantizer(self.encode(x)).indices

    def __call__(self, x: Array, *, key: jax.Array | None = None) -> QuantizedOutput:
        del key
        q = self.quantizer(self.encode(x))
        return QuantizedOutput(self.generator(q.z), q.z, q.z_continuous, q.z_quantized, q.indices)


def _codebook_sizes(quantizer) -> tuple[int, ...]:
    if isinstance(quantizer, LatentQuantizer):
        return quantizer.num_values
    if isinstance(quantizer, GlobalQuantizer):
        return (quantizer.num_values,) * quantizer.num_latents
    if isinstance(quantizer, FSQQuantizer):
        return quantizer.num_levels
    raise TypeError(f"unsupported quantizer {type(quantizer).__name__}")


# --------------------------------------------------------------------------- factories


PRECISIONS = {"float32": None, "bf16": jnp.bfloat16, "bfloat16": jnp.bfloat16}


def compute_dtype(dtype):
    """The module compute dtype for `dtype`: None/"float32" (float32), "bf16"/"bfloat16"
    or a dtype (returned as is)."""
    if dtype is None or not isinstance(dtype, str):
        return dtype
    if dtype not in PRECISIONS:
        raise ValueError(f"precision must be one of {tuple(PRECISIONS)}; got {dtype!r}")
    return PRECISIONS[dtype]


def _check(input_shape: Sequence[int], num_latents: int) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels); got {input_shape}")
    if num_latents < 1:
        raise ValueError(f"num_latents must be >= 1; got {num_latents}")
    return shape


def _arch(architecture, channels, dense, depth, dtype) -> dict:
    """The conv encoder/decoder keyword arguments every conv factory below passes on."""
    return dict(
        architecture=architecture,
        channels=channels,
        dense=dense,
        depth=depth,
        dtype=compute_dtype(dtype),
    )


def conv_autoencoder(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    architecture: str = "qlae",
    channels: Sequence[int] | None = None,
    dense: Sequence[int] | None = None,
    depth: int | None = None,
    dtype=None,
    rngs: nnx.Rngs,
) -> Autoencoder:
    """A deterministic conv autoencoder for `(H, W, C)` images (AE baseline; AE + Cliff)."""
    shape = _check(input_shape, num_latents)
    arch = _arch(architecture, channels, dense, depth, dtype)
    encoder = conv_encoder(shape, num_latents, **arch, rngs=rngs)
    return Autoencoder(encoder, conv_decoder(num_latents, shape, **arch, rngs=rngs))


def conv_vae(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    architecture: str = "qlae",
    channels: Sequence[int] | None = None,
    dense: Sequence[int] | None = None,
    depth: int | None = None,
    dtype=None,
    rngs: nnx.Rngs,
) -> VAE:
    """A Gaussian conv VAE (β-VAE via `kl_term(weight=β)`; β-TCVAE adds a TC term)."""
    shape = _check(input_shape, num_latents)
    arch = _arch(architecture, channels, dense, depth, dtype)
    encoder = conv_encoder(shape, 2 * num_latents, **arch, rngs=rngs)
    return VAE(encoder, conv_decoder(num_latents, shape, **arch, rngs=rngs))


def qlae(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    num_values: int | Sequence[int] = 10,
    quantizer: str = "latent",
    architecture: str = "qlae",
    channels: Sequence[int] | None = None,
    dense: Sequence[int] | None = None,
    depth: int | None = None,
    dtype=None,
    rngs: nnx.Rngs,
) -> QuantizedAutoencoder:
    """QLAE (Hsu et al. 2023): conv encoder, scalar quantizer, decoder.

    Args:
      input_shape: `(H, W, C)`.
      num_latents: latent width (the paper uses `default_num_latents(num_factors)`).
      num_values: values per latent codebook (levels per latent for FSQ).
      quantizer: `"latent"` (per-latent codebooks), `"global"` or `"fsq"`.
      architecture, channels, dense, depth, dtype: see :func:`conv_encoder`.
      rngs: NNX random streams.

    Train with the reference optimizer `make_optimizer(learning_rate=1e-3,
    weight_decay=0.1, clip_value=1.0)` and quantization/commitment terms weighted 0.01.
    """
    shape = _check(input_shape, num_latents)
    arch = _arch(architecture, channels, dense, depth, dtype)
    return QuantizedAutoencoder(
        conv_encoder(shape, num_latents, **arch, rngs=rngs),
        make_quantizer(num_latents, kind=quantizer, num_values=num_values, rngs=rngs),
        conv_decoder(num_latents, shape, **arch, rngs=rngs),
    )


def mlp_qlae(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    hidden: Sequence[int] = (256, 256),
    num_values: int | Sequence[int] = 10,
    quantizer: str = "latent",
    rngs: nnx.Rngs,
) -> QuantizedAutoencoder:
    """QLAE for vector (or any flattened) data: MLP encoder, scalar quantizer, MLP decoder.

    The MLP counterpart of :func:`qlae` (same :class:`QuantizedAutoencoder`, same outputs and
    training recipe); the decoder mirrors the encoder's `hidden` widths and the reconstruction
    has `input_shape`.

    Args:
      input_shape: shape of one example (no batch axis); flattened for the MLPs.
      num_latents: latent width.
      hidden: encoder hidden widths.
      num_values: values per latent codebook (levels per latent for FSQ).
      quantizer: `"latent"` (per-latent codebooks), `"global"` or `"fsq"`.
      rngs: NNX random streams.
    """
    ae = mlp_autoencoder(input_shape, num_latents, hidden=hidden, rngs=rngs)  # checks both
    return QuantizedAutoencoder(
        ae.encoder,
        make_quantizer(num_latents, kind=quantizer, num_values=num_values, rngs=rngs),
        ae.decoder,
    )


def qlvae(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    num_values: int | Sequence[int] = 10,
    quantizer: str = "latent",
    architecture: str = "qlae",
    channels: Sequence[int] | None = None,
    dense: Sequence[int] | None = None,
    depth: int | None = None,
    dtype=None,
    rngs: nnx.Rngs,
) -> QuantizedVAE:
    """QLVAE: a Gaussian conv VAE whose posterior sample is quantized (args as :func:`qlae`)."""
    shape = _check(input_shape, num_latents)
    arch = _arch(architecture, channels, dense, depth, dtype)
    return QuantizedVAE(
        conv_encoder(shape, 2 * num_latents, **arch, rngs=rngs),
        make_quantizer(num_latents, kind=quantizer, num_values=num_values, rngs=rngs),
        conv_decoder(num_latents, shape, **arch, rngs=rngs),
    )


def qlinfowgan(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    num_values: int | Sequence[int] = 10,
    quantizer: str = "latent",
    architecture: str = "qlae",
    channels: Sequence[int] | None = None,
    dense: Sequence[int] | None = None,
    depth: int | None = None,
    dtype=None,
    rngs: nnx.Rngs,
) -> QLInfoWGAN:
    """QLInfoWGAN-GP: generator = the architecture's decoder, critic = its encoder trunk
    with `1 + num_latents` outputs (score and latent prediction). Args as :func:`qlae`."""
    shape = _check(input_shape, num_latents)
    arch = _arch(architecture, channels, dense, depth, dtype)
    return QLInfoWGAN(
        conv_decoder(num_latents, shape, **arch, rngs=rngs),
        make_quantizer(num_latents, kind=quantizer, num_values=num_values, rngs=rngs),
        Critic(conv_encoder(shape, 1 + num_latents, **arch, rngs=rngs)),
    )


def count_params(model: nnx.Module) -> int:
    """Number of scalar entries in the model's `nnx.Param`s."""
    return int(sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))))

"""Tripod's model: a tanh-bounded, rounded scalar quantizer and an autoencoder that exposes the
decoder activations its Hessian penalty regularizes.

Reference: Hsu et al., Tripod, ICML 2024; code kylehkhsu/tripod (`disentangle/nn/quantizer.py`,
`disentangle/models/autoencoder.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qdjax._src.typing import Array
from qdjax.nn._autoencoders import _Reshape, mlp_autoencoder
from qdjax.nn._codebooks import QuantizerOutput
from qdjax.nn._convnets import conv_decoder, conv_encoder
from qdjax.nn._mlp import MLP
from qdjax.nn._models import QuantizedOutput


class TanhRoundQuantizer(nnx.Module):
    """Tripod's quantizer: `z_c = tanh(z)`, rounded to `num_values` evenly spaced values of
    `[-1, 1]` with a straight-through gradient.

    .. math::
        z_c = \\tanh z, \\qquad q = \\operatorname{round}\\big(\\tfrac{z_c + 1}{2}(V - 1)\\big),
        \\qquad z_q = \\tfrac{2q}{V - 1} - 1

    (FSQ-style: no codebook parameters, no codebook losses.) Tripod uses `V = 12`.
    """

    def __init__(self, num_latents: int, num_values: int = 12, *, rngs: nnx.Rngs | None = None):
        del rngs
        if num_latents < 1 or num_values < 2:
            raise ValueError(
                f"num_latents must be >= 1 and num_values >= 2; got {num_latents}, {num_values}"
            )
        self.num_latents = int(num_latents)
        self.num_values = int(num_values)

    def __call__(self, z: Array) -> QuantizerOutput:
        z = jnp.asarray(z)
        if z.ndim != 2 or z.shape[-1] != self.num_latents:
            raise ValueError(
                f"TanhRoundQuantizer: expected z of shape [batch, {self.num_latents}]; "
                f"got {z.shape}"
            )
        z_c = jnp.tanh(z)
        v = self.num_values - 1
        scaled = (z_c + 1.0) / 2.0 * v
        indices = jnp.round(scaled)
        z_q = 2.0 * indices / v - 1.0
        z_st = z_c + jax.lax.stop_gradient(z_q - z_c)
        return QuantizerOutput(z_c, z_q, indices.astype(jnp.int32), z_st)

    def lookup(self, indices: Array) -> Array:
        """Values `2 q / (V - 1) - 1` of int indices `q` in `[0, V)`; ValueError on concrete
        out-of-range indices."""
        indices = jnp.asarray(indices)
        if not isinstance(indices, jax.core.Tracer):
            arr = np.asarray(indices)
            if arr.size and (arr.min() < 0 or arr.max() >= self.num_values):
                raise ValueError(f"indices must lie in [0, {self.num_values}); got {arr.min()}..")
        return 2.0 * indices.astype(jnp.float32) / (self.num_values - 1) - 1.0


class TripodAutoencoder(nnx.Module):
    """`x -> z_c = tanh(encoder(x)) -> round -> decoder` with the decoder's activations exposed.

    `encode(x)` is the continuous `z_c`; `decoder_activations(z)` returns the named activations
    the Hessian penalty regularizes: the hidden layers of an MLP decoder (the counterpart of the
    authors' `cond`, `block0..2` of their residual decoder), or the output logits of a conv
    decoder (an option in the authors' config; this repository does not ship their residual
    conv net).
    """

    def __init__(self, encoder: nnx.Module, quantizer: TanhRoundQuantizer, decoder: nnx.Module):
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder

    def encode(self, x: Array) -> Array:
        return self.quantizer(self.encoder(x)).z_continuous

    def encode_indices(self, x: Array) -> Array:
        return self.quantizer(self.encoder(x)).indices

    def decoder_activations(self, z: Array) -> dict[str, Array]:
        mlp = self.decoder.module if isinstance(self.decoder, _Reshape) else None
        if isinstance(mlp, MLP):
            acts, h = {}, z
            for i, layer in enumerate(mlp.layers[:-1]):
                h = jax.nn.leaky_relu(layer(h), mlp.negative_slope)
                acts[f"hidden{i}"] = h
            if acts:
                return acts
        return {"x_logits": self.decoder(z)}

    def __call__(self, x: Array, *, key: jax.Array | None = None) -> QuantizedOutput:
        del key
        q = self.quantizer(self.encoder(x))
        return QuantizedOutput(self.decoder(q.z), q.z, q.z_continuous, q.z_quantized, q.indices)


def tripod(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    num_values: int = 12,
    network: str = "mlp",
    hidden: Sequence[int] = (256, 256),
    architecture: str = "qlae",
    channels: Sequence[int] | None = None,
    dense: Sequence[int] | None = None,
    depth: int | None = None,
    rngs: nnx.Rngs,
) -> TripodAutoencoder:
    """A Tripod autoencoder on an MLP (`network="mlp"`, `hidden`) or conv net (`"conv"`)."""
    if network == "mlp":
        ae = mlp_autoencoder(input_shape, num_latents, hidden=hidden, rngs=rngs)
        enc, dec = ae.encoder, ae.decoder
    elif network == "conv":
        shape = tuple(int(d) for d in input_shape)
        arch = dict(architecture=architecture, channels=channels, dense=dense, depth=depth)
        enc = conv_encoder(shape, num_latents, **arch, rngs=rngs)
        dec = conv_decoder(num_latents, shape, **arch, rngs=rngs)
    else:
        raise ValueError(f"network must be 'mlp' or 'conv'; got {network!r}")
    return TripodAutoencoder(enc, TanhRoundQuantizer(num_latents, num_values), dec)

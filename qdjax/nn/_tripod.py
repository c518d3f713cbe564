"""Tripod's model: a tanh-bounded, rounded scalar quantizer and an autoencoder that exposes the
decoder activations its Hessian penalty regularizes.

Reference: Hsu et al., Tripod, ICML 2024; code kylehkhsu/tripod (`disentangle/nn/quantizer.py`,
`disentangle/models/autoencoder.py`, `disentangle/nn/{encoder,decoder,layers}.py`).
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
from qdjax.nn._convnets import InstanceNorm, conv_decoder, conv_encoder, instance_norm
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


# ------------------------------------------------------------------ the authors' residual nets
#
# kylehkhsu/tripod `disentangle/nn/{encoder,decoder,layers}.py` (Equinox, NCHW), re-written
# for NHWC: conv 3x3 -> instance norm (GroupNorm with one group per channel, eps 1e-5) -> GELU
# blocks with residual connections; space-to-depth + 1x1 conv to downsample, nearest x2 + 3x3
# conv to upsample; the decoder starts from a learned 4x4 constant (ones) and is conditioned on
# the latents through an MLP (`cond`) and AdaIN-style `h * (1 + scale) + shift` in every conv.
# Stage widths default to the authors' (32, 64, 128, 256) -> (64, 128, 256, 512), cond 256.

_EPS = 1e-5


def _uniform_fan_in(fan_in: int):
    """Equinox's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases."""
    lim = 1.0 / np.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -lim, lim)


def _conv(c_in, c_out, k, rngs):
    init = _uniform_fan_in(c_in * k * k)
    return nnx.Conv(
        c_in, c_out, (k, k), padding="SAME", kernel_init=init, bias_init=init, rngs=rngs
    )


def _linear(d_in, d_out, rngs):
    init = _uniform_fan_in(d_in)
    return nnx.Linear(d_in, d_out, kernel_init=init, bias_init=init, rngs=rngs)


class _LinearNormAct(nnx.Module):
    def __init__(self, d_in, d_out, rngs):
        self.linear = _linear(d_in, d_out, rngs)
        self.norm = nnx.LayerNorm(d_out, epsilon=_EPS, rngs=rngs)

    def __call__(self, h):
        return jax.nn.gelu(self.norm(self.linear(h)), approximate=False)


class _ResBlock(nnx.Module):
    """`x + [conv-IN-GELU] x2`, or with AdaIN conditioning when `cond_size` is given."""

    def __init__(self, c_in, c_out, *, cond_size=None, rngs):
        self.conv1, self.conv2 = _conv(c_in, c_out, 3, rngs), _conv(c_out, c_out, 3, rngs)
        self.identity = _conv(c_in, c_out, 1, rngs) if c_in != c_out else None
        if cond_size is None:
            self.norm1, self.norm2 = InstanceNorm(c_out, eps=_EPS), InstanceNorm(c_out, eps=_EPS)
            self.proj1 = self.proj2 = None
        else:
            self.norm1 = self.norm2 = None
            self.proj1 = _linear(cond_size, 2 * c_out, rngs)
            self.proj2 = _linear(cond_size, 2 * c_out, rngs)

    def _unit(self, h, conv, norm, proj, cond):
        h = conv(h)
        if proj is None:
            h = norm(h)
        else:
            scale, shift = jnp.split(proj(cond), 2, axis=-1)
            h = instance_norm(h, eps=_EPS) * (1 + scale[:, None, None]) + shift[:, None, None]
        return jax.nn.gelu(h, approximate=False)

    def __call__(self, x, cond=None):
        r = self._unit(x, self.conv1, self.norm1, self.proj1, cond)
        r = self._unit(r, self.conv2, self.norm2, self.proj2, cond)
        return (x if self.identity is None else self.identity(x)) + r


def _space_to_depth(x):
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c)
    return x.transpose(0, 1, 3, 5, 2, 4).reshape(b, h // 2, w // 2, 4 * c)


class ResidualEncoder(nnx.Module):
    """Tripod's encoder: per stage two residual blocks and a space-to-depth downsample that
    doubles the width; spatial mean, Linear-LayerNorm-GELU, linear head."""

    def __init__(self, input_shape, num_latents, *, widths=(32, 64, 128, 256), rngs):
        h, w, c = input_shape
        if h % 2 ** len(widths) or w % 2 ** len(widths):
            raise ValueError(
                f"image size {h}x{w} must be divisible by 2**{len(widths)} (one halving per stage)"
            )
        blocks, c_in = [], c
        for width in widths:
            blocks.append(_ResBlock(c_in, width, rngs=rngs))
            blocks.append(_ResBlock(width, width, rngs=rngs))
            blocks.append(_conv(4 * width, 2 * width, 1, rngs))
            c_in = 2 * width
        self.blocks = nnx.List(blocks)
        self.dense = _LinearNormAct(c_in, c_in, rngs)
        self.head = _linear(c_in, num_latents, rngs)

    def __call__(self, x):
        for i in range(0, len(self.blocks), 3):
            x = self.blocks[i + 1](self.blocks[i](x))
            x = self.blocks[i + 2](_space_to_depth(x))
        return self.head(self.dense(jnp.mean(x, axis=(1, 2))))


class ResidualDecoder(nnx.Module):
    """Tripod's decoder; `activations(z)` returns `cond`, `block0..` and `x_logits` (its
    Hessian penalty regularizes `cond` and every block but the last, as the authors')."""

    def __init__(
        self, num_latents, output_shape, *, widths=(32, 64, 128, 256), cond_size=256, rngs
    ):
        h, w, c = output_shape
        stages = len(widths)
        if h % 2**stages or w % 2**stages:
            raise ValueError(f"image size {h}x{w} must be divisible by 2**{stages}")
        chans = [2 * widths[-1], *[2 * wd for wd in reversed(widths[:-1])], c]
        self.input = nnx.Param(jnp.ones((h // 2**stages, w // 2**stages, chans[0])))
        self.cond = nnx.List(
            [
                _LinearNormAct(num_latents, cond_size, rngs),
                _LinearNormAct(cond_size, cond_size, rngs),
            ]
        )
        blocks = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            blocks.append(_ResBlock(c_in, c_in, cond_size=cond_size, rngs=rngs))
            blocks.append(_ResBlock(c_in, c_in, cond_size=cond_size, rngs=rngs))
            blocks.append(_conv(c_in, c_out, 3, rngs))
        self.blocks = nnx.List(blocks)

    def activations(self, z):
        outs = {}
        cond = self.cond[1](self.cond[0](z))
        outs["cond"] = cond
        x = jnp.broadcast_to(self.input[...][None], (z.shape[0], *self.input.shape))
        n = len(self.blocks) // 3
        for i in range(n):
            x = self.blocks[3 * i + 1](self.blocks[3 * i](x, cond), cond)
            x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # nearest x2
            x = self.blocks[3 * i + 2](x)
            if i < n - 1:
                outs[f"block{i}"] = x
        outs["x_logits"] = x
        return outs

    def __call__(self, z):
        return self.activations(z)["x_logits"]


class TripodAutoencoder(nnx.Module):
    """`x -> z_c = tanh(encoder(x)) -> round -> decoder` with the decoder's activations exposed.

    `encode(x)` is the continuous `z_c`; `decoder_activations(z)` returns the named activations
    the Hessian penalty regularizes: `cond`, `block0..` of the authors' :class:`ResidualDecoder`,
    the hidden layers of an MLP decoder (their counterpart), or the output logits of another
    conv decoder (an option in the authors' config).
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
        if isinstance(self.decoder, ResidualDecoder):  # the authors' cond, block0..2
            acts = self.decoder.activations(z)
            del acts["x_logits"]
            return acts
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
    """A Tripod autoencoder on an MLP (`network="mlp"`, `hidden`) or conv net (`"conv"`;
    `architecture="residual"`: the authors' nets with stage widths `channels`)."""
    if network == "mlp":
        ae = mlp_autoencoder(input_shape, num_latents, hidden=hidden, rngs=rngs)
        enc, dec = ae.encoder, ae.decoder
    elif network == "conv" and architecture == "residual":  # the authors' nets
        shape = tuple(int(d) for d in input_shape)
        widths = tuple(channels) if channels else (32, 64, 128, 256)
        enc = ResidualEncoder(shape, num_latents, widths=widths, rngs=rngs)
        cond = 256 if channels is None else 2 * widths[-1]
        dec = ResidualDecoder(num_latents, shape, widths=widths, cond_size=cond, rngs=rngs)
    elif network == "conv":
        shape = tuple(int(d) for d in input_shape)
        arch = dict(architecture=architecture, channels=channels, dense=dense, depth=depth)
        enc = conv_encoder(shape, num_latents, **arch, rngs=rngs)
        dec = conv_decoder(num_latents, shape, **arch, rngs=rngs)
    else:
        raise ValueError(f"network must be 'mlp' or 'conv'; got {network!r}")
    return TripodAutoencoder(enc, TanhRoundQuantizer(num_latents, num_values), dec)

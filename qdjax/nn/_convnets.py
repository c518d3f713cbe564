"""Convolutional encoders and decoders for NHWC images (64x64xC by default).

Two architecture families:

* ``"qlae"`` -- the QLAE reference (Hsu et al. 2023). Encoder: `len(channels)` stages
  (default 32, 64, 128, 256), each `depth - 1` 3x3 stride-1 convs and one 4x4 stride-2
  conv, every conv followed by instance norm and LeakyReLU(0.2); then a ReLU MLP
  (default 256, 256) and a linear head. Decoder (:class:`StyleDecoder`, StyleGAN-like):
  a ReLU mapping MLP `z -> w`, a learned 4x4 constant (param `const`), per stage
  `depth - 1` 3x3 convs and one 4x4 stride-2 transposed conv (x2 upsampling), each
  followed by LeakyReLU, instance norm and AdaIN-style modulation
  `h * scale(w) + bias(w)` (an affine map of `w` per conv), then a 3x3 output conv.
  With 12 latents this has ~7.65 M parameters (encoder + decoder).
* ``"dlib"`` -- the disentanglement_lib conv net (Locatello et al. 2019): four 4x4
  stride-2 ReLU convs (32, 32, 64, 64), dense 256, linear head; the decoder mirrors it
  with dense 256, dense to `4x4x64` and four 4x4 stride-2 transposed convs.

`dtype` sets the compute dtype (e.g. `jnp.bfloat16`); parameters stay float32,
normalization statistics are computed in float32 and every module returns float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from qdjax._src.typing import Array

ARCHITECTURES = ("qlae", "dlib")


def instance_norm(x: Array, *, eps: float = 1e-6) -> Array:
    """Normalizes every channel of every example over its spatial axes (NHWC), in float32.

    .. math:: \\hat h_{bhwc} = (h_{bhwc} - \\mu_{bc}) / \\sqrt{\\sigma^2_{bc} + \\epsilon}
    """
    h = x.astype(jnp.float32)
    mean = jnp.mean(h, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(h - mean), axis=(1, 2), keepdims=True)
    return ((h - mean) * jax.lax.rsqrt(var + eps)).astype(x.dtype)


class InstanceNorm(nnx.Module):
    """Instance norm with a learned per-channel affine (params `scale` and `bias`)."""

    def __init__(self, num_features: int, *, eps: float = 1e-6):
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.eps = eps

    def __call__(self, x: Array) -> Array:
        h = instance_norm(x, eps=self.eps)
        scale = self.scale[...].astype(h.dtype)[None, None, None, :]
        return h * scale + self.bias[...].astype(h.dtype)[None, None, None, :]


def _check_image(x: Array, size: tuple[int, int, int], name: str) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != size:
        raise ValueError(
            f"{name}: expected NHWC images [batch, {', '.join(map(str, size))}]; got {x.shape}"
        )


def _stage_convs(depth: int) -> list[tuple[int, int]]:
    """(kernel, stride) of the convs of one stage: `depth - 1` 3x3/1 then one 4x4/2."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1; got {depth}")
    return [(3, 1)] * (depth - 1) + [(4, 2)]


def _spatial(image_size: int, num_stages: int, name: str) -> int:
    if image_size % (2**num_stages):
        raise ValueError(
            f"{name}: image size {image_size} must be divisible by 2**{num_stages} "
            f"(one halving per stage)"
        )
    return image_size // 2**num_stages


class ConvEncoder(nnx.Module):
    """Strided conv stack + MLP head: `[batch, H, W, C] -> [batch, out_features]`.

    Args:
      input_shape: `(H, W, C)`.
      out_features: output width (`num_latents`, or `2 * num_latents` for a VAE).
      channels: output channels of each stage (each stage halves H and W).
      depth: convs per stage (`depth - 1` 3x3 stride 1, then 4x4 stride 2).
      dense: widths of the ReLU MLP between the flattened features and the head.
      norm: instance norm with learned affine after every conv.
      negative_slope: LeakyReLU slope after every conv (0 gives ReLU).
      dtype: compute dtype.
      rngs: NNX random streams.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        out_features: int,
        *,
        channels: Sequence[int] = (32, 64, 128, 256),
        depth: int = 3,
        dense: Sequence[int] = (256, 256),
        norm: bool = True,
        negative_slope: float = 0.2,
        dtype=None,
        rngs: nnx.Rngs,
    ):
        h, w, c = (int(d) for d in input_shape)
        self.input_shape = (h, w, c)
        sh, sw = (
            _spatial(h, len(channels), "ConvEncoder"),
            _spatial(w, len(channels), "ConvEncoder"),
        )
        convs, norms = [], []
        for out in channels:
            for kernel, stride in _stage_convs(depth):
                convs.append(
                    nnx.Conv(
                        c,
                        out,
                        (kernel, kernel),
                        (stride, stride),
                        padding=((1, 1), (1, 1)),
                        dtype=dtype,
                        rngs=rngs,
                    )
                )
                norms.append(InstanceNorm(out) if norm else None)
                c = out
        self.convs = nnx.List(convs)
        self.norms = nnx.List(norms)
        widths = [sh * sw * c, *dense]
        self.dense = nnx.List(
            [nnx.Linear(a, b, dtype=dtype, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.head = nnx.Linear(widths[-1], out_features, dtype=dtype, rngs=rngs)
        self.negative_slope = negative_slope
        self.dtype = dtype

    def __call__(self, x: Array) -> Array:
        _check_image(x, self.input_shape, "ConvEncoder")
        h = x if self.dtype is None else x.astype(self.dtype)
        for conv, norm in zip(self.convs, self.norms):
            h = conv(h)
            if norm is not None:
                h = norm(h)
            h = jax.nn.leaky_relu(h, self.negative_slope)
        h = h.reshape(h.shape[0], -1)
        for layer in self.dense:
            h = jax.nn.relu(layer(h))
        return self.head(h).astype(jnp.float32)


class _StyleConv(nnx.Module):
    """conv (or x2 transposed conv) -> LeakyReLU -> instance norm -> `h * scale(w) + bias(w)`."""

    def __init__(self, c_in, c_out, kernel, stride, w_size, *, negative_slope, dtype, rngs):
        cls = nnx.ConvTranspose if stride > 1 else nnx.Conv
        self.conv = cls(
            c_in, c_out, (kernel, kernel), (stride, stride), padding="SAME", dtype=dtype, rngs=rngs
        )
        self.style = nnx.Linear(w_size, 2 * c_out, dtype=dtype, rngs=rngs)
        self.negative_slope = negative_slope

    def __call__(self, h: Array, w: Array) -> Array:
        h = instance_norm(jax.nn.leaky_relu(self.conv(h), self.negative_slope))
        scale, bias = jnp.split(self.style(w).astype(h.dtype), 2, axis=-1)
        return h * (1.0 + scale[:, None, None, :]) + bias[:, None, None, :]


class StyleDecoder(nnx.Module):
    """StyleGAN-like decoder: `[batch, num_latents] -> [batch, H, W, C]` (QLAE reference).

    .. math::
        w = \\mathrm{MLP}(z), \\quad h_0 = \\mathrm{const}, \\quad
        h_{k+1} = \\mathrm{IN}(\\phi(\\mathrm{conv}_k(h_k))) \\odot (1 + a_k(w)) + b_k(w),
        \\quad \\hat x = \\mathrm{conv}_{out}(h_K)

    Args:
      num_latents: latent width.
      output_shape: `(H, W, C)`.
      channels: channels of each stage; each stage doubles H and W, starting from
        `H / 2**len(channels)` (4 for 64x64 with 4 stages).
      depth: convs per stage (`depth - 1` 3x3, then one 4x4 stride-2 transposed conv).
      mapping: widths of the ReLU mapping MLP (its output `w` conditions every conv).
      negative_slope: LeakyReLU slope.
      dtype: compute dtype.
      rngs: NNX random streams.
    """

    def __init__(
        self,
        num_latents: int,
        output_shape: Sequence[int],
        *,
        channels: Sequence[int] = (256, 128, 64, 32),
        depth: int = 3,
        mapping: Sequence[int] = (256, 256),
        negative_slope: float = 0.2,
        dtype=None,
        rngs: nnx.Rngs,
    ):
        h, w, c = (int(d) for d in output_shape)
        self.output_shape = (h, w, c)
        sh, sw = (
            _spatial(h, len(channels), "StyleDecoder"),
            _spatial(w, len(channels), "StyleDecoder"),
        )
        widths = [num_latents, *mapping]
        self.mapping = nnx.List(
            [nnx.Linear(a, b, dtype=dtype, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        c_in = channels[0]
        self.const = nnx.Param(jax.random.normal(rngs.params(), (sh, sw, c_in), jnp.float32))
        blocks = []
        for out in channels:
            for kernel, stride in _stage_convs(depth):
                blocks.append(
                    _StyleConv(
                        c_in,
                        out,
                        kernel,
                        stride,
                        widths[-1],
                        negative_slope=negative_slope,
                        dtype=dtype,
                        rngs=rngs,
                    )
                )
                c_in = out
        self.blocks = nnx.List(blocks)
        self.out = nnx.Conv(c_in, c, (3, 3), padding="SAME", dtype=dtype, rngs=rngs)
        self.num_latents = num_latents
        self.dtype = dtype

    def __call__(self, z: Array) -> Array:
        if z.ndim != 2 or z.shape[-1] != self.num_latents:
            raise ValueError(f"StyleDecoder: expected z [batch, {self.num_latents}]; got {z.shape}")
        w = z if self.dtype is None else z.astype(self.dtype)
        for layer in self.mapping:
            w = jax.nn.relu(layer(w))
        const = self.const[...].astype(w.dtype)
        h = jnp.broadcast_to(const[None], (z.shape[0], *const.shape))
        for block in self.blocks:
            h = block(h, w)
        return self.out(h).astype(jnp.float32)


class DeconvDecoder(nnx.Module):
    """disentanglement_lib decoder: MLP -> reshape -> x2 transposed convs to `[batch, H, W, C]`.

    Args:
      num_latents: latent width.
      output_shape: `(H, W, C)`.
      channels: the *encoder's* stage channels (default 32, 32, 64, 64); the decoder
        reshapes to `channels[-1]` maps and its transposed convs output
        `reversed(channels)[1:]` and finally `C` channels.
      dense: widths of the ReLU MLP before the reshape.
      dtype: compute dtype.
      rngs: NNX random streams.
    """

    def __init__(
        self,
        num_latents: int,
        output_shape: Sequence[int],
        *,
        channels: Sequence[int] = (32, 32, 64, 64),
        dense: Sequence[int] = (256,),
        dtype=None,
        rngs: nnx.Rngs,
    ):
        h, w, c = (int(d) for d in output_shape)
        self.output_shape = (h, w, c)
        n = len(channels)
        self.start = (
            _spatial(h, n, "DeconvDecoder"),
            _spatial(w, n, "DeconvDecoder"),
            channels[-1],
        )
        widths = [num_latents, *dense, self.start[0] * self.start[1] * self.start[2]]
        self.dense = nnx.List(
            [nnx.Linear(a, b, dtype=dtype, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        outs = [*reversed(channels[:-1]), c]
        ins = [channels[-1], *reversed(channels[:-1])]
        self.deconvs = nnx.List(
            [
                nnx.ConvTranspose(a, b, (4, 4), (2, 2), padding="SAME", dtype=dtype, rngs=rngs)
                for a, b in zip(ins, outs)
            ]
        )
        self.num_latents = num_latents
        self.dtype = dtype

    def __call__(self, z: Array) -> Array:
        if z.ndim != 2 or z.shape[-1] != self.num_latents:
            raise ValueError(
                f"DeconvDecoder: expected z [batch, {self.num_latents}]; got {z.shape}"
            )
        h = z if self.dtype is None else z.astype(self.dtype)
        for layer in self.dense:
            h = jax.nn.relu(layer(h))
        h = h.reshape(h.shape[0], *self.start)
        for i, deconv in enumerate(self.deconvs):
            h = deconv(h)
            if i < len(self.deconvs) - 1:
                h = jax.nn.relu(h)
        return h.astype(jnp.float32)


def conv_encoder(
    input_shape: Sequence[int],
    out_features: int,
    *,
    architecture: str = "qlae",
    channels: Sequence[int] | None = None,
    dense: Sequence[int] | None = None,
    depth: int | None = None,
    dtype=None,
    rngs: nnx.Rngs,
) -> ConvEncoder:
    """The encoder of `architecture` ("qlae" or "dlib"); `None` widths take its defaults."""
    if architecture == "qlae":
        return ConvEncoder(
            input_shape,
            out_features,
            channels=(32, 64, 128, 256) if channels is None else tuple(channels),
            depth=3 if depth is None else depth,
            dense=(256, 256) if dense is None else tuple(dense),
            norm=True,
            negative_slope=0.2,
            dtype=dtype,
            rngs=rngs,
        )
    if architecture == "dlib":
        return ConvEncoder(
            input_shape,
            out_features,
            channels=(32, 32, 64, 64) if channels is None else tuple(channels),
            depth=1 if depth is None else depth,
            dense=(256,) if dense is None else tuple(dense),
            norm=False,
            negative_slope=0.0,
            dtype=dtype,
            rngs=rngs,
        )
    raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {architecture!r}")


def conv_decoder(
    num_latents: int,
    output_shape: Sequence[int],
    *,
    architecture: str = "qlae",
    channels: Sequence[int] | None = None,
    dense: Sequence[int] | None = None,
    depth: int | None = None,
    dtype=None,
    rngs: nnx.Rngs,
) -> StyleDecoder | DeconvDecoder:
    """The decoder of `architecture`, mirroring :func:`conv_encoder` with the same arguments.

    `channels` and `dense` are given in *encoder* order and reversed here, so one set of
    widths configures both halves.
    """
    if architecture == "qlae":
        return StyleDecoder(
            num_latents,
            output_shape,
            channels=tuple(reversed((32, 64, 128, 256) if channels is None else tuple(channels))),
            depth=3 if depth is None else depth,
            mapping=tuple(reversed((256, 256) if dense is None else tuple(dense))),
            dtype=dtype,
            rngs=rngs,
        )
    if architecture == "dlib":
        if depth not in (None, 1):
            raise ValueError(
                f"the 'dlib' decoder has one transposed conv per stage; got depth={depth}"
            )
        return DeconvDecoder(
            num_latents,
            output_shape,
            channels=(32, 32, 64, 64) if channels is None else tuple(channels),
            dense=tuple(reversed((256,) if dense is None else tuple(dense))),
            dtype=dtype,
            rngs=rngs,
        )
    raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {architecture!r}")

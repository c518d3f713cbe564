"""Convolutional encoders and decoders for NHWC images (64x64xC by default).

Three architecture families (:data:`ARCHITECTURES`):

* ``"qlae"`` -- QLAE exactly as published (Hsu et al. 2023; kylehkhsu/latent_quantization,
  `configs/{encoder,decoder}_partial/*image.yaml`). Encoder: `len(channels)` stages
  (default 32, 64, 128, 256), each `depth - 1` 3x3 stride-1 convs and one 4x4 stride-2
  conv, all without bias, every conv followed by instance norm (learned affine) and
  LeakyReLU(0.2); then a ReLU MLP (default 256, 256) and a linear head. Decoder
  (:class:`StyleDecoder`, StyleGAN-like): a ReLU mapping MLP `z -> w`, a learned 4x4
  constant initialized to `0.1` (param `const`), per stage `depth - 1` 3x3 convs and one
  4x4 stride-2 transposed conv (x2 upsampling), all without bias, each followed by
  LeakyReLU, instance norm (no affine) and the style modulation `h * s + b` with
  `(s, b) = ReLU(Linear(w))`, then a bias-free 3x3 output conv. Weights (and the Linear
  biases) are initialized uniform in `+-1/sqrt(fan_in)` as in Equinox. With 12 latents x 10
  values this has exactly 7,651,780 parameters (quantizer included).
* ``"qlae_legacy"`` -- the variant qdjax shipped before: conv biases, style applied as
  `h * (1 + s) + b` with a plain Linear, a normal-initialized constant, Flax's default
  initializers (7,654,663 parameters at the same config). Its checkpoints restore under it.
* ``"dlib"`` -- the disentanglement_lib conv net (Locatello et al. 2019): four 4x4
  stride-2 ReLU convs (32, 32, 64, 64), dense 256, linear head; the decoder mirrors it
  with dense 256, dense to `4x4x64` and four 4x4 stride-2 transposed convs.

Every 4x4 stride-2 transposed conv is a :class:`ConvTranspose2x`: the same parameters as
`nnx.ConvTranspose(..., (4, 4), (2, 2), padding="SAME")`, computed by default as the exact
sub-pixel form (one 3x3 conv to `4 * C_out` channels, then depth-to-space).

`dtype` sets the compute dtype (e.g. `jnp.bfloat16`); parameters stay float32,
normalization statistics are computed in float32 and every module returns float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qdjax._src.typing import Array

ARCHITECTURES = ("qlae", "qlae_legacy", "dlib")


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


# --------------------------------------------------------- x2 transposed conv, sub-pixel

# `nnx.ConvTranspose(c_in, c_out, (4, 4), (2, 2), padding="SAME")` computes, per spatial
# axis, y[2m + r] = sum_k x[(2m + r + k - 2) / 2] W[k] over the k with (r + k) even: phase
# r = 0 reads x[m - 1] W[0] + x[m] W[2], phase r = 1 reads x[m] W[1] + x[m + 1] W[3]. A 3x3
# SAME conv reads x[m - 1], x[m], x[m + 1] at taps t = 0, 1, 2, so the two phases are one 3x3
# conv whose tap t of phase r is W[2t - r] (zero outside 0..3). _TAPS[t, r] indexes the
# kernel padded by one zero on each side (index 2t - r + 1).
_TAPS = np.array([[1, 0], [3, 2], [5, 4]], dtype=np.int32)  # int32 whatever jax_enable_x64 says

CONV_TRANSPOSE_IMPLS = ("auto", "subpixel", "transpose")
# Fastest implementation per backend, measured (benchmarks/results/README.md, "Sub-pixel
# transposed convolution"): CPU 3.7-7.5x per layer for sub-pixel. GPU: not measured yet
# (benchmarks/gpu_suite.py measures both); sub-pixel needs 4x fewer FLOPs than the
# zero-dilated form, so it is the default there too until a measurement says otherwise.
FASTEST_CONV_TRANSPOSE = {"cpu": "subpixel", "gpu": "subpixel", "tpu": "subpixel"}


def subpixel_kernel(kernel: Array) -> Array:
    """Rearranges a `[4, 4, C_in, C_out]` x2 transposed-conv kernel to `[3, 3, C_in, 4 C_out]`.

    Output channel `(2 r_y + r_x) C_out + c` of the 3x3 conv is output pixel
    `(2 m + r_y, 2 n + r_x)`, channel `c`, of the transposed conv (see :func:`depth_to_space`).
    """
    if kernel.ndim != 4 or kernel.shape[:2] != (4, 4):
        raise ValueError(
            f"subpixel_kernel: expected a [4, 4, C_in, C_out] kernel; got {kernel.shape}"
        )
    c_in, c_out = kernel.shape[2:]
    padded = jnp.pad(kernel, ((1, 1), (1, 1), (0, 0), (0, 0)))
    k = padded[_TAPS][:, :, _TAPS]  # [t_y, r_y, t_x, r_x, C_in, C_out]
    return jnp.transpose(k, (0, 2, 4, 1, 3, 5)).reshape(3, 3, c_in, 4 * c_out)


def depth_to_space(h: Array) -> Array:
    """`[B, H, W, 4 C]` with channels ordered `(r_y, r_x, c)` -> `[B, 2 H, 2 W, C]`."""
    b, hh, ww, c4 = h.shape
    c = c4 // 4
    h = h.reshape(b, hh, ww, 2, 2, c)
    return jnp.transpose(h, (0, 1, 3, 2, 4, 5)).reshape(b, 2 * hh, 2 * ww, c)


def subpixel_conv_transpose(x: Array, kernel: Array, bias: Array | None = None) -> Array:
    """Exactly `lax.conv_transpose(x, kernel, (2, 2), "SAME")` for a 4x4 kernel, as a 3x3 conv.

    The plain form convolves the kernel with a zero-dilated input (3/4 of the products are
    with zeros); this one runs one 3x3 conv to `4 C_out` channels on the undilated input and
    interleaves the four phases (depth-to-space). Same parameters, same outputs (to float
    rounding), 4x fewer FLOPs.

    Args:
      x: `[batch, H, W, C_in]`.
      kernel: `[4, 4, C_in, C_out]` (the `kernel` of an `nnx.ConvTranspose`).
      bias: optional `[C_out]`.

    Returns:
      `[batch, 2 H, 2 W, C_out]`.
    """
    y = jax.lax.conv_general_dilated(
        x,
        subpixel_kernel(kernel),
        window_strides=(1, 1),
        padding=((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    y = depth_to_space(y)
    return y if bias is None else y + bias[None, None, None, :]


def _resolve_impl(impl: str) -> str:
    if impl == "auto":
        return FASTEST_CONV_TRANSPOSE.get(jax.default_backend(), "subpixel")
    return impl


class ConvTranspose2x(nnx.ConvTranspose):
    """`nnx.ConvTranspose(c_in, c_out, (4, 4), (2, 2), padding="SAME")`, same parameters
    (`kernel [4, 4, c_in, c_out]`, optional `bias`), computed by `impl`:

    * ``"subpixel"`` -- :func:`subpixel_conv_transpose` (exact; a 3x3 conv + depth-to-space);
    * ``"transpose"`` -- Flax's `lax.conv_transpose` on the zero-dilated input;
    * ``"auto"`` (default) -- the faster of the two on the current backend
      (:data:`FASTEST_CONV_TRANSPOSE`).

    Checkpoints of either form (and of a plain `nnx.ConvTranspose`) are interchangeable.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        use_bias: bool = True,
        impl: str = "auto",
        dtype=None,
        rngs: nnx.Rngs,
        **kwargs,
    ):
        if impl not in CONV_TRANSPOSE_IMPLS:
            raise ValueError(f"impl must be one of {CONV_TRANSPOSE_IMPLS}; got {impl!r}")
        super().__init__(
            in_features,
            out_features,
            (4, 4),
            (2, 2),
            padding="SAME",
            use_bias=use_bias,
            dtype=dtype,
            rngs=rngs,
            **kwargs,
        )
        self.impl = impl

    def __call__(self, x: Array) -> Array:
        if _resolve_impl(self.impl) == "transpose":
            return super().__call__(x)
        bias = self.bias[...] if self.bias is not None else None
        x, kernel, bias = self.promote_dtype((x, self.kernel[...], bias), dtype=self.dtype)
        return subpixel_conv_transpose(x, kernel, bias)


def _uniform_fan_in(key, shape, dtype=jnp.float32):
    """Equinox's default init: uniform in `+-1/sqrt(fan_in)` (fan_in = all but the last axis)."""
    lim = 1.0 / math.sqrt(math.prod(shape[:-1]))
    return jax.random.uniform(key, shape, dtype, -lim, lim)


def _linear(a: int, b: int, *, published: bool, dtype, rngs: nnx.Rngs) -> nnx.Linear:
    """`nnx.Linear(a, b)`; `published` initializes weight and bias uniform in `+-1/sqrt(a)`."""
    if not published:
        return nnx.Linear(a, b, dtype=dtype, rngs=rngs)
    lim = 1.0 / math.sqrt(a)

    def bias_init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -lim, lim)

    return nnx.Linear(
        a, b, kernel_init=_uniform_fan_in, bias_init=bias_init, dtype=dtype, rngs=rngs
    )


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
      conv_bias: whether the convs carry a bias (the published QLAE's do not).
      published_init: Equinox's uniform `+-1/sqrt(fan_in)` initialization (weights and the
        Linear biases) instead of Flax's defaults.
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
        conv_bias: bool = True,
        published_init: bool = False,
        dtype=None,
        rngs: nnx.Rngs,
    ):
        h, w, c = (int(d) for d in input_shape)
        self.input_shape = (h, w, c)
        sh, sw = (
            _spatial(h, len(channels), "ConvEncoder"),
            _spatial(w, len(channels), "ConvEncoder"),
        )
        init = {"kernel_init": _uniform_fan_in} if published_init else {}
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
                        use_bias=conv_bias,
                        dtype=dtype,
                        rngs=rngs,
                        **init,
                    )
                )
                norms.append(InstanceNorm(out) if norm else None)
                c = out
        self.convs = nnx.List(convs)
        self.norms = nnx.List(norms)
        widths = [sh * sw * c, *dense]
        lin = dict(published=published_init, dtype=dtype, rngs=rngs)
        self.dense = nnx.List([_linear(a, b, **lin) for a, b in zip(widths[:-1], widths[1:])])
        self.head = _linear(widths[-1], out_features, **lin)
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


STYLES = ("published", "legacy")


class _StyleConv(nnx.Module):
    """conv (or x2 transposed conv) -> LeakyReLU -> instance norm -> style modulation.

    `style="published"`: `(s, b) = ReLU(Linear(w))`, `h * s + b`, convs without bias.
    `style="legacy"`: `(s, b) = Linear(w)`, `h * (1 + s) + b`, convs with bias.
    """

    def __init__(self, c_in, c_out, kernel, stride, w_size, *, style, negative_slope, dtype, rngs):
        published = style == "published"
        init = {"kernel_init": _uniform_fan_in} if published else {}
        if stride > 1:
            self.conv = ConvTranspose2x(
                c_in, c_out, use_bias=not published, dtype=dtype, rngs=rngs, **init
            )
        else:
            self.conv = nnx.Conv(
                c_in,
                c_out,
                (kernel, kernel),
                (stride, stride),
                padding="SAME",
                use_bias=not published,
                dtype=dtype,
                rngs=rngs,
                **init,
            )
        self.style = _linear(w_size, 2 * c_out, published=published, dtype=dtype, rngs=rngs)
        self.published = published
        self.negative_slope = negative_slope

    def __call__(self, h: Array, w: Array) -> Array:
        h = instance_norm(jax.nn.leaky_relu(self.conv(h), self.negative_slope))
        s = self.style(w).astype(h.dtype)
        if self.published:
            s = jax.nn.relu(s)
        scale, bias = jnp.split(s, 2, axis=-1)
        if not self.published:
            scale = 1.0 + scale
        return h * scale[:, None, None, :] + bias[:, None, None, :]


class StyleDecoder(nnx.Module):
    """StyleGAN-like decoder: `[batch, num_latents] -> [batch, H, W, C]` (QLAE).

    .. math::
        w = \\mathrm{MLP}(z), \\quad h_0 = \\mathrm{const}, \\quad
        h_{k+1} = \\mathrm{IN}(\\phi(\\mathrm{conv}_k(h_k))) \\odot s_k(w) + b_k(w),
        \\quad \\hat x = \\mathrm{conv}_{out}(h_K)

    with `(s_k, b_k) = ReLU(A_k w + c_k)` (published) or `(1 + s_k, b_k) = (1 + A_k w + c_k)`
    (legacy).

    Args:
      num_latents: latent width.
      output_shape: `(H, W, C)`.
      channels: channels of each stage; each stage doubles H and W, starting from
        `H / 2**len(channels)` (4 for 64x64 with 4 stages).
      depth: convs per stage (`depth - 1` 3x3, then one 4x4 stride-2 transposed conv).
      mapping: widths of the ReLU mapping MLP (its output `w` conditions every conv).
      negative_slope: LeakyReLU slope.
      style: `"published"` (the authors' model: no conv biases, ReLU style applied as
        `h * s + b`, constant `0.1`, uniform fan-in init) or `"legacy"` (see module doc).
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
        style: str = "published",
        dtype=None,
        rngs: nnx.Rngs,
    ):
        if style not in STYLES:
            raise ValueError(f"StyleDecoder: style must be one of {STYLES}; got {style!r}")
        published = style == "published"
        h, w, c = (int(d) for d in output_shape)
        self.output_shape = (h, w, c)
        sh, sw = (
            _spatial(h, len(channels), "StyleDecoder"),
            _spatial(w, len(channels), "StyleDecoder"),
        )
        widths = [num_latents, *mapping]
        lin = dict(published=published, dtype=dtype, rngs=rngs)
        self.mapping = nnx.List([_linear(a, b, **lin) for a, b in zip(widths[:-1], widths[1:])])
        c_in = channels[0]
        if published:
            const = jnp.full((sh, sw, c_in), 0.1, jnp.float32)
        else:
            const = jax.random.normal(rngs.params(), (sh, sw, c_in), jnp.float32)
        self.const = nnx.Param(const)
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
                        style=style,
                        negative_slope=negative_slope,
                        dtype=dtype,
                        rngs=rngs,
                    )
                )
                c_in = out
        init = {"kernel_init": _uniform_fan_in} if published else {}
        self.out = nnx.Conv(
            c_in, c, (3, 3), padding="SAME", use_bias=not published, dtype=dtype, rngs=rngs, **init
        )
        self.blocks = nnx.List(blocks)
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
            [ConvTranspose2x(a, b, dtype=dtype, rngs=rngs) for a, b in zip(ins, outs)]
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


def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {architecture!r}")


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
    """The encoder of `architecture` (:data:`ARCHITECTURES`); `None` widths take its defaults."""
    _check_architecture(architecture)
    if architecture in ("qlae", "qlae_legacy"):
        published = architecture == "qlae"
        return ConvEncoder(
            input_shape,
            out_features,
            channels=(32, 64, 128, 256) if channels is None else tuple(channels),
            depth=3 if depth is None else depth,
            dense=(256, 256) if dense is None else tuple(dense),
            norm=True,
            negative_slope=0.2,
            conv_bias=not published,
            published_init=published,
            dtype=dtype,
            rngs=rngs,
        )
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
    _check_architecture(architecture)
    if architecture in ("qlae", "qlae_legacy"):
        return StyleDecoder(
            num_latents,
            output_shape,
            channels=tuple(reversed((32, 64, 128, 256) if channels is None else tuple(channels))),
            depth=3 if depth is None else depth,
            mapping=tuple(reversed((256, 256) if dense is None else tuple(dense))),
            style="published" if architecture == "qlae" else "legacy",
            dtype=dtype,
            rngs=rngs,
        )
    if depth not in (None, 1):
        raise ValueError(f"the 'dlib' decoder has one transposed conv per stage; got depth={depth}")
    return DeconvDecoder(
        num_latents,
        output_shape,
        channels=(32, 32, 64, 64) if channels is None else tuple(channels),
        dense=tuple(reversed((256,) if dense is None else tuple(dense))),
        dtype=dtype,
        rngs=rngs,
    )

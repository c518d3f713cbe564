"""Additive decoders: the reconstruction is a sum of per-block decoders (Lachapelle et al. 2023).

`x_hat = sum_b f_b(z_{B_b})` over a partition of the latents into contiguous blocks of
`block_size`; each `f_b` is an MLP. This is the Cliff paper's additive-decoder baseline
(reference code: divyat09/additive_decoder_extrapolation). Only the MLP version is provided.
"""

from __future__ import annotations

from collections.abc import Sequence

from flax import nnx

from qdjax._src.typing import Array
from qdjax.nn._autoencoders import Autoencoder, mlp_autoencoder
from qdjax.nn._mlp import MLP


class AdditiveDecoder(nnx.Module):
    """`z: [batch, num_latents] -> sum_b MLP_b(z[:, block b])`, reshaped to `output_shape`."""

    def __init__(
        self,
        num_latents: int,
        output_shape: Sequence[int],
        *,
        block_size: int = 1,
        hidden: Sequence[int] = (256, 256),
        rngs: nnx.Rngs,
    ):
        if block_size < 1 or num_latents % block_size:
            raise ValueError(
                f"block_size must divide num_latents ({num_latents}); got {block_size}"
            )
        self.output_shape = tuple(int(d) for d in output_shape)
        flat = 1
        for d in self.output_shape:
            flat *= d
        self.block_size = int(block_size)
        self.blocks = nnx.List(
            [
                MLP(block_size, tuple(hidden), flat, rngs=rngs)
                for _ in range(num_latents // block_size)
            ]
        )

    def __call__(self, z: Array) -> Array:
        out = 0.0
        for b, mlp in enumerate(self.blocks):  # a few blocks: unrolled on purpose
            out = out + mlp(z[:, b * self.block_size : (b + 1) * self.block_size])
        return out.reshape(z.shape[0], *self.output_shape)


def additive_autoencoder(
    input_shape: Sequence[int],
    num_latents: int,
    *,
    block_size: int = 1,
    hidden: Sequence[int] = (256, 256),
    rngs: nnx.Rngs,
) -> Autoencoder:
    """An MLP encoder with an :class:`AdditiveDecoder` (decoder widths mirror `hidden`)."""
    enc = mlp_autoencoder(input_shape, num_latents, hidden=hidden, rngs=rngs).encoder
    dec = AdditiveDecoder(
        num_latents, input_shape, block_size=block_size, hidden=tuple(reversed(hidden)), rngs=rngs
    )
    return Autoencoder(enc, dec)

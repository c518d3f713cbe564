"""Multilayer perceptrons for vector data."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from qdjax._src.typing import Array


class MLP(nnx.Module):
    """Dense network `in -> hidden... -> out` with LeakyReLU between layers.

    Args:
      in_features: input width.
      hidden: widths of the hidden layers (may be empty: a single linear map).
      out_features: output width (no activation on the output).
      negative_slope: LeakyReLU slope.
      rngs: NNX random streams for initialization.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        negative_slope: float = 0.2,
        dtype=None,
        rngs: nnx.Rngs,
    ):
        widths = [in_features, *hidden, out_features]
        bad = [w for w in widths if isinstance(w, bool) or int(w) != w or w < 1]
        if bad:
            raise ValueError(
                f"MLP widths must be integers >= 1; got in_features={in_features}, "
                f"hidden={tuple(hidden)}, out_features={out_features}"
            )
        self.layers = nnx.List(
            [nnx.Linear(a, b, dtype=dtype, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.negative_slope = negative_slope

    def __call__(self, x: Array) -> Array:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = jax.nn.leaky_relu(x, self.negative_slope)
        return x


def flatten_batch(x: Array) -> Array:
    """`[batch, ...] -> [batch, prod(...)]`."""
    return jnp.reshape(x, (x.shape[0], -1))

"""Flax NNX modules: encoders, decoders, autoencoders and quantizers."""

from qdjax.nn._autoencoders import VAE, Autoencoder, AutoencoderOutput, mlp_autoencoder
from qdjax.nn._mlp import MLP

__all__ = [
    "MLP",
    "VAE",
    "Autoencoder",
    "AutoencoderOutput",
    "mlp_autoencoder",
]

"""Pure loss kernels: arrays in, arrays out (no flax, no configs)."""

from qdjax.losses._reconstruction import bernoulli_nll, squared_error
from qdjax.losses._vae import gaussian_kl, gaussian_sample

__all__ = [
    "bernoulli_nll",
    "gaussian_kl",
    "gaussian_sample",
    "squared_error",
]

"""qdjax: identifiable, quantized disentanglement in JAX/Flax.

`import qdjax as qd`; subpackages: `qd.losses` (pure kernels), `qd.nn` (NNX modules),
`qd.metrics` (host-side metrics), `qd.data` (datasets), `qd.train` (engine), `qd.methods`
(the method registry).
"""

from qdjax import data, identifiability, losses, methods, metrics, nn, train

__version__ = "0.1.0"

__all__ = [
    "data",
    "identifiability",
    "losses",
    "methods",
    "metrics",
    "nn",
    "train",
    "__version__",
]

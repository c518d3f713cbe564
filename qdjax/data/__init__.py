"""Datasets: synthetic generators and loaders yielding `Batch`es."""

from qdjax._src.typing import Batch
from qdjax.data._source import ArraySource, BatchSource
from qdjax.data._synthetic import (
    GridDensity,
    Mixing,
    SyntheticDataset,
    make_grid_density,
    make_mixing,
    make_synthetic,
)

__all__ = [
    "ArraySource",
    "Batch",
    "BatchSource",
    "GridDensity",
    "Mixing",
    "SyntheticDataset",
    "make_grid_density",
    "make_mixing",
    "make_synthetic",
]

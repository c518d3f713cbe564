"""Datasets: synthetic generators and loaders yielding `Batch`es."""

from qdjax._src.typing import Batch
from qdjax.data._balls import LARGE_RADIUS, SMALL_RADIUS, BallsSource, render_balls
from qdjax.data._balls import VARIANTS as BALL_VARIANTS
from qdjax.data._device_source import DeviceSource, ProceduralSource
from qdjax.data._factor_dataset import (
    SHAPES3D_FACTORS,
    SHAPES3D_SIZES,
    FactorImageDataset,
    data_dir,
    shapes3d,
)
from qdjax.data._images import SPECS as IMAGE_DATASETS
from qdjax.data._images import dsprites, falcor3d, isaac3d, load_image_dataset, mpi3d
from qdjax.data._mechanistic import (
    MechanisticDataset,
    MechanisticGenerator,
    make_mechanistic,
    make_mechanistic_generator,
)
from qdjax.data._shapes3d_render import Shapes3DRenderer, render_shapes3d
from qdjax.data._source import ArraySource, BatchSource
from qdjax.data._sparse_coding import (
    ICADataset,
    NpyFeatureSource,
    SparseCodingDataset,
    check_features,
    make_dictionary,
    make_ica,
    make_sparse_coding,
)
from qdjax.data._synthetic import (
    MIXING_KINDS,
    GridDensity,
    JumpSizes,
    Mixing,
    SyntheticDataset,
    make_grid_density,
    make_manhattan_reference,
    make_mixing,
    make_synthetic,
)
from qdjax.data._tfds import tfds_dataset

__all__ = [
    "MIXING_KINDS",
    "MechanisticDataset",
    "MechanisticGenerator",
    "make_mechanistic",
    "make_mechanistic_generator",
    "ICADataset",
    "NpyFeatureSource",
    "SparseCodingDataset",
    "check_features",
    "make_dictionary",
    "make_ica",
    "make_sparse_coding",
    "BALL_VARIANTS",
    "LARGE_RADIUS",
    "SMALL_RADIUS",
    "BallsSource",
    "render_balls",
    "SHAPES3D_FACTORS",
    "SHAPES3D_SIZES",
    "FactorImageDataset",
    "data_dir",
    "shapes3d",
    "DeviceSource",
    "IMAGE_DATASETS",
    "ProceduralSource",
    "Shapes3DRenderer",
    "dsprites",
    "falcor3d",
    "isaac3d",
    "load_image_dataset",
    "mpi3d",
    "render_shapes3d",
    "tfds_dataset",
    "ArraySource",
    "Batch",
    "BatchSource",
    "GridDensity",
    "JumpSizes",
    "make_manhattan_reference",
    "Mixing",
    "SyntheticDataset",
    "make_grid_density",
    "make_mixing",
    "make_synthetic",
]

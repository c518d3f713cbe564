"""The method registry: every method by name, with its model, objective and recipe.

    recipe = qd.methods.resolve("cliff", "synthetic", {"loss.regularizer_weight": 0.3})
    built = qd.methods.build(recipe, qd.methods.Architecture((2,), 2, "mlp", {"hidden": (64,)}))
    qd.train.train(built.modules, built.step, source, num_steps=..., workdir=...)

`recipe.to_json()` is what experiments write into results.json (`Recipe.from_json` reads it).
"""

from qdjax.methods import (  # noqa: F401  (register the methods)
    _axis_alignment,
    _catalog,
    _factor,
    _grid_flow,
    _tripod,
)
from qdjax.methods._grid_flow import fit_prior as grid_flow_fit_prior
from qdjax.methods._parts import schedule as warmup_schedule
from qdjax.methods._registry import (
    COMMON_DEFAULTS,
    DATASET_DEFAULTS,
    DATASETS,
    Architecture,
    Built,
    Method,
    Recipe,
    build,
    check_run_length,
    defaults,
    get,
    keys,
    names,
    register,
    resolve,
)

__all__ = [
    "COMMON_DEFAULTS",
    "DATASETS",
    "DATASET_DEFAULTS",
    "Architecture",
    "Built",
    "Method",
    "Recipe",
    "build",
    "check_run_length",
    "defaults",
    "get",
    "grid_flow_fit_prior",
    "keys",
    "names",
    "register",
    "resolve",
    "warmup_schedule",
]

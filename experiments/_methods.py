"""Methods in experiment configs: pick one by name, get its whole recipe from the registry.

An experiment's `get_config` calls :func:`add_recipe_fields`, which declares every setting of
every method that applies to its dataset (`loss.beta`, `loss.warmup_steps`, `train.batch_size`,
...) as an empty, typed placeholder. `--config.method=cliff` then brings Cliff's recipe
(`qdjax.methods.resolve`); any placeholder set on the command line (`--config.loss.beta=0.1`)
overrides that one setting. :func:`apply_recipe` does the resolution at the start of a run and
returns the config with every placeholder filled, plus the recipe for results.json.
"""

from __future__ import annotations

from typing import Any

import ml_collections
from absl import logging
from ml_collections import config_dict

from experiments._cli import ConfigError
from qdjax import methods


def add_recipe_fields(config: ml_collections.ConfigDict, dataset: str) -> None:
    """Declares every recipe key of `dataset`'s methods as an empty typed field of `config`."""
    for key, value in methods.keys(dataset).items():
        section, name = key.split(".")
        if section not in config:
            config[section] = ml_collections.ConfigDict()
        config[section][name] = config_dict.placeholder(type(value))


def overrides(config: ml_collections.ConfigDict, dataset: str) -> dict[str, Any]:
    """The recipe keys the user set (non-None fields of `config`)."""
    out = {}
    for key in methods.keys(dataset):
        section, name = key.split(".")
        value = config.get(section, {}).get(name)
        if value is not None:
            out[key] = value
    return out


def apply_recipe(
    config: ml_collections.ConfigDict,
    dataset: str,
    method: str,
    *,
    method_flag: str = "method",
    num_steps: int | None = None,
) -> tuple[ml_collections.ConfigDict, methods.Recipe]:
    """`(config with every recipe field filled, recipe)` of `method` on `dataset`.

    Fields the method does not use are filled with a neutral default so validation code can
    read them; one the user set explicitly keeps its value (and is validated) and is reported
    as ignored in a warning.

    Raises:
      ConfigError: unknown method (naming `--config.<method_flag>`), a setting of the wrong
        type (naming `--config.<key>`), or a run too short for the method's regularizer to
        switch on (naming `--config.train.num_steps`).
    """
    try:
        methods.get(method)
        methods.defaults(method, dataset)
    except ValueError as e:
        raise ConfigError(f"--config.{method_flag} {e}") from None
    user = overrides(config, dataset)
    own = methods.defaults(method, dataset)
    unused = sorted(k for k in user if k not in own)
    if unused:  # kept (and validated) but not part of this method: say so, once
        logging.warning(
            "method %r does not use %s; ignored (its settings: %s)",
            method,
            ", ".join(f"--config.{k}" for k in unused),
            ", ".join(sorted(own)),
        )
    try:
        recipe = methods.resolve(method, dataset, {k: v for k, v in user.items() if k in own})
    except (TypeError, ValueError) as e:  # "<method>: <key> must be ...": name the flag
        raise ConfigError(f"--config.{str(e).split(': ', 1)[-1]}") from None
    if num_steps is not None:
        try:
            methods.check_run_length(recipe, num_steps)
        except ValueError as e:
            raise ConfigError(f"--config.train.num_steps is too short: {e}") from None
    filled = ml_collections.ConfigDict(config.to_dict())  # an unlocked copy
    for key, value in {**methods.keys(dataset), **user, **recipe.values}.items():
        section, name = key.split(".")
        filled[section][name] = value
    return filled, recipe

"""The method registry: name -> model factory, objective, optimizer recipe, per-dataset defaults.

A :class:`Method` is data plus one `build` function. Its hyperparameters live in one flat
namespace of dotted keys grouped by section (`model.*` what the factory takes, `loss.*` the
term weights and schedules, `train.*` the optimizer and batch size), with generic defaults
and per-dataset overrides taken from the authors' configurations. :func:`resolve` layers

    common defaults < dataset defaults < method defaults < method's dataset defaults < overrides

into a :class:`Recipe` (plain data, written into `results.json`), and :func:`build` turns a
recipe and an :class:`Architecture` (the experiment's network size) into the modules and the
train step the engine runs. Compare `optax/_src/alias.py`: named recipes from shared parts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

# Data kind of every known dataset: "vector" data gets MLP networks, "image" data conv nets.
DATASETS: dict[str, str] = {
    "synthetic": "vector",
    "balls": "image",
    "shapes3d": "image",
    "mpi3d": "image",
    "dsprites": "image",
    "falcor3d": "image",
    "isaac3d": "image",
}

# Keys every method has (the reconstruction and the optimizer), then per-dataset values.
COMMON_DEFAULTS: dict[str, Any] = {
    "loss.likelihood": "gaussian",  # "gaussian" (summed squared error) | "bernoulli" (logits)
    # "sum": per-example sums (vector data); "mean": reconstruction averaged over elements and
    # codebook terms over latents, KL/TC over elements (the QLAE reference on images).
    "loss.reduction": "sum",
    "loss.reconstruction_weight": 1.0,
    "train.batch_size": 256,
    "train.learning_rate": 1e-3,
    "train.weight_decay": 1e-4,  # AdamW on weights (never on biases, norms, codebooks)
    "train.clip_value": 0.0,  # element-wise gradient clipping; 0 = none
}
_IMAGE = {"loss.likelihood": "bernoulli", "loss.reduction": "mean", "train.batch_size": 64}
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    name: (dict(_IMAGE) if kind == "image" else {}) for name, kind in DATASETS.items()
}
DATASET_DEFAULTS["balls"]["train.batch_size"] = 32  # the CPU-sized Balls experiment


class Architecture(NamedTuple):
    """The network an experiment asks for; the method picks the model family around it.

    Attributes:
      input_shape: one example's shape (no batch axis): `(dim,)` or `(H, W, C)`.
      num_latents: latent width.
      network: `"mlp"` (keyword `hidden`) or `"conv"` (keywords `architecture`, `channels`,
        `dense`, `depth` of `qdjax.nn.conv_encoder`).
      options: those keywords.
      dataset_size: number of training examples (β-TCVAE's estimator needs it).
    """

    input_shape: tuple[int, ...]
    num_latents: int
    network: str = "mlp"
    options: Mapping[str, Any] = {}
    dataset_size: int = 0


class Built(NamedTuple):
    """What :func:`build` returns: `train(modules, step, source, ...)` runs it.

    Attributes:
      model: the model (also `modules[0]`); evaluation reads `model.encode(x)`.
      modules: the NNX modules the engine splits once (model first, then its optimizers).
      step: `step(graphdef, state, batch, key) -> (state, aux)`.
      objective: `objective(model, batch, key, step) -> (loss, aux)` that `step` minimizes,
        for methods trained on one objective (None for adversarial ones): restarts are ranked
        by it (`experiments.synthetic`'s `train.restarts`).
    """

    model: Any
    modules: tuple
    step: Callable
    objective: Callable | None = None


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A method's fully resolved settings for one dataset (plain data; see :func:`resolve`).

    Attributes:
      method: registry name.
      dataset: dataset name the defaults were taken for.
      values: every dotted key with its value.
      overridden: keys whose value came from the caller's overrides.
      reference: where the defaults come from (paper and code).
    """

    method: str
    dataset: str
    values: Mapping[str, Any]
    overridden: tuple[str, ...] = ()
    reference: str = ""

    def __getitem__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(
                f"recipe of {self.method!r} has no key {key!r}; keys: {sorted(self.values)}"
            ) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def section(self, name: str) -> dict[str, Any]:
        """`{short_name: value}` of the keys `name.*`."""
        pre = name + "."
        return {k[len(pre) :]: v for k, v in self.values.items() if k.startswith(pre)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recipe:
        """The recipe that :meth:`to_json` wrote (e.g. a run's `results.json["recipe"]`)."""
        meta = ("method", "dataset", "overridden", "reference")
        missing = [k for k in ("method", "dataset") if k not in data]
        if missing:
            raise ValueError(f"not a recipe written by Recipe.to_json: no {missing}")
        values = {
            f"{section}.{name}": tuple(v) if isinstance(v, list) else v
            for section, entries in data.items()
            if section not in meta
            for name, v in entries.items()
        }
        return cls(
            data["method"],
            data["dataset"],
            values,
            tuple(data.get("overridden", ())),
            data.get("reference", ""),
        )

    def to_json(self) -> dict[str, Any]:
        """The recipe as JSON-ready nested data (what experiments write into results.json)."""
        out: dict[str, Any] = {"method": self.method, "dataset": self.dataset}
        for key in sorted(self.values):
            section, _, name = key.partition(".")
            value = self.values[key]
            out.setdefault(section, {})[name] = list(value) if isinstance(value, tuple) else value
        out["overridden"] = list(self.overridden)
        out["reference"] = self.reference
        return out


@dataclasses.dataclass(frozen=True)
class Method:
    """One registry entry.

    Attributes:
      name: registry name (`--config.method=<name>`).
      summary: one line: the model and the objective.
      reference: the paper and the code whose defaults are used.
      data: data kinds the method applies to (`"vector"`, `"image"`).
      defaults: the method's own keys (and any common key it changes), for every dataset.
      dataset_defaults: dataset name -> keys that differ there (the authors' per-dataset
        values, or this project's tuned values, each commented at its definition).
      build: `build(recipe, architecture, seed) -> Built`.
      schedule_keys: `(warmup_key, weight_key)` of a regularizer switched on after a warm-up,
        checked by :func:`check_run_length`; None when the method has none.
    """

    name: str
    summary: str
    reference: str
    data: frozenset[str]
    defaults: Mapping[str, Any]
    build: Callable[[Recipe, Architecture, int], Built]
    dataset_defaults: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    schedule_keys: tuple[str, str] | None = None

    def applies_to(self, dataset: str) -> bool:
        return DATASETS.get(dataset) in self.data


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Adds `method` to the registry (ValueError on a duplicate name or unknown dataset)."""
    if method.name in _REGISTRY:
        raise ValueError(f"method {method.name!r} is already registered")
    unknown = set(method.dataset_defaults) - set(DATASETS)
    if unknown:
        raise ValueError(
            f"{method.name}: unknown datasets {sorted(unknown)}; known {list(DATASETS)}"
        )
    _REGISTRY[method.name] = method
    return method


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def names(dataset: str | None = None) -> tuple[str, ...]:
    """Registered method names, in registration order (those applying to `dataset` if given)."""
    if dataset is None:
        return tuple(_REGISTRY)
    _check_dataset(dataset)
    return tuple(n for n, m in _REGISTRY.items() if m.applies_to(dataset))


def get(name: str) -> Method:
    """The :class:`Method` named `name`; ValueError listing the valid names otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        valid = tuple(_REGISTRY)
        raise ValueError(
            f"unknown method {name!r}{_suggest(str(name), valid)}; valid methods: "
            f"{', '.join(valid)}"
        ) from None


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}{_suggest(str(dataset), list(DATASETS))}; known "
            f"datasets: {', '.join(DATASETS)}"
        )


def defaults(name: str, dataset: str) -> dict[str, Any]:
    """The layered defaults of method `name` on `dataset` (no overrides)."""
    method = get(name)
    _check_dataset(dataset)
    if not method.applies_to(dataset):
        valid = names(dataset)
        raise ValueError(
            f"method {name!r} does not apply to {DATASETS[dataset]} data ({dataset}); methods "
            f"for {dataset}: {', '.join(valid)}"
        )
    values = dict(COMMON_DEFAULTS)
    values.update(DATASET_DEFAULTS.get(dataset, {}))
    values.update(method.defaults)
    values.update(method.dataset_defaults.get(dataset, {}))
    return values


def keys(dataset: str) -> dict[str, Any]:
    """Every recipe key of every method applying to `dataset`, with one default value each
    (its type is what a config placeholder needs)."""
    out: dict[str, Any] = {}
    for name in names(dataset):
        for k, v in defaults(name, dataset).items():
            out.setdefault(k, v)
    return out


def _coerce(key: str, default: Any, value: Any, method: str) -> Any:
    if isinstance(default, bool) or default is None:
        ok = isinstance(value, type(default)) or default is None
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
        if ok and not math.isfinite(value):
            raise ValueError(f"{method}: {key} must be finite; got {value!r}")
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, tuple):
        ok = isinstance(value, tuple | list)
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise TypeError(
            f"{method}: {key} must be a {type(default).__name__} like {default!r}; got {value!r}"
        )
    return value


def resolve(
    name: str,
    dataset: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    num_steps: int | None = None,
) -> Recipe:
    """The full recipe of method `name` on `dataset`, with `overrides` applied.

    Args:
      name: a registered method (see :func:`names`).
      dataset: a key of :data:`DATASETS`.
      overrides: `{dotted_key: value}`; every key must be one of the method's keys.
      num_steps: if given, :func:`check_run_length` runs on the result.

    Raises:
      ValueError: unknown method, dataset or key (the message lists the valid ones), a method
        that does not apply to the dataset's data kind, or a run too short for the method's
        regularizer to switch on.
      TypeError: an override of the wrong type.
    """
    values = defaults(name, dataset)
    overridden = []
    for key, value in (overrides or {}).items():
        if key not in values:
            raise ValueError(
                f"method {name!r} has no setting {key!r}{_suggest(key, list(values))}; its "
                f"settings: {', '.join(sorted(values))}"
            )
        values[key] = _coerce(key, values[key], value, name)
        overridden.append(key)
    recipe = Recipe(name, dataset, values, tuple(sorted(overridden)), get(name).reference)
    if num_steps is not None:
        check_run_length(recipe, num_steps)
    return recipe


def check_run_length(recipe: Recipe, num_steps: int) -> None:
    """Raises ValueError if `num_steps` ends before the method's regularizer switches on.

    A method with a warm-up (e.g. Cliff: a plain autoencoder for `loss.warmup_steps` updates)
    trained for `num_steps <= warmup_steps` is, bit for bit, the plain autoencoder: its result
    would be mislabelled. The error names both settings and the fix.
    """
    method = get(recipe.method)
    if method.schedule_keys is None:
        return
    warm_key, weight_key = method.schedule_keys
    warmup, weight = int(recipe[warm_key]), float(recipe[weight_key])
    if weight > 0 and num_steps <= warmup:
        raise ValueError(
            f"method {recipe.method!r} switches its regularizer on after {warm_key}={warmup} "
            f"steps but the run has train.num_steps={num_steps}: it would train a plain "
            f"autoencoder; set train.num_steps above {warmup} or lower {warm_key}"
        )


def build(recipe: Recipe, architecture: Architecture, seed: int = 0) -> Built:
    """The model, the modules to train and the train step of `recipe` on `architecture`."""
    arch = architecture._replace(
        input_shape=tuple(int(d) for d in architecture.input_shape),
        num_latents=int(architecture.num_latents),
    )
    if arch.network not in ("mlp", "conv"):
        raise ValueError(f"architecture.network must be 'mlp' or 'conv'; got {arch.network!r}")
    if arch.num_latents < 1:
        raise ValueError(f"architecture.num_latents must be >= 1; got {arch.num_latents}")
    return get(recipe.method).build(recipe, arch, int(seed))

"""One contract for every identifiability verdict (sklearn estimator-checks style).

Each check module registers an example-producing function in ``EXAMPLES`` below (a
zero-argument callable returning a *computed* verdict on tiny data). The contract:
frozen dataclass subclass of Verdict; holds in {True, False, None}; non-empty reason;
to_json() round-trips through json with allow_nan=False and names the check; summary()
is one line.
"""

import dataclasses
import json

import numpy as np
import pytest

from qdjax.identifiability import Verdict, to_jsonable


@dataclasses.dataclass(frozen=True)
class _Toy(Verdict):
    values: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2))


def _toy():
    return _Toy(holds=None, tolerance=1e-3, reason="toy", values=np.array([1.0, np.nan]))


# name -> zero-argument callable returning a verdict computed on tiny data.
EXAMPLES = {"toy": _toy}


def _register_optional():
    """Imports each check module's example factory if the module exists."""
    import importlib

    for mod, fn in [
        ("tests.identifiability.examples_grid", "EXAMPLES"),
        ("tests.identifiability.examples_jacobian", "EXAMPLES"),
        ("tests.identifiability.examples_concepts", "EXAMPLES"),
        ("tests.identifiability.examples_agreement", "EXAMPLES"),
    ]:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError:
            continue
        EXAMPLES.update(getattr(m, fn))


_register_optional()


@pytest.mark.parametrize("name", sorted(EXAMPLES), ids=sorted(EXAMPLES))
def test_verdict_contract(name):
    v = EXAMPLES[name]()
    assert isinstance(v, Verdict)
    assert dataclasses.is_dataclass(v)
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.holds = True
    assert v.holds in (True, False, None)
    assert isinstance(v.reason, str) and v.reason
    d = json.loads(json.dumps(v.to_json(), allow_nan=False))
    assert d["check"] == type(v).__name__
    assert set(f.name for f in dataclasses.fields(v)) <= set(d)
    s = v.summary()
    assert "\n" not in s and s.startswith(type(v).__name__)
    with pytest.raises(TypeError):
        bool(v)


def test_to_jsonable_nan_becomes_none():
    assert to_jsonable(np.array([1.0, np.nan, np.inf])) == [1.0, None, None]
    assert to_jsonable((np.int64(3), np.bool_(True))) == [3, True]


def test_holds_must_be_tristate():
    with pytest.raises(TypeError):
        _Toy(holds="yes", tolerance=0.0, reason="r")

"""The one result convention shared by every identifiability check.

Every check in :mod:`qdjax.identifiability` returns a frozen dataclass that subclasses
:class:`Verdict`. The base fixes the shape users rely on:

- ``holds: bool | None`` — the answer; ``None`` means *cannot tell* (the evidence is
  inconclusive, e.g. too few samples or a tolerance-sensitive decision), never "no".
- ``tolerance`` — the tolerance (or tolerances) the decision used, so it can be re-run.
- ``reason`` — one human-readable sentence saying why ``holds`` is what it is.
- the measured numbers behind the decision, as further fields of the subclass.
- ``to_json()`` — a JSON-serialisable dict (NumPy/JAX arrays become nested lists, scalars
  become Python numbers, nested verdicts recurse), with a ``"check"`` key naming the class.
- ``summary()`` — a one-line ``"<Check>: yes/no/cannot tell — <reason>"`` string.

Each check module also defines a ``plot_<thing>(verdict, ax=None)`` function beside its
verdict (matplotlib, imported lazily). The decision logic is plain NumPy on the host;
heavy array work (Jacobians, KDEs, Gram matrices) runs in JAX before it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, ClassVar

import numpy as np

__all__ = ["Verdict", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Converts arrays, NumPy scalars, tuples and nested verdicts to JSON-ready values.

    Non-finite floats become ``None`` (JSON has no NaN/Inf), so ``json.dumps`` with
    ``allow_nan=False`` always succeeds on the result.
    """
    if isinstance(value, Verdict):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return to_jsonable(arr.item())
        return [to_jsonable(v) for v in arr.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Base of every identifiability check's result (see the module docstring).

    Subclasses are ``@dataclasses.dataclass(frozen=True)`` and add their evidence as
    fields after these three. ``holds`` is ``True`` (the identifiability condition is met
    on the evidence), ``False`` (it is violated) or ``None`` (cannot tell).
    """

    holds: bool | None
    tolerance: Any
    reason: str

    check: ClassVar[str] = "verdict"

    def __post_init__(self):
        if self.holds is not None and not isinstance(self.holds, (bool, np.bool_)):
            raise TypeError(
                f"{type(self).__name__}.holds must be True, False or None; got {self.holds!r}"
            )
        if self.holds is not None:
            object.__setattr__(self, "holds", bool(self.holds))
        if not isinstance(self.reason, str) or not self.reason:
            raise ValueError(f"{type(self).__name__}.reason must be a non-empty sentence")

    @property
    def answer(self) -> str:
        """``"yes"``, ``"no"`` or ``"cannot tell"``."""
        return {True: "yes", False: "no", None: "cannot tell"}[self.holds]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field, plus ``"check"`` naming the check."""
        out: dict[str, Any] = {"check": type(self).__name__}
        for f in dataclasses.fields(self):
            out[f.name] = to_jsonable(getattr(self, f.name))
        return out

    def dumps(self, **kwargs) -> str:
        """``json.dumps(self.to_json())`` (NaN-free by construction)."""
        return json.dumps(self.to_json(), allow_nan=False, **kwargs)

    def summary(self) -> str:
        """One line: ``"<Check>: yes/no/cannot tell — <reason>"``."""
        return f"{type(self).__name__}: {self.answer} — {self.reason}"

    def __bool__(self) -> bool:
        raise TypeError(
            f"{type(self).__name__} has three outcomes (True/False/None): test `.holds` explicitly"
        )

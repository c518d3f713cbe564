"""Post-hoc identifiability verdicts about a learned model.

Every check returns a :class:`Verdict` subclass (``holds: bool | None``, the numbers
behind it, the tolerance used, ``to_json()``, ``summary()``) with a plot function beside
it in its module. See ``_verdict.py`` for the convention.
"""

from qdjax.identifiability._verdict import Verdict, to_jsonable

__all__ = ["Verdict", "to_jsonable"]

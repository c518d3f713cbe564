"""matplotlib for the experiments' plots, imported on first use.

Importing pyplot costs ~0.7 s; at module level every CLI start (a one-line user error
included) paid it. The plots modules call :func:`pyplot` inside each plotting function.
"""

from __future__ import annotations


def pyplot():
    """`matplotlib.pyplot` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt

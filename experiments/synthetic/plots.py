"""Plots of learned latents: scatter coloured by true grid cell with detected cliff lines,
and per-latent KDE density / |dp/dz| curves."""

from __future__ import annotations

import numpy as np

from experiments._plotting import pyplot
from qdjax import losses


def _cell_colour(cells: np.ndarray) -> np.ndarray:
    c = cells[:, :2]
    return np.ravel_multi_index(tuple(c.T), tuple(c.max(0) + 1))


def plot_latents(
    path: str, z: np.ndarray, s: np.ndarray, cells: np.ndarray, assignment: np.ndarray, title: str
) -> None:
    """True latents (s1, s2) and the two learned latents matched to them, coloured by the
    true grid cell; dashed lines mark cliffs found by `qdjax.losses.find_cliffs`."""
    plt = pyplot()
    colour = _cell_colour(cells)
    a0, a1 = int(assignment[0]), int(assignment[1 % len(assignment)])
    cliffs = losses.find_cliffs(z[:, [a0, a1]])
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    axes[0].scatter(s[:, 0], s[:, 1 % s.shape[1]], c=colour, s=2, cmap="tab20")
    axes[0].set(title="true latents", xlabel="s1", ylabel="s2")
    ax = axes[1]
    ax.scatter(z[:, a0], z[:, a1], c=colour, s=2, cmap="tab20")
    for k, line in ((0, ax.axvline), (1, ax.axhline)):
        pos = np.asarray(cliffs.positions[k])[np.asarray(cliffs.mask[k])]
        for p in pos:
            line(p, color="k", lw=0.8, ls="--", alpha=0.6)
    ax.set(title=title, xlabel=f"z{a0} (matched to s1)", ylabel=f"z{a1} (matched to s2)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_marginals(path: str, z: np.ndarray, assignment: np.ndarray, title: str) -> None:
    """KDE marginal density and derivative magnitude of each matched latent (standardized)."""
    plt = pyplot()
    idx = [int(a) for a in assignment]
    kde = losses.kde_marginals(z[:, idx])
    grid = np.asarray(kde.grid)
    dens, deriv = np.asarray(kde.density), np.abs(np.asarray(kde.derivative))
    fig, axes = plt.subplots(2, len(idx), figsize=(3.2 * len(idx), 4.8), squeeze=False)
    for k, i in enumerate(idx):
        axes[0, k].plot(grid, dens[:, k])
        axes[0, k].set(title=f"z{i}: density", xlim=(-3, 3))
        axes[1, k].plot(grid, deriv[:, k], color="C3")
        axes[1, k].set(title=f"z{i}: |dp/dz|", xlim=(-3, 3), xlabel="standardized z")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

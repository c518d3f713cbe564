"""Plots of one image-benchmark run: reconstructions, traversals, NMI, DCI importance, cliffs."""

from __future__ import annotations

import numpy as np

from experiments._plotting import pyplot
from experiments.qlae.plots import plot_reconstructions, plot_traversals  # noqa: F401


def plot_matrix(path: str, m: np.ndarray, rows, cols, title: str, cbar: str) -> None:
    """Heat map of `m: [len(rows), len(cols)]` with its values written in the cells."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(0.5 * len(cols) + 2.5, 0.4 * len(rows) + 1.5))
    im = ax.imshow(m, cmap="viridis", vmin=0.0, vmax=max(float(np.max(m)), 1e-9))
    ax.set_xticks(range(len(cols)), cols, rotation=60, fontsize=7, ha="right")
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=5, color="w")
    fig.colorbar(im, ax=ax, label=cbar)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_marginals(path: str, z: np.ndarray, cliffs, title: str) -> None:
    """Histogram of each latent with the detected cliffs (red lines)."""
    plt = pyplot()
    d = z.shape[1]
    cols = min(d, 6)
    rows = -(-d // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 1.6 * rows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= d:
            ax.axis("off")
            continue
        ax.hist(z[:, i], bins=60, color="0.4")
        for pos, ok in zip(cliffs.positions[i], cliffs.mask[i], strict=True):
            if ok:
                ax.axvline(float(pos), color="r", lw=0.8)
        ax.set_title(f"z{i}", fontsize=7)
        ax.tick_params(labelsize=5)
    fig.suptitle(title + ": latent marginals and cliffs", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

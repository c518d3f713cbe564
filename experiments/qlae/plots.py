"""Image grids: originals over reconstructions, and latent traversals."""

from __future__ import annotations

import numpy as np

from experiments._plotting import pyplot


def plot_reconstructions(path: str, x: np.ndarray, x_hat: np.ndarray, title: str) -> None:
    """Top row: held-out images `[n, H, W, 3]`; bottom row: their reconstructions."""
    plt = pyplot()
    n = x.shape[0]
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.7), squeeze=False)
    for j in range(n):
        for i, img in enumerate((x[j], x_hat[j])):
            axes[i, j].imshow(np.clip(img, 0.0, 1.0))
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("recon.")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_traversals(path: str, images: np.ndarray, title: str) -> None:
    """Row `i` of `images: [num_latents, k, H, W, 3]` decodes latent `i` at `k` values."""
    plt = pyplot()
    rows, cols = images.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(0.9 * cols, 0.9 * rows + 0.4), squeeze=False)
    for i in range(rows):
        for j in range(cols):
            axes[i, j].imshow(np.clip(images[i, j], 0.0, 1.0))
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(f"z{i}", fontsize=7)
    fig.suptitle(title + ": latent traversals", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

"""Reconstruction quality: PSNR, mean squared error, binary cross-entropy."""

from __future__ import annotations

import numpy as np


def _pair(x, x_hat) -> tuple[np.ndarray, np.ndarray]:
    """Flattens to `[n, -1]`, keeping float32 inputs float32 (means accumulate in float64)."""
    x = np.asarray(x)
    x_hat = np.asarray(x_hat)
    dtype = np.result_type(x.dtype, x_hat.dtype, np.float32)
    x, x_hat = x.astype(dtype, copy=False), x_hat.astype(dtype, copy=False)
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape; got {x.shape} and {x_hat.shape}")
    if x.ndim < 2:
        raise ValueError(f"x must be [n, ...] with ndim >= 2; got shape {x.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(x_hat))):
        raise ValueError("x or x_hat contains NaN/Inf; check the decoder output")
    return x.reshape(len(x), -1), x_hat.reshape(len(x_hat), -1)


def psnr(x, x_hat, *, max_value: float = 1.0, max_db: float = 100.0) -> float:
    r"""Peak signal-to-noise ratio in dB, averaged over images.

    Per image :math:`\mathrm{PSNR} = 10 \log_{10}(\mathrm{max\_value}^2 / \mathrm{MSE})` with
    the MSE over that image's pixels and channels; the result is the mean over images (not the
    PSNR of the mean MSE). A perfect reconstruction (MSE 0) is capped at `max_db`.

    Args:
        x: targets `[n, ...]` (e.g. NHWC in [0, max_value]).
        x_hat: reconstructions, same shape.
        max_value: peak signal value (1.0 for [0, 1] images, 255 for uint8).
        max_db: cap per image.

    Returns:
        Mean PSNR in dB.

    Example:
        >>> import numpy as np
        >>> round(psnr(np.zeros((1, 4)), np.full((1, 4), 0.1)), 6)
        20.0
    """
    x, x_hat = _pair(x, x_hat)
    mse_per_image = np.mean(np.square(x - x_hat), axis=1, dtype=np.float64)
    floor = max_value**2 * 10.0 ** (-max_db / 10.0)
    return float(np.mean(10.0 * np.log10(max_value**2 / np.maximum(mse_per_image, floor))))


def mse(x, x_hat) -> float:
    """Mean squared error over all elements (multiply by the pixels per image for a per-image sum).

    Args:
        x: targets `[n, ...]`.
        x_hat: reconstructions, same shape.

    Returns:
        The mean of `(x - x_hat) ** 2`.
    """
    x, x_hat = _pair(x, x_hat)
    return float(np.mean(np.square(x - x_hat), dtype=np.float64))


def bce(x, x_hat, *, from_logits: bool = False, eps: float = 1e-7) -> float:
    r"""Binary cross-entropy (nats) per element, averaged over all elements.

    :math:`-[x \log p + (1 - x) \log(1 - p)]` with targets `x` in [0, 1] and `p = x_hat`
    (clipped to `[eps, 1 - eps]`) or `p = sigmoid(x_hat)` when `from_logits` (computed stably).
    For non-binary targets the minimum is the targets' entropy, not 0.

    Args:
        x: targets in [0, 1], `[n, ...]`.
        x_hat: probabilities or logits, same shape.
        from_logits: whether `x_hat` holds logits.
        eps: probability clipping when `from_logits` is False.

    Returns:
        Mean binary cross-entropy.
    """
    x, x_hat = _pair(x, x_hat)
    if np.any(x < 0) or np.any(x > 1):
        raise ValueError("bce targets x must lie in [0, 1]; rescale the images")
    if from_logits:
        # -[x log sigmoid(l) + (1 - x) log sigmoid(-l)] = softplus(l) - x l
        loss = np.logaddexp(0.0, x_hat) - x * x_hat
    else:
        p = np.clip(x_hat, eps, 1.0 - eps)
        loss = -(x * np.log(p) + (1.0 - x) * np.log1p(-p))
    return float(np.mean(loss, dtype=np.float64))

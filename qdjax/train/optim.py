"""Optimizers from optax with weight-decay masks built from parameter paths."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np
import optax

NO_DECAY_KEYWORDS = ("bias", "scale", "codebook", "embedding_norm", "const")


def param_labels(params, *, no_decay_keywords: Sequence[str] = NO_DECAY_KEYWORDS):
    """Labels every parameter `"decay"` or `"no_decay"` from its path and rank.

    A parameter is decayed iff it has `ndim >= 2` and no path component contains one
    of `no_decay_keywords` (biases, norm scales, codebooks and learned constants are
    never decayed, as in the QLAE reference).
    """

    def label(path, x):
        names = jax.tree_util.keystr(path).lower()
        if getattr(x, "ndim", 0) >= 2 and not any(k in names for k in no_decay_keywords):
            return "decay"
        return "no_decay"

    return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(
    *,
    learning_rate: float | optax.Schedule = 1e-3,
    weight_decay: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    clip_value: float | None = None,
    clip_norm: float | None = None,
    warmup_steps: int = 0,
    no_decay_keywords: Sequence[str] = NO_DECAY_KEYWORDS,
) -> optax.GradientTransformation:
    """AdamW on weights, plain Adam (no decay) on biases/norms/codebooks.

    `optax.multi_transform` over :func:`param_labels`, optionally preceded by
    element-wise clipping (`clip_value`, as the QLAE reference: 1.0) or global-norm
    clipping (`clip_norm`), with a linear warm-up of `warmup_steps`.

    Raises:
      ValueError: on a learning rate that is not finite and > 0, a negative or non-finite
        decay, clip values that are not finite and > 0, b1/b2 outside [0, 1), eps <= 0.
      TypeError: on a non-numeric value or a non-integer `warmup_steps`.
    """

    def real(name, v) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a number; got {v!r}")
        return float(v)

    if not callable(learning_rate):
        lr_value = real("learning_rate", learning_rate)
        if not (lr_value > 0 and math.isfinite(lr_value)):  # NaN fails every comparison
            raise ValueError(f"learning_rate must be finite and > 0; got {learning_rate}")
    if not (real("weight_decay", weight_decay) >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"weight_decay must be finite and >= 0; got {weight_decay}")
    if not 0 <= real("b1", b1) < 1 or not 0 <= real("b2", b2) < 1:
        raise ValueError(f"b1 and b2 must be in [0, 1); got {b1}, {b2}")
    if not real("eps", eps) > 0:
        raise ValueError(f"eps must be > 0; got {eps}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, (int, np.integer)):
        raise TypeError(f"warmup_steps must be an integer; got {warmup_steps!r}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0; got {warmup_steps}")
    lr = learning_rate
    if warmup_steps and not callable(lr):
        lr = optax.linear_schedule(0.0, float(learning_rate), warmup_steps)
    parts = []
    if clip_value is not None:
        if not (real("clip_value", clip_value) > 0 and math.isfinite(clip_value)):
            raise ValueError(f"clip_value must be finite and > 0; got {clip_value}")
        parts.append(optax.clip(clip_value))
    if clip_norm is not None:
        if not (real("clip_norm", clip_norm) > 0 and math.isfinite(clip_norm)):
            raise ValueError(f"clip_norm must be finite and > 0; got {clip_norm}")
        parts.append(optax.clip_by_global_norm(clip_norm))
    parts.append(
        optax.multi_transform(
            {
                "decay": optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay),
                "no_decay": optax.adam(lr, b1=b1, b2=b2, eps=eps),
            },
            lambda params: param_labels(params, no_decay_keywords=no_decay_keywords),
        )
    )
    return optax.chain(*parts)

"""Objectives: the only place where loss kernels are weighted and summed.

An objective is a pure function `objective(model, batch, key) -> (loss, aux)`;
`aux` is a flat dict of scalars (the total under `"loss"`, then every term
unweighted under its name, and any sub-terms a kernel reports under
`"<term>/<sub>"`). It is built from a forward function and any number of
weighted :class:`Term`s, so a regularizer written for one model plugs into any
model whose output has the field it reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from qdjax._src.typing import Array, Batch
from qdjax.losses import (
    bernoulli_nll,
    commitment_loss,
    gaussian_kl,
    quantization_loss,
    squared_error,
)

TermFn = Callable[[Any, Batch], Array | tuple[Array, dict[str, Array]]]


class Term(NamedTuple):
    """One weighted loss term.

    Attributes:
      name: key under which the (unweighted) value is reported.
      fn: `fn(out, batch)` -> scalar, or `(scalar, {sub_name: scalar})` to also report parts.
      weight: multiplier in the total; a term with weight 0 is not computed at all. A
        callable `weight(step) -> scalar` is a schedule (e.g. an `optax` schedule for a
        regularizer warm-up), evaluated at the optimizer's step count inside the jitted step.
    """

    name: str
    fn: TermFn
    weight: float | Callable[[Array], Array] = 1.0


def default_forward(model, batch: Batch, key: jax.Array):
    """`model(batch.x, key=key)`: the contract every qdjax model follows."""
    return model(batch.x, key=key)


def make_objective(*terms: Term, forward: Callable = default_forward) -> Callable:
    """Composes `forward` and weighted terms into `objective(model, batch, key, step=0)`.

    The objective returns `(loss, aux)`; `step` only matters for scheduled weights.

    .. math:: L = \\sum_t w_t \\, \\ell_t(\\mathrm{forward}(model, batch, key), batch)

    Raises:
      ValueError: on duplicate or empty term names, or if no term has a non-zero weight.
    """
    bad = [t for t in terms if not isinstance(t, Term)]
    if bad:
        raise TypeError(
            f"make_objective takes Terms (e.g. qdjax.train.latent_term(name, fn)); got {bad[0]!r}"
        )
    names = [t.name for t in terms]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise ValueError(f"term names must be unique and non-empty; got {names}")
    for t in terms:
        if not callable(t.weight) and not math.isfinite(float(t.weight)):
            raise ValueError(f"term {t.name!r} has weight {t.weight}; weights must be finite")
    active = tuple(t for t in terms if callable(t.weight) or float(t.weight) != 0.0)
    if not active:
        raise ValueError("an objective needs at least one term with a non-zero weight")

    def objective(model, batch: Batch, key: jax.Array, step: Array | int = 0):
        out = forward(model, batch, key)
        aux: dict[str, Array] = {}
        loss = jnp.zeros((), jnp.float32)
        for t in active:  # a handful of heterogeneous terms: unrolled on purpose
            value = t.fn(out, batch)
            if isinstance(value, tuple):
                value, parts = value
                aux.update({f"{t.name}/{k}": jnp.asarray(v) for k, v in parts.items()})
            value = jnp.asarray(value, jnp.float32)
            if value.ndim != 0:
                raise ValueError(f"term {t.name!r} must return a scalar; got shape {value.shape}")
            aux[t.name] = value
            weight = t.weight(step) if callable(t.weight) else t.weight
            loss = loss + weight * value
        aux["loss"] = loss
        return loss, aux

    return objective


# --------------------------------------------------------------------- standard terms


def reconstruction_term(
    likelihood: str = "gaussian", *, weight: float = 1.0, per_element: bool = False
) -> Term:
    """Mean over the batch of the per-example reconstruction loss of `out.x_hat`.

    `"gaussian"`: summed squared error; `"bernoulli"`: BCE on logits. With
    `per_element=True` the per-example loss is divided by the number of elements of one
    example (pixel-mean, as the QLAE reference averages BCE over pixels), which keeps
    0.01-weighted quantization terms on the reference's scale.
    """
    if likelihood == "gaussian":
        kernel = squared_error
    elif likelihood == "bernoulli":
        kernel = bernoulli_nll
    else:
        raise ValueError(f"likelihood must be 'gaussian' or 'bernoulli'; got {likelihood!r}")

    def fn(out, batch):
        per_example = kernel(out.x_hat, batch.x)
        if per_element:
            per_example = per_example / (batch.x.size // batch.x.shape[0])
        return jnp.mean(per_example)

    return Term("reconstruction", fn, weight)


def kl_term(*, weight: float = 1.0) -> Term:
    """β · mean KL(q(z|x) || N(0, I)) from `out.z_mean`, `out.z_logvar` (β-VAE with β = weight)."""
    return Term("kl", lambda out, batch: jnp.mean(gaussian_kl(out.z_mean, out.z_logvar)), weight)


def latent_term(name: str, kernel: Callable, *, weight: float = 1.0, field: str = "z") -> Term:
    """A regularizer on a latent field of the model output (default `out.z`).

    `kernel(z)` may return a scalar, an array (averaged), or a NamedTuple whose first
    field is the total (e.g. Cliff's terms); the other fields are reported as sub-terms.
    """

    def fn(out, batch):
        value = kernel(getattr(out, field))
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            parts = {k: jnp.mean(v) for k, v in zip(value._fields[1:], value[1:])}
            return jnp.mean(value[0]), parts
        return jnp.mean(value)

    return Term(name, fn, weight)


def quantization_terms(
    *, quantization: float = 0.01, commitment: float = 0.01
) -> tuple[Term, Term]:
    """QLAE's codebook terms from `out.z_continuous` and `out.z_quantized` (batch means).

    `quantization`: ||sg(z_c) - z_q||^2 (moves the codebook); `commitment`:
    ||z_c - sg(z_q)||^2 (moves the encoder). Default weights 0.01 each, as in QLAE.
    """
    return (
        Term(
            "quantization",
            lambda out, batch: jnp.mean(quantization_loss(out.z_continuous, out.z_quantized)),
            quantization,
        ),
        Term(
            "commitment",
            lambda out, batch: jnp.mean(commitment_loss(out.z_continuous, out.z_quantized)),
            commitment,
        ),
    )

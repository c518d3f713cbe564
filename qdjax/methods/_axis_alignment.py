"""The seed-000 criterion as registry methods: `axis_alignment` (AE + criterion on the code)
and `axis_alignment_nodecoder` (the criterion alone on an encoder).

The criterion (`qdjax.losses.axis_alignment_loss`) is :math:`-\\sum_i \\alpha_i
\\lVert v_i \\rVert_\\infty` with :math:`v_i` the unit KDE log-density gradient of the
standardized code at sample `i` and :math:`\\alpha_i` the normalized KDE-gradient magnitude of
the *observation* :math:`x_i`. The seed-000 reference computes the :math:`\\alpha_i` once on
the whole data set; the objective API sees one batch `(x, s)` at a time and no sample index, so
here they are computed from the batch's own observations inside the objective
(`observation_weights(batch.x)`, same fixed σ, under `stop_gradient`; `x` does not depend on
the parameters, the stop is only explicit). That is the per-batch equivalent of the reference's
weights: the same KDE on a subsample of the data, renormalized to sum to 1 over the batch, as
the linear reference (`experiments/axis_alignment/linear.py`) renormalizes its precomputed
weights over each batch. It costs one more `B x B` pairwise pass per step.

Schedule as Cliff's: `loss.regularizer_weight`, zero for `loss.warmup_steps` updates, then a
linear ramp over `loss.ramp_steps` (`_parts.schedule`), so `experiments.synthetic.protocol`
tunes its weight with the same budget as every other regularizer.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qdjax import losses
from qdjax import train as qtrain
from qdjax.methods import _catalog  # (also: the catalog's methods are listed first)
from qdjax.methods import _parts as parts
from qdjax.methods._registry import Architecture, Built, Method, Recipe, register

# σ: Parzen width in standardized units, for the code and the observations alike. Seed 000
# gives no value; 0.1 is what the linear reference (experiments/axis_alignment) used.
_SIGMA = 0.1


def axis_alignment_term(recipe: Recipe) -> qtrain.Term:
    """The criterion on `out.z`, α from `batch.x`, weighted with the recipe's warm-up and ramp.

    Reports the criterion's value (in [-1, -1/sqrt(d)]: -1 = every gradient on an axis) under
    `axis_alignment`.
    """
    sigma = float(recipe["loss.axis_alignment_sigma"])
    if sigma <= 0:
        raise ValueError(f"loss.axis_alignment_sigma must be > 0; got {sigma}")
    weight = parts.schedule(
        recipe["loss.regularizer_weight"], recipe["loss.warmup_steps"], recipe["loss.ramp_steps"]
    )

    def fn(out, batch):
        x = batch.x.reshape(batch.x.shape[0], -1).astype(jnp.float32)
        alpha = jax.lax.stop_gradient(losses.observation_weights(x, sigma=sigma))
        return jnp.sum(losses.axis_alignment_loss(out.z, alpha, sigma=sigma))

    return qtrain.Term("axis_alignment", fn, weight)


def _build(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    """AE (MLP or conv per `arch`) + the criterion; `loss.reconstruction_weight = 0` drops
    the reconstruction term (the decoder then receives no gradient: encoder only)."""
    model = parts.autoencoder_model("ae", recipe, arch, seed)
    terms = [parts.reconstruction(recipe), axis_alignment_term(recipe)]
    return parts.single_optimizer(model, recipe, qtrain.make_objective(*terms))


_KEYS = {
    "loss.regularizer_weight": 1.0,
    "loss.warmup_steps": 0,
    "loss.ramp_steps": 0,
    "loss.axis_alignment_sigma": _SIGMA,
}
_VECTOR = frozenset({"vector"})
_REFERENCE = (
    "Barin-Pacela et al., On the Identifiability of Quantized Factors, CLeaR 2024 (seed 000); "
    "σ = 0.1 as the linear reference in experiments/axis_alignment"
)

register(
    Method(
        name="axis_alignment",
        summary="AE + seed-000 axis-alignment criterion on the code (KDE gradients onto the "
        "axes, α from the batch's observations), Cliff's warm-up and ramp",
        reference=_REFERENCE + "; synthetic schedule and batch as Cliff's",
        data=_VECTOR,
        defaults=dict(_KEYS),
        # Cliff's synthetic schedule and batch (warm-up 1000, ramp 1000, batch 512) and its
        # weight 0.1, untuned here: experiments.synthetic.protocol tunes the weight.
        dataset_defaults={"synthetic": dict(_catalog.CLIFF_SYNTHETIC)},
        build=_build,
        schedule_keys=("loss.warmup_steps", "loss.regularizer_weight"),
    )
)

register(
    Method(
        name="axis_alignment_nodecoder",
        summary="seed-000 criterion alone on an MLP encoder (no reconstruction; the decoder "
        "is built but never trained)",
        reference=_REFERENCE,
        data=_VECTOR,
        # No warm-up: with no other term the encoder would not move during one.
        defaults={**_KEYS, "loss.reconstruction_weight": 0.0},
        dataset_defaults={
            "synthetic": {"loss.regularizer_weight": 0.1, "train.batch_size": 512},
        },
        build=_build,
        schedule_keys=("loss.warmup_steps", "loss.regularizer_weight"),
    )
)

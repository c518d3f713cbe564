r"""`grid_flow`: seed 000's model fitted by maximum likelihood (a flow with a grid prior).

The objective is the exact negative log-likelihood of the observations,

.. math::
    L = -\frac1B \sum_i \Big[\log p_{\text{grid}}\big(f(x_i); \tau_t\big)
        + \log\lvert\det J_f(x_i)\rvert\Big],

with `f` an affine coupling flow and :math:`p_{\text{grid}}` a learnable soft grid density
(`qdjax.nn.GridFlow`, `qdjax.losses.grid_log_prob`). The logistic width :math:`\tau_t` (a
fraction of each axis's support) anneals geometrically from `loss.grid_temperature_start`
to `loss.grid_temperature` over the first `loss.ramp_steps` updates (coarse cliffs first,
then sharp ones), after `loss.warmup_steps` at the start value. Because the encoder is
exactly invertible the likelihood has no folded optimum (an MLP encoder with a
`log|det J|` term folds the code and scores above the truth), and the truth, whose density
is piecewise constant on an axis-aligned grid, maximizes the population likelihood over the
model class: the grid is identified up to permutation and axis reversal (seed 000).

The number of cells per axis is `model.grid_cells`; 0 takes the experiment's known
number (`Architecture.options["cells_per_axis"]`, as `experiments.synthetic` passes
`data.cells_per_dim`). No decoder is trained: `x_hat` is the flow's inverse. Call
`built.model.data_init(x_train)` before training (cells at quantiles of the initial codes;
`experiments.synthetic` does): the equal-width cells of the data-free start can lie outside
the data and die.

The prior moves `model.prior_lr_scale` = 10 times faster than the flow and its edges end at
`loss.grid_temperature` = 0.001: a soft grid fitted by Adam is not the truth's
piecewise-constant density, and :func:`fit_prior` measures what it reaches *on the true
latents*; with the earlier 1.0 / 0.01 it stayed 0.12-0.34 nats above the true model's NLL, so
the recipe's objective did not prefer the true code to the fitted ones; with 10 / 0.001 it is
within 0.005-0.05 (experiments/synthetic/README.md, "Is the truth the minimum of grid_flow's
objective"). Measured there: under the MLP mixing the fit still stops in a non-truth basin
(MCC below IOSS), and restarts from rotated starts (`Architecture.options["start"]` of
`["num_starts"]`, set by `experiments.synthetic`'s `train.restarts`) ranked by training NLL do
not pick the better basins on the evaluation seeds; a linearly mixed grid is recovered.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from qdjax import data, nn
from qdjax import train as qtrain
from qdjax.methods import _parts as parts
from qdjax.methods._registry import Architecture, Built, Method, Recipe, register


def temperature_schedule(start: float, end: float, warmup: int, anneal: int):
    """`tau(step)`: `start` for `warmup` updates, then geometric to `end` over `anneal`."""
    if not (start > 0 and end > 0):
        raise ValueError(f"grid temperatures must be > 0; got start {start}, end {end}")
    log_start, log_end = math.log(start), math.log(end)

    def fn(step):
        frac = jnp.clip((jnp.asarray(step, jnp.float32) - warmup) / max(anneal, 1), 0.0, 1.0)
        return jnp.exp(log_start + (log_end - log_start) * frac)

    return fn


def grid_flow_objective(recipe: Recipe):
    """`objective(model, batch, key, step) -> (nll, aux)` for a :class:`qdjax.nn.GridFlow`."""
    tau = temperature_schedule(
        float(recipe["loss.grid_temperature_start"]),
        float(recipe["loss.grid_temperature"]),
        int(recipe["loss.warmup_steps"]),
        int(recipe["loss.ramp_steps"]),
    )

    prior_steps = int(recipe["loss.prior_steps"])

    def objective(model, batch, key, step=0):
        del key
        x = batch.x.reshape(batch.x.shape[0], -1).astype(jnp.float32)
        t = tau(step)
        z, log_det = model.flow.forward(x)
        # the first loss.prior_steps updates fit the prior alone to the current code (the
        # flow's output under stop_gradient), so the flow does not warp the data toward the
        # initial equal-cell prior before the prior has seen the data
        gate = (jnp.asarray(step) >= prior_steps).astype(z.dtype)
        z = jax.lax.stop_gradient(z) + gate * (z - jax.lax.stop_gradient(z))
        log_det = jax.lax.stop_gradient(log_det) + gate * (log_det - jax.lax.stop_gradient(log_det))
        log_prior = model.prior.log_prob(z, t)
        nll = -jnp.mean(log_prior + log_det)
        aux = {
            "loss": nll,
            "nll": nll,
            "log_det": jnp.mean(log_det),
            "temperature": t,
        }
        return nll, aux

    return objective


def _optimizer(recipe: Recipe) -> optax.GradientTransformation:
    decay = int(recipe["train.lr_decay_steps"])
    lr = float(recipe["train.learning_rate"])
    return qtrain.make_optimizer(
        learning_rate=optax.cosine_decay_schedule(lr, decay) if decay > 0 else lr,
        weight_decay=recipe["train.weight_decay"],
        clip_value=recipe["train.clip_value"] or None,
        clip_norm=float(recipe["train.clip_norm"]) or None,
    )


class _Identity(nnx.Module):
    """A flow that is the identity (`log|det J| = 0`): the prior sees the given codes."""

    def forward(self, x):
        return x, jnp.zeros(x.shape[:1], x.dtype)


class _PriorOnly(nnx.Module):
    def __init__(self, prior: nn.GridPrior):
        self.flow = _Identity()
        self.prior = prior


def fit_prior(z, recipe: Recipe, *, num_cells: int, num_steps: int, seed: int = 0) -> nn.GridPrior:
    """The recipe's grid prior fitted alone to fixed codes `z: [n, d]` (no flow).

    Same start (cells at quantiles of `z`), objective (soft grid NLL with the recipe's
    temperature schedule), optimizer, batch size and number of steps as a `grid_flow` run,
    batches drawn uniformly with replacement from `seed`. Given the *true* latents it measures
    what the model class reaches at the truth with this recipe: a soft grid (logistic edges of
    width tau) fitted by Adam is not the truth's piecewise-constant density, so the truth code
    itself scores above the true model's NLL by this prior's misfit.
    """
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or not np.all(np.isfinite(z)):
        raise ValueError(f"fit_prior needs finite codes [n, d]; got shape {z.shape}")
    if num_steps < 0:
        raise ValueError(f"fit_prior needs num_steps >= 0; got {num_steps}")
    batch = int(recipe["train.batch_size"])
    prior = nn.GridPrior(z.shape[1], num_cells, param_scale=float(recipe["model.prior_lr_scale"]))
    prior.fit_quantiles(z)
    model = _PriorOnly(prior)
    optimizer = nnx.Optimizer(model, _optimizer(recipe), wrt=nnx.Param)
    step = qtrain.make_train_step(grid_flow_objective(recipe))
    graphdef, state = nnx.split((model, optimizer))
    step = jax.jit(step)
    rng = np.random.default_rng(seed)
    key = jax.random.key(seed)
    for _ in range(num_steps):
        idx = rng.integers(0, len(z), batch)
        state, _ = step(graphdef, state, data.Batch(z[idx], z[idx]), key)
    model, _ = nnx.merge(graphdef, state)
    return model.prior


def _num_cells(recipe: Recipe, arch: Architecture) -> int:
    k = int(recipe["model.grid_cells"])
    if k == 0:
        k = int(arch.options.get("cells_per_axis", 0) or 0)
        if k == 0:
            raise ValueError(
                "grid_flow needs the number of cells per axis: set model.grid_cells (> 0); "
                "this experiment does not pass one"
            )
    if k < 2:
        raise ValueError(f"model.grid_cells must be >= 2; got {k}")
    return k


def _build(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    if arch.network != "mlp" or len(arch.input_shape) != 1:
        raise ValueError("grid_flow runs on vector data only (an invertible flow on R^d)")
    d = arch.input_shape[0]
    if d != arch.num_latents:
        raise ValueError(
            f"grid_flow is an invertible map: model.num_latents must equal the data dimension "
            f"({d}); got {arch.num_latents}"
        )
    width = int(recipe["model.flow_width"])
    layers = int(recipe["model.flow_layers"])
    if width < 1 or layers < 1:
        raise ValueError(
            f"model.flow_width and model.flow_layers must be >= 1; got {width}, {layers}"
        )
    # restart `start` of `num_starts` (experiments.synthetic's train.restarts) starts the flow
    # from its own fixed rotation; restart 0 is the identity
    start, num_starts = int(arch.options.get("start", 0)), int(arch.options.get("num_starts", 1))
    model = parts.create(
        nn.GridFlow,
        d,
        _num_cells(recipe, arch),
        num_layers=layers,
        hidden=(width, width),
        prior_lr_scale=float(recipe["model.prior_lr_scale"]),
        rotation=nn.start_rotation(d, start, num_starts, seed),
        seed=seed,
    )
    optimizer = nnx.Optimizer(model, _optimizer(recipe), wrt=nnx.Param)
    objective = grid_flow_objective(recipe)
    return Built(model, (model, optimizer), qtrain.make_train_step(objective), objective)


register(
    Method(
        name="grid_flow",
        summary="affine coupling flow fitted by maximum likelihood under a learnable soft "
        "axis-aligned grid prior (seed 000's model as a likelihood); exact inverse as decoder",
        reference="Barin-Pacela et al., On the Identifiability of Quantized Factors, CLeaR 2024 "
        "(the grid model); qdjax's maximum-likelihood estimator, settings chosen on synthetic "
        "tuning seeds 0-3 (experiments/synthetic/README.md)",
        data=frozenset({"vector"}),
        defaults={
            "model.grid_cells": 0,
            "model.flow_layers": 12,
            "model.flow_width": 128,
            # the prior moves 10x faster than the flow and its edges end sharp (tau 0.001):
            # with the earlier 1.0 / 0.01 the recipe's prior, fitted to the *true* latents,
            # stayed 0.12-0.34 nats above the true model's NLL (above the fitted flows on 7 of
            # 10 evaluation seeds), so the likelihood did not prefer the truth; with 10 / 0.001
            # it is within 0.005-0.05 (fit_prior; experiments/synthetic/README.md)
            "model.prior_lr_scale": 10.0,
            "loss.grid_temperature": 0.001,
            "loss.grid_temperature_start": 0.1,
            "loss.prior_steps": 0,
            "loss.warmup_steps": 0,
            "loss.ramp_steps": 1500,
            "train.batch_size": 512,
            "train.learning_rate": 3e-4,
            "train.lr_decay_steps": 3000,
            "train.clip_norm": 10.0,
            "train.weight_decay": 0.0,
        },
        build=_build,
    )
)

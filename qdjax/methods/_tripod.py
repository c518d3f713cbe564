"""Tripod, BioAE and additive decoders in the registry (kernels: qdjax.losses._tripod,
qdjax.losses._bioae; modules: qdjax.nn._tripod, qdjax.nn._additive)."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from qdjax import losses
from qdjax import train as qtrain
from qdjax._src.typing import Array
from qdjax.methods import _parts as parts
from qdjax.methods._registry import Architecture, Built, Method, Recipe, register
from qdjax.nn._additive import additive_autoencoder
from qdjax.nn._tripod import tripod

_BOTH = frozenset({"vector", "image"})
_IMAGES = ("shapes3d", "mpi3d", "dsprites", "falcor3d", "isaac3d")


class TripodForward(NamedTuple):
    """The Tripod model's output plus its two per-example regularizers."""

    x_hat: Array
    z: Array
    z_continuous: Array
    z_quantized: Array
    indices: Array
    multiinformation: Array
    hessian_penalty: Array


def tripod_forward(*, num_perturbations: int, epsilon: float):
    """`forward(model, batch, key)` computing Tripod's kernels as its authors do: the
    multi-information of the quantized latents and the Hessian penalty of the decoder
    activations, both with the scale `std(z_continuous) + 1e-6` of the batch."""

    def forward(model, batch, key):
        out = model(batch.x)
        scale = jnp.std(out.z_continuous, axis=0) + 1e-6
        mi = losses.kernel_multiinformation(out.z, scale=scale)
        hp = losses.normalized_hessian_penalty(
            model.decoder_activations,
            out.z,
            key,
            scale=scale,
            num_perturbations=num_perturbations,
            epsilon=epsilon,
        )
        return TripodForward(*out, multiinformation=mi, hessian_penalty=hp.normalized)

    return forward


def _build_tripod(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    kw = {"hidden": parts.hidden(arch)} if arch.network == "mlp" else parts.conv_kwargs(arch)
    if arch.network == "conv" and recipe["model.residual"]:  # the authors' nets, our widths
        kw["architecture"] = "residual"
    model = parts.create(
        tripod,
        arch.input_shape,
        arch.num_latents,
        num_values=recipe["model.num_values"],
        network=arch.network,
        **kw,
        seed=seed,
    )
    objective = qtrain.make_objective(
        parts.reconstruction(recipe),
        qtrain.Term(
            "multiinformation",
            lambda out, b: jnp.mean(out.multiinformation),
            recipe["loss.multiinformation_weight"],
        ),
        qtrain.Term(
            "hessian_penalty",
            lambda out, b: jnp.mean(out.hessian_penalty),
            recipe["loss.hessian_penalty_weight"],
        ),
        forward=tripod_forward(
            num_perturbations=recipe["loss.num_perturbations"], epsilon=recipe["loss.epsilon"]
        ),
    )
    return parts.single_optimizer(model, recipe, objective)


# kylehkhsu/tripod configs/train_autoencoder.yaml: lr 2e-4, weight decay 0, clip 1, batch 64,
# 12 values per latent, 2 perturbations, epsilon 0.1, weights per dataset (its sweeper block and
# the "good hyperparameters for other datasets" comment).
_TRIPOD_WEIGHTS = {
    "shapes3d": (1e-4, 1e-2),
    "mpi3d": (1e-8, 1e-4),
    "falcor3d": (1e-10, 1e-2),
    "isaac3d": (1e-4, 1e-8),
}

register(
    Method(
        name="tripod",
        summary="FSQ-style tanh-round latents + kernel multi-information + normalized Hessian "
        "penalty (Hsu et al., ICML 2024)",
        reference="kylehkhsu/tripod configs/train_autoencoder.yaml, "
        "disentangle/models/autoencoder.py and disentangle/nn/{encoder,decoder}.py; weights "
        "on synthetic/balls/dsprites are the shapes3d values (not tuned)",
        data=_BOTH,
        defaults={
            "model.num_values": 12,
            # conv data: the authors' residual encoder/decoder (AdaIN-conditioned decoder,
            # Hessian penalty on its cond, block0..2) with the experiment's stage widths
            # (default 32-64-128-256); False: the experiment's conv family (penalty on logits)
            "model.residual": True,
            "loss.multiinformation_weight": 1e-4,
            "loss.hessian_penalty_weight": 1e-2,
            "loss.num_perturbations": 2,
            "loss.epsilon": 0.1,
            "train.learning_rate": 2e-4,
            "train.weight_decay": 0.0,
            "train.clip_value": 1.0,
        },
        dataset_defaults={
            d: {
                "loss.multiinformation_weight": _TRIPOD_WEIGHTS.get(d, (1e-4, 1e-2))[0],
                "loss.hessian_penalty_weight": _TRIPOD_WEIGHTS.get(d, (1e-4, 1e-2))[1],
                "train.batch_size": 64,
            }
            for d in _IMAGES
        },
        build=_build_tripod,
    )
)


def _build_bioae(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    model = parts.autoencoder_model("ae", recipe, arch, seed)
    objective = qtrain.make_objective(
        parts.reconstruction(recipe),
        qtrain.latent_term(
            "nonnegativity", losses.nonnegativity_penalty, weight=recipe["loss.nonnegative_weight"]
        ),
        qtrain.latent_term(
            "activity", losses.activity_penalty, weight=recipe["loss.activity_weight"]
        ),
    )
    return parts.single_optimizer(model, recipe, objective)


register(
    Method(
        name="bioae",
        summary="AE + non-negativity and activity-energy penalties on the latents, weight "
        "energy as AdamW decay (Whittington et al. 2023; QLAE paper baseline)",
        reference="kylehkhsu/latent_quantization configs/model_partial/bio_ae.yaml "
        "(nonnegative 1, activity 0.1, l2 1e-4) and configs/params/bio_ae/*.yaml (activity 1e-2 "
        "on shapes3d, mpi3d, falcor3d; 0.1 on isaac3d); optimizer lr 1e-3, clip 1, batch 128",
        data=_BOTH,
        defaults={
            "loss.nonnegative_weight": 1.0,
            "loss.activity_weight": 0.1,
            "train.weight_decay": 1e-4,
        },
        dataset_defaults={
            d: {
                "loss.activity_weight": 0.1 if d in ("isaac3d", "dsprites") else 1e-2,
                "train.learning_rate": 1e-3,
                "train.clip_value": 1.0,
                "train.batch_size": 128,
            }
            for d in _IMAGES
        },
        build=_build_bioae,
    )
)


def _build_additive(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    if arch.network != "mlp":
        raise ValueError("additive needs an MLP architecture (vector data); no conv version yet")
    model = parts.create(
        additive_autoencoder,
        arch.input_shape,
        arch.num_latents,
        block_size=recipe["model.block_size"],
        hidden=parts.hidden(arch),
        seed=seed,
    )
    objective = qtrain.make_objective(parts.reconstruction(recipe), *parts.extra_cliff(recipe))
    return parts.single_optimizer(model, recipe, objective)


register(
    Method(
        name="additive",
        summary="AE whose decoder is a sum of per-block MLP decoders (Lachapelle et al. 2023)",
        reference="Lachapelle et al., NeurIPS 2023 (divyat09/additive_decoder_extrapolation); "
        "the Cliff paper's additive-decoder baseline; MLP version, common optimizer (not tuned)",
        data=frozenset({"vector"}),
        defaults={"model.block_size": 1, "loss.cliff_weight": 0.0},
        build=_build_additive,
    )
)

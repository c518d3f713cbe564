"""FactorQVAE and FactorVAE in the registry: a model with a total-correlation discriminator,
trained by :func:`qdjax.train.make_discriminator_train_step` (one half of each batch updates the
model, the other the discriminator). Kernels: `qdjax.losses._factorqvae`; modules:
`qdjax.nn._factorqvae`.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from qdjax import losses
from qdjax import train as qtrain
from qdjax.methods import _parts as parts
from qdjax.methods._registry import Architecture, Built, Method, Recipe, register
from qdjax.nn._factorqvae import factorqvae, factorvae

_BOTH = frozenset({"vector", "image"})
_IMAGES = ("shapes3d", "mpi3d", "dsprites", "falcor3d", "isaac3d")


def cosine_annealing(learning_rate: float, period: int, minimum: float):
    """PyTorch's `CosineAnnealingLR(T_max=period, eta_min=minimum)` stepped once per update,
    in closed form (periodic past `period`, as PyTorch's is); `period=0`: constant."""
    lr, period, minimum = float(learning_rate), int(period), float(minimum)
    if period <= 0:
        return lr

    def schedule(count):
        t = jnp.asarray(count, jnp.float32)
        return minimum + (lr - minimum) * 0.5 * (1.0 + jnp.cos(math.pi * t / period))

    return schedule


def _optimizers(model, recipe: Recipe):
    def tx(prefix: str):
        return qtrain.make_optimizer(
            learning_rate=cosine_annealing(
                recipe[f"train.{prefix}learning_rate"],
                recipe["train.lr_period"],
                recipe["train.lr_min"],
            ),
            b1=recipe[f"train.{prefix}b1"],
            b2=recipe[f"train.{prefix}b2"],
            weight_decay=recipe["train.weight_decay"] if not prefix else 0.0,
            clip_value=recipe["train.clip_value"] or None,
        )

    return qtrain.make_discriminator_optimizers(model, tx(""), tx("discriminator_"))


def _network_kwargs(arch: Architecture) -> dict:
    return {"hidden": parts.hidden(arch)} if arch.network == "mlp" else parts.conv_kwargs(arch)


def _build_factorqvae(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    model = parts.create(
        factorqvae,
        arch.input_shape,
        arch.num_latents,
        num_values=recipe["model.num_values"],
        network=arch.network,
        discriminator_width=recipe["model.discriminator_width"],
        discriminator_depth=recipe["model.discriminator_depth"],
        **_network_kwargs(arch),
        seed=seed,
    )
    scale = parts.latent_scale(recipe, arch)  # "mean": over latents, as the authors' `.mean()`

    def kl(out, batch):
        return jnp.mean(jnp.sum(losses.uniform_kl(out.logits), axis=-1)) * scale

    rate = recipe["loss.temperature_decay"]

    def forward(model, batch, key, step):
        # The authors' DecayTemperature reads Lightning's `global_step`, which with manual
        # optimization counts the steps of *both* optimizers: 2 per update (so their
        # `max_steps: 100000` is 50k updates, matching the cosine period of 50k updates).
        temperature = losses.gumbel_temperature(2 * step, rate=rate)
        return model(batch.x, key=key, temperature=temperature)

    step = qtrain.make_discriminator_train_step(
        [parts.reconstruction(recipe), qtrain.Term("uniform_kl", kl, recipe["loss.kl_weight"])],
        forward=forward,
        gamma=recipe["loss.gamma"],
    )
    model_opt, disc_opt = _optimizers(model, recipe)
    return Built(model, (model, model_opt, disc_opt), step)


def _build_factorvae(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    model = parts.create(
        factorvae,
        arch.input_shape,
        arch.num_latents,
        network=arch.network,
        discriminator_width=recipe["model.discriminator_width"],
        discriminator_depth=recipe["model.discriminator_depth"],
        **_network_kwargs(arch),
        seed=seed,
    )

    def forward(model, batch, key, step):
        del step
        return model(batch.x, key=key)

    step = qtrain.make_discriminator_train_step(
        [parts.reconstruction(recipe), parts.kl(recipe, recipe["loss.beta"])],
        forward=forward,
        gamma=recipe["loss.gamma"],
    )
    model_opt, disc_opt = _optimizers(model, recipe)
    return Built(model, (model, model_opt, disc_opt), step)


_DISCRIMINATOR_OPTIM = {
    "train.weight_decay": 0.0,
    "train.clip_value": 0.0,
    "train.b1": 0.9,
    "train.b2": 0.999,
    "train.lr_min": 0.0,
    "train.lr_period": 0,
}

# ituvisionlab/FactorQVAE configs/<dataset>/factorqvae.yaml and train.py: codebook 64 values,
# Gumbel temperature exp(-1e-5 global_step), MSE averaged over pixels, Adam lr 1e-3 for both
# networks with CosineAnnealingLR(T_max 50000 updates, eta_min 1.25e-6), batch 512 split
# 256 / 256, max_steps 100k Lightning steps = 50k updates (two optimizer steps per update);
# (kl_weight, gamma): Shapes3D (1e-3, 1e-4), MPI3D-complex (5e-5, 1e-6), Isaac3D (5e-5, 5e-5).
_FACTORQVAE_WEIGHTS = {
    "shapes3d": (1e-3, 1e-4),
    "mpi3d": (5e-5, 1e-6),
    "isaac3d": (5e-5, 5e-5),
}

register(
    Method(
        name="factorqvae",
        summary="one global scalar codebook (64 values) with a Gumbel-softmax relaxation, KL to "
        "uniform, and a TC discriminator on per-latent shuffled codes (Baykal et al. 2024)",
        reference="ituvisionlab/FactorQVAE: models/factor_qvae.py, quantizers/"
        "relaxed_vq_quantizer.py, train.py (DecayTemperature), configs/*/factorqvae.yaml; "
        "weights on synthetic/balls/dsprites/falcor3d are the Shapes3D values (not tuned); "
        "qdjax's MLP/conv nets, not the authors' residual nets",
        data=_BOTH,
        defaults={
            **_DISCRIMINATOR_OPTIM,
            "model.num_values": 64,
            "model.discriminator_width": 1000,
            "model.discriminator_depth": 5,
            "loss.kl_weight": 1e-3,
            "loss.gamma": 1e-4,
            "loss.temperature_decay": 1e-5,
            "train.learning_rate": 1e-3,
            "train.discriminator_learning_rate": 1e-3,
            "train.discriminator_b1": 0.9,
            "train.discriminator_b2": 0.999,
            "train.lr_period": 50_000,
            "train.lr_min": 1.25e-6,
            "train.batch_size": 512,
        },
        dataset_defaults={
            **{
                d: {
                    "loss.likelihood": "gaussian",  # F.mse_loss: squared error, pixel mean
                    "loss.kl_weight": _FACTORQVAE_WEIGHTS.get(d, (1e-3, 1e-4))[0],
                    "loss.gamma": _FACTORQVAE_WEIGHTS.get(d, (1e-3, 1e-4))[1],
                }
                for d in _IMAGES
            },
            "balls": {"loss.likelihood": "gaussian", "train.batch_size": 64},
        },
        build=_build_factorqvae,
    )
)

register(
    Method(
        name="factorvae",
        summary="Gaussian VAE + γ · density-ratio TC of a discriminator on per-latent shuffled "
        "samples (Kim & Mnih 2018)",
        reference="Kim & Mnih, ICML 2018 (Algorithm 1; discriminator 6 x 1000 LeakyReLU 0.2; "
        "VAE Adam 1e-4 (0.9, 0.999), discriminator Adam 1e-4 (0.5, 0.9), batch 64 per update; "
        "KL weight 1, summed Bernoulli likelihood); γ 6.4 as in the common reference "
        "reimplementation 1Konny/FactorVAE (dSprites); synthetic: lr 1e-3, not tuned",
        data=_BOTH,
        defaults={
            **_DISCRIMINATOR_OPTIM,
            "model.discriminator_width": 1000,
            "model.discriminator_depth": 6,
            "loss.beta": 1.0,
            "loss.gamma": 6.4,
            "train.learning_rate": 1e-4,
            "train.discriminator_learning_rate": 1e-4,
            "train.discriminator_b1": 0.5,
            "train.discriminator_b2": 0.9,
            "train.batch_size": 128,
        },
        dataset_defaults={
            **{d: {"loss.reduction": "sum"} for d in _IMAGES},
            "balls": {"loss.reduction": "sum", "train.batch_size": 64},
            "synthetic": {
                "train.learning_rate": 1e-3,
                "train.discriminator_learning_rate": 1e-3,
                "train.batch_size": 512,
            },
        },
        build=_build_factorvae,
    )
)

"""The registered methods. Each entry: model family, objective terms, optimizer recipe, and
per-dataset defaults with their source.

Sources of the image defaults: kylehkhsu/latent_quantization (QLAE, Hsu et al. NeurIPS 2023;
`configs/train_ae.yaml`, `configs/train_gan.yaml`, `configs/model_partial/*.yaml`,
`configs/params/<model>/<dataset>.yaml`): learning rate 1e-3, element-wise clipping at 1,
batch 128, reconstruction = BCE averaged over pixels with every other weight relative to
that mean. Synthetic values were tuned in this repository (experiments/synthetic/README.md).
"""

from __future__ import annotations

from qdjax import nn
from qdjax import train as qtrain
from qdjax.data._balls import IMAGE_SIZE as _BALLS_SIZE
from qdjax.methods import _parts as parts
from qdjax.methods._registry import Architecture, Built, Method, Recipe, register

_VECTOR, _IMAGE, _BOTH = frozenset({"vector"}), frozenset({"image"}), frozenset({"vector", "image"})
_QLAE_CODE = "kylehkhsu/latent_quantization (Hsu et al., NeurIPS 2023)"
_IMAGES = ("shapes3d", "mpi3d", "dsprites", "falcor3d", "isaac3d")
# The QLAE code's optimizer for every image model: lr 1e-3, element-wise clip 1, batch 128.
_QLAE_OPTIM = {"train.learning_rate": 1e-3, "train.clip_value": 1.0, "train.batch_size": 128}
_CLIFF_KEYS = {"loss.cliff_weight": 0.0}  # > 0 adds the default Cliff regularizer to any model
# One β on Balls = β 1 relative to the *summed* reconstruction (how experiments/qlae always ran),
# written in the pixel-mean units the recipe uses on images.
_BALLS_BETA = 1.0 / (_BALLS_SIZE * _BALLS_SIZE * 3)


def _per_dataset(values: dict, **per: dict) -> dict:
    """`{dataset: values | per[dataset]}` for the authors' image datasets."""
    return {d: {**values, **per.get(d, {})} for d in _IMAGES}


# --------------------------------------------------------------------------- builders


def _build_ae(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    model = parts.autoencoder_model("ae", recipe, arch, seed)
    terms = [parts.reconstruction(recipe), *parts.extra_cliff(recipe)]
    return parts.single_optimizer(model, recipe, qtrain.make_objective(*terms))


def _build_regularized(name: str):
    def build(recipe: Recipe, arch: Architecture, seed: int) -> Built:
        model = parts.autoencoder_model("ae", recipe, arch, seed)
        terms = [parts.reconstruction(recipe), parts.regularizer(name, recipe)]
        return parts.single_optimizer(model, recipe, qtrain.make_objective(*terms))

    return build


def _build_vae(tc: bool):
    def build(recipe: Recipe, arch: Architecture, seed: int) -> Built:
        model = parts.autoencoder_model("vae", recipe, arch, seed)
        terms = [parts.reconstruction(recipe)]
        if tc:  # KL + (β − 1) TC: Chen et al.'s α = γ = 1 decomposition
            terms += [parts.kl(recipe, 1.0), parts.total_correlation(recipe, arch)]
        else:
            terms.append(parts.kl(recipe, recipe["loss.beta"]))
        terms += parts.extra_cliff(recipe)
        return parts.single_optimizer(model, recipe, qtrain.make_objective(*terms))

    return build


def _build_quantized(family: str):
    def build(recipe: Recipe, arch: Architecture, seed: int) -> Built:
        model = parts.autoencoder_model(family, recipe, arch, seed)
        terms = [parts.reconstruction(recipe), *parts.quantization(recipe, arch)]
        if family == "qlvae":
            terms.append(parts.kl(recipe, recipe["loss.beta"]))
        terms += parts.extra_cliff(recipe)
        return parts.single_optimizer(model, recipe, qtrain.make_objective(*terms))

    return build


def _build_qlinfowgan(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    if arch.network != "conv":
        raise ValueError("qlinfowgan needs a conv architecture (image data)")
    model = parts.create(
        nn.qlinfowgan,
        arch.input_shape,
        arch.num_latents,
        num_values=recipe["model.num_values"],
        **parts.conv_kwargs(arch),
        seed=seed,
    )

    def tx():
        return qtrain.make_optimizer(
            learning_rate=recipe["train.learning_rate"],
            weight_decay=recipe["train.weight_decay"],
            b1=recipe["train.b1"],
            b2=recipe["train.b2"],
            clip_value=recipe["train.clip_value"] or None,
        )

    critic_opt, gen_opt = qtrain.make_gan_optimizers(model, tx(), tx())
    step = qtrain.make_gan_train_step(
        n_critic=recipe["loss.n_critic"],
        gp_weight=recipe["loss.gradient_penalty_weight"],
        info_weight=recipe["loss.info_weight"],
    )
    return Built(model, (model, critic_opt, gen_opt), step)


# ---------------------------------------------------------------------------- entries

register(
    Method(
        name="ae",
        summary="deterministic autoencoder, reconstruction only",
        reference=f"baseline; image optimizer from {_QLAE_CODE} (configs/params/ae: l2 1e-3)",
        data=_BOTH,
        defaults=dict(_CLIFF_KEYS),
        dataset_defaults=_per_dataset({**_QLAE_OPTIM, "train.weight_decay": 1e-3}),
        build=_build_ae,
    )
)

register(
    Method(
        name="betavae",
        summary="Gaussian VAE, KL weighted by loss.beta (Higgins et al. 2017)",
        reference=f"Higgins et al., ICLR 2017; image β per dataset from {_QLAE_CODE} "
        "(configs/params/vae: kl 3 shapes3d, 0.1 mpi3d, 10 falcor3d, 0.3 isaac3d; weight "
        "relative to the pixel-mean BCE)",
        data=_BOTH,
        defaults={"loss.beta": 1.0, **_CLIFF_KEYS},
        dataset_defaults={
            # beta in {0.01, 0.1, 1} on seed 0 (2000 steps): MCC 0.842 / 0.828 / 0.638.
            "synthetic": {"loss.beta": 0.01},
            "balls": {"loss.beta": _BALLS_BETA},
            **_per_dataset(
                {**_QLAE_OPTIM, "train.weight_decay": 0.0, "loss.beta": 3.0},
                mpi3d={"loss.beta": 0.1},
                falcor3d={"loss.beta": 10.0},
                isaac3d={"loss.beta": 0.3},
            ),
        },
        build=_build_vae(tc=False),
    )
)

register(
    Method(
        name="betatcvae",
        summary="Gaussian VAE + (β − 1) · total correlation (Chen et al. 2018)",
        reference=f"Chen et al., NeurIPS 2018; image β per dataset from {_QLAE_CODE} "
        "(configs/params/tcvae: total_correlation 3 shapes3d, 0.3 mpi3d, 3 falcor3d, 1 isaac3d)",
        data=_BOTH,
        defaults={"loss.beta": 6.0, **_CLIFF_KEYS},  # Chen et al.'s dSprites value
        dataset_defaults={
            "balls": {"loss.beta": 1.0 + _BALLS_BETA},
            **_per_dataset(
                {**_QLAE_OPTIM, "train.weight_decay": 0.0, "loss.beta": 3.0},
                mpi3d={"loss.beta": 0.3},
                isaac3d={"loss.beta": 1.0},
            ),
        },
        build=_build_vae(tc=True),
    )
)

_REG = {"loss.regularizer_weight": 1.0, "loss.warmup_steps": 0, "loss.ramp_steps": 0}
# Cliff's synthetic schedule: AE warm-up (1000 steps), then a linear ramp over 1000 steps to
# weight 0.1 at batch 512; chosen on seeds 0 and 1 over weight {0.03, 0.1, 1, 10} (README.md).
CLIFF_SYNTHETIC = {
    "loss.regularizer_weight": 0.1,
    "loss.warmup_steps": 1000,
    "loss.ramp_steps": 1000,
    "train.batch_size": 512,
}

# Cliff's Balls schedule (experiments/qlae/balls_cliff.sh): at batch 32 Silverman's bandwidth
# on the standardized codes is ~0.5 and the term barely moves (4.16 -> 4.14 in 1500 steps);
# batch 128 with a fixed bandwidth 0.15 and 200 AE steps, then a 200-step ramp, moves it
# 4.2-4.3 -> 3.6-3.8 by step 800 (weight 1 chosen on seed 0 over {0.1, 0.3, 1}).
CLIFF_BALLS = {
    "train.batch_size": 128,
    "loss.cliff_bandwidth": 0.15,
    "loss.warmup_steps": 200,
    "loss.ramp_steps": 200,
}
# Cliff's term weights and bandwidth, shared by `cliff` and `cliff_rank`.
_CLIFF_TERMS = {
    "loss.cliff_univariate": 1.0,
    "loss.cliff_bivariate": 1.0,
    "loss.cliff_uniform": 1.0,
    "loss.cliff_bandwidth": 0.0,  # 0 = Silverman's rule
}

register(
    Method(
        name="cliff",
        summary="AE + Cliff regularizer (KDE cliffs; qdjax.losses.cliff_loss), warm-up then ramp",
        reference="Cliff paper (seed 001); synthetic recipe tuned in experiments/synthetic "
        "(README: seeds 0 and 1, 3000 steps)",
        data=_BOTH,
        defaults={**_REG, **_CLIFF_TERMS},
        dataset_defaults={"synthetic": dict(CLIFF_SYNTHETIC), "balls": dict(CLIFF_BALLS)},
        build=_build_regularized("cliff"),
        schedule_keys=("loss.warmup_steps", "loss.regularizer_weight"),
    )
)

register(
    Method(
        name="cliff_rank",
        summary="AE + Cliff regularizer on soft ranks (blind to monotone warps), warm-up then ramp",
        reference="Cliff (seed 001) on the copula: qdjax.losses.soft_rank; the truth beats "
        "rotations and trained codes on 8 of 12 evaluation pairs (experiments/synthetic/"
        "results/consistency_rank.md)",
        data=_BOTH,
        defaults={
            **_REG,
            **_CLIFF_TERMS,  # the bandwidth applies to the soft ranks
            "loss.rank_bandwidth": 0.05,  # soft-rank KDE bandwidth, relative to each axis's std
        },
        dataset_defaults={"synthetic": dict(CLIFF_SYNTHETIC), "balls": dict(CLIFF_BALLS)},
        build=_build_regularized("cliff_rank"),
        schedule_keys=("loss.warmup_steps", "loss.regularizer_weight"),
    )
)

register(
    Method(
        name="hfs",
        summary="AE + Hausdorff factorized support (Roth et al. 2023)",
        reference="Roth et al., ICLR 2023; weight tuned on the synthetic task",
        data=_BOTH,
        # weight in {0.1, 1, 10} on seed 0 (2000 steps): MCC 0.678 / 0.573 / 0.504.
        # The penalty reads at most 256 rows of the batch (its cost is cubic in the batch;
        # Roth et al. use batches of 64-256); 0 = the whole batch.
        defaults={**_REG, "loss.hfs_batch": 256},
        dataset_defaults={"synthetic": {"loss.regularizer_weight": 0.1}},
        build=_build_regularized("hfs"),
        schedule_keys=("loss.warmup_steps", "loss.regularizer_weight"),
    )
)

register(
    Method(
        name="ioss",
        summary="AE + independence-of-support penalty (Wang & Jordan 2021)",
        reference="Wang & Jordan 2021; weight tuned on the synthetic task",
        data=_BOTH,
        # weight in {0.1, 1, 10} on seed 0 (2000 steps): MCC 0.794 / 0.764 / 0.588.
        defaults=dict(_REG),
        dataset_defaults={"synthetic": {"loss.regularizer_weight": 0.1}},
        build=_build_regularized("ioss"),
        schedule_keys=("loss.warmup_steps", "loss.regularizer_weight"),
    )
)

register(
    Method(
        name="ioss_cliff",
        summary="AE + IOSS + Cliff (one weight for both terms), Cliff's warm-up then ramp",
        reference="IOSS (Wang & Jordan 2021) plus Cliff (seed 001); weight 0.1 chosen by "
        "experiments/synthetic's protocol on tuning seeds 0-1: between IOSS and Cliff on the "
        "2-D evaluation seeds (85.0 MCC; README 'IOSS plus Cliff')",
        data=_VECTOR,
        defaults={**_REG, **_CLIFF_TERMS},
        dataset_defaults={"synthetic": dict(CLIFF_SYNTHETIC)},
        build=_build_regularized("ioss_cliff"),
        schedule_keys=("loss.warmup_steps", "loss.regularizer_weight"),
    )
)


def _build_cliff_on_ioss(recipe: Recipe, arch: Architecture, seed: int) -> Built:
    model = parts.autoencoder_model("ae", recipe, arch, seed)
    ioss = qtrain.latent_term(
        "ioss", parts.ioss_kernel(recipe), weight=float(recipe["loss.regularizer_weight"])
    )
    terms = [parts.reconstruction(recipe), ioss, parts.regularizer("cliff", recipe)]
    return parts.single_optimizer(model, recipe, qtrain.make_objective(*terms))


register(
    Method(
        name="cliff_on_ioss",
        summary="AE + IOSS from the first update + Cliff after its warm-up and ramp (one weight "
        "for both terms)",
        reference="IOSS (Wang & Jordan 2021) plus Cliff (seed 001): unlike `ioss_cliff`, the "
        "support term shapes the code during Cliff's AE warm-up; weight 0.1 chosen by "
        "experiments/synthetic's protocol on tuning seeds 0-1: 94.0 MCC on the 2d_smooth "
        "evaluation seeds, +0.2 [-0.8, +1.3] over IOSS alone at the same batch (the Cliff term "
        "adds nothing measurable), 83.4 on 2d (-1.0 [-3.3, +1.1] against IOSS at batch 512); on "
        "fresh 2d_smooth seeds 110-119 77.6, -5.0 [-8.3, -1.8] against IOSS at batch 512 "
        "(README 'Cliff on top of IOSS', 'Ten more evaluation seeds')",
        data=_VECTOR,
        defaults={**_REG, **_CLIFF_TERMS},
        dataset_defaults={"synthetic": dict(CLIFF_SYNTHETIC)},
        build=_build_cliff_on_ioss,
        schedule_keys=("loss.warmup_steps", "loss.regularizer_weight"),
    )
)

_QUANT = {
    "model.num_values": 10,
    "model.quantizer": "latent",
    "loss.quantization_weight": 0.01,
    "loss.commitment_weight": 0.01,
    "train.weight_decay": 0.1,
    "train.clip_value": 1.0,
    **_CLIFF_KEYS,
}

register(
    Method(
        name="qlae",
        summary="quantized-latent AE: per-latent scalar codebooks, quantization + commitment, "
        "AdamW weight decay 0.1",
        reference=f"{_QLAE_CODE}: configs/model_partial/quantized_ae.yaml, "
        "configs/params/quantized_ae/*.yaml (l2 0.1; 0.001 on mpi3d)",
        data=_BOTH,
        defaults=dict(_QUANT),
        dataset_defaults=_per_dataset(_QLAE_OPTIM, mpi3d={"train.weight_decay": 1e-3}),
        build=_build_quantized("qlae"),
    )
)

register(
    Method(
        name="qlvae",
        summary="QLAE with a Gaussian posterior (adds β · KL)",
        reference=f"{_QLAE_CODE} (QLVAE)",
        data=_BOTH,
        defaults={**_QUANT, "loss.beta": 1.0},
        dataset_defaults={"balls": {"loss.beta": _BALLS_BETA}, **_per_dataset(_QLAE_OPTIM)},
        build=_build_quantized("qlvae"),
    )
)

register(
    Method(
        name="qlinfowgan",
        summary="QLInfoWGAN-GP: generator on quantized codes, critic with a latent head",
        reference=f"{_QLAE_CODE}: configs/train_gan.yaml, model_partial/quantized_info_gan.yaml "
        "(lr 2e-4, betas (0, 0.9), clip 1, 5 critic steps, GP 10, latent 200, l2 1e-3, batch 64)",
        data=_IMAGE,
        defaults={
            "model.num_values": 10,
            "loss.n_critic": 5,
            "loss.gradient_penalty_weight": 10.0,
            "loss.info_weight": 200.0,
            "train.learning_rate": 2e-4,
            "train.b1": 0.0,
            "train.b2": 0.9,
            "train.weight_decay": 1e-3,
            "train.clip_value": 1.0,
            # 64 per critic update as the authors; qdjax's GAN step splits one batch into
            # n_critic micro-batches (qdjax.train.gan), hence 5 x 64.
            "train.batch_size": 320,
        },
        build=_build_qlinfowgan,
    )
)

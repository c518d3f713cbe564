"""Shared parts the registry's methods are built from: networks, objective terms, optimizers.

Every builder reads only its recipe and the experiment's :class:`Architecture`, so adding a
method is one registry entry plus its kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from qdjax import losses, nn
from qdjax import train as qtrain
from qdjax.methods._registry import Architecture, Built, Recipe

# ------------------------------------------------------------------------------ networks


def conv_kwargs(arch: Architecture) -> dict:
    """`architecture/channels/dense/depth` keywords of the conv factories (None = default)."""
    o = dict(arch.options)
    return {
        "architecture": o.get("architecture", "qlae"),
        "channels": tuple(o["channels"]) if o.get("channels") else None,
        "dense": tuple(o["dense"]) if o.get("dense") else None,
        "depth": o.get("depth") or None,
    }


def hidden(arch: Architecture) -> tuple[int, ...]:
    return tuple(arch.options.get("hidden", (256, 256)))


def create(factory: Callable, *args, seed: int, **kwargs):
    """`factory(*args, **kwargs, rngs=nnx.Rngs(seed))` under one compiled initializer."""
    return nnx.jit(lambda: factory(*args, **kwargs, rngs=nnx.Rngs(seed)))()


def _mlp_qlvae(input_shape, num_latents, *, hidden, num_values, quantizer, rngs):
    vae = nn.mlp_autoencoder(input_shape, num_latents, hidden=hidden, variational=True, rngs=rngs)
    q = nn.make_quantizer(num_latents, kind=quantizer, num_values=num_values, rngs=rngs)
    return nn.QuantizedVAE(vae.encoder, q, vae.decoder)


def autoencoder_model(family: str, recipe: Recipe, arch: Architecture, seed: int):
    """`family` in ae | vae | qlae | qlvae, as an MLP or conv model per `arch.network`."""
    shape, width = arch.input_shape, arch.num_latents
    quant = {}
    if family in ("qlae", "qlvae"):
        quant = {"num_values": recipe["model.num_values"], "quantizer": recipe["model.quantizer"]}
    if arch.network == "mlp":
        h = hidden(arch)
        if family == "ae":
            return create(nn.mlp_autoencoder, shape, width, hidden=h, seed=seed)
        if family == "vae":
            return create(nn.mlp_autoencoder, shape, width, hidden=h, variational=True, seed=seed)
        if family == "qlae":
            return create(nn.mlp_qlae, shape, width, hidden=h, **quant, seed=seed)
        return create(_mlp_qlvae, shape, width, hidden=h, **quant, seed=seed)
    factory = {"ae": nn.conv_autoencoder, "vae": nn.conv_vae, "qlae": nn.qlae, "qlvae": nn.qlvae}
    if arch.options.get("dtype"):  # compute dtype ("bf16"): these conv factories take one
        quant["dtype"] = arch.options["dtype"]
    return create(factory[family], shape, width, **conv_kwargs(arch), **quant, seed=seed)


# --------------------------------------------------------------------------------- terms


def _elements(arch: Architecture) -> int:
    return math.prod(arch.input_shape)


def element_scale(recipe: Recipe, arch: Architecture) -> float:
    """1 / elements per example under `loss.reduction="mean"` (KL, TC), else 1."""
    return 1.0 / _elements(arch) if recipe["loss.reduction"] == "mean" else 1.0


def latent_scale(recipe: Recipe, arch: Architecture) -> float:
    """1 / num_latents under `loss.reduction="mean"` (codebook terms), else 1."""
    return 1.0 / arch.num_latents if recipe["loss.reduction"] == "mean" else 1.0


def reconstruction(recipe: Recipe) -> qtrain.Term:
    """The recipe's likelihood; `reduction="mean"` averages it over elements (QLAE)."""
    return qtrain.reconstruction_term(
        recipe["loss.likelihood"],
        weight=recipe["loss.reconstruction_weight"],
        per_element=recipe["loss.reduction"] == "mean",
    )


def quantization(recipe: Recipe, arch: Architecture) -> tuple[qtrain.Term, qtrain.Term]:
    s = latent_scale(recipe, arch)
    return qtrain.quantization_terms(
        quantization=recipe["loss.quantization_weight"] * s,
        commitment=recipe["loss.commitment_weight"] * s,
    )


def kl(recipe: Recipe, beta: float) -> qtrain.Term:
    """β · KL (summed over latents), relative to the reconstruction *as the recipe reduces it*.

    With `loss.reduction="mean"` that is the pixel-mean BCE, exactly as the QLAE authors' VAE
    baselines weight it (`configs/params/vae/*.yaml`: kl 3 against the pixel-mean BCE).
    """
    del recipe
    return qtrain.kl_term(weight=beta)


def total_correlation(recipe: Recipe, arch: Architecture) -> qtrain.Term:
    """(β − 1) · TC of the aggregate posterior (β-TCVAE with α = γ = 1; Chen et al. 2018)."""
    if arch.dataset_size < 2:
        raise ValueError("betatcvae needs architecture.dataset_size (number of training examples)")
    n = int(arch.dataset_size)

    def fn(out, batch):
        tc = losses.total_correlation(out.z, out.z_mean, out.z_logvar, dataset_size=n)
        return jnp.mean(tc)

    weight = recipe["loss.beta"] - 1.0  # in the reconstruction's units, as :func:`kl`
    return qtrain.Term("total_correlation", fn, weight)


def schedule(weight: float, warmup: int, ramp: int):
    """`weight`, or weight 0 for `warmup` updates then a linear ramp over `ramp` updates."""
    w, warm, ramp = float(weight), int(warmup), int(ramp)
    if warm == 0 and ramp == 0:
        return w

    def fn(step):
        frac = (jnp.asarray(step, jnp.float32) - warm + 1.0) / max(ramp, 1)
        return w * jnp.clip(frac, 0.0, 1.0)

    return fn


def _offdiagonal_mean(pairwise: Callable) -> Callable:
    def kernel(z):
        m = pairwise(z)
        d = m.shape[0]
        return jnp.sum(m) / max(d * (d - 1), 1)

    return kernel


def cliff_kernel(recipe: Recipe) -> Callable:
    """`cliff_loss` with the recipe's term weights and bandwidth (0 = Silverman's rule)."""
    weights = losses.CliffWeights(
        univariate=recipe["loss.cliff_univariate"],
        bivariate=recipe["loss.cliff_bivariate"],
        uniform=recipe["loss.cliff_uniform"],
    )
    bandwidth = recipe["loss.cliff_bandwidth"] or None
    return lambda z: losses.cliff_loss(z, bandwidth=bandwidth, weights=weights)


def cliff_rank_kernel(recipe: Recipe) -> Callable:
    """`cliff_kernel` on the batch's soft ranks (`losses.soft_rank`, `loss.rank_bandwidth`).

    Blind to every per-axis monotone warp of the code (the equivalence class of seed 000's
    identifiability), so narrow spikes, folds of a marginal and collapsed cells, which lower
    the plain Cliff loss below the truth's, cannot lower it; only the joint's axis-aligned
    structure counts (experiments/synthetic/results/consistency_rank.md)."""
    cliff = cliff_kernel(recipe)
    h = float(recipe["loss.rank_bandwidth"])
    return lambda z: cliff(losses.soft_rank(z, bandwidth=h))


def hfs_kernel(recipe: Recipe) -> Callable:
    """Pairwise HFS on at most `loss.hfs_batch` rows of the batch (0 = all of it).

    HFS costs `O(d^2 B^3)` (a min-plus product per latent pair); Roth et al. train with
    batches of 64-256, so on a larger batch the penalty reads a subset (the batch is already
    in random order, so the first rows are a uniform random subset)."""
    m = int(recipe.get("loss.hfs_batch", 0))
    pairwise = _offdiagonal_mean(losses.hfs_pairwise)
    return (lambda z: pairwise(z[:m])) if m > 0 else pairwise


def ioss_kernel(recipe: Recipe) -> Callable:
    """IOSS (`losses.ioss_pairwise`) averaged over the ordered latent pairs."""
    del recipe
    return _offdiagonal_mean(losses.ioss_pairwise)


class IossCliffTerms(NamedTuple):
    """`total = ioss + cliff` (what is minimized) and the two parts (logged as sub-terms)."""

    total: jax.Array
    ioss: jax.Array
    cliff: jax.Array


def ioss_cliff_kernel(recipe: Recipe) -> Callable:
    """IOSS plus Cliff on the same code: `ioss(z) + cliff(z)`, one weight for both.

    IOSS (support independence, pairwise mean) punishes rotations of a grid strongly but is
    indifferent to cliffs; Cliff (recipe's terms and bandwidth) rewards sharp axis-aligned
    density steps but its minimum is not the truth (experiments/synthetic/README.md); on the
    evaluation seeds the two fail on different seeds. Measured there (2-D, 3000 steps): the sum
    lands between its parts (85.0 MCC; IOSS 87.3, Cliff 83.2), not above the better one."""
    ioss, cliff = ioss_kernel(recipe), cliff_kernel(recipe)

    def kernel(z):
        i, c = ioss(z), cliff(z)
        return IossCliffTerms(i + c.total, i, c.total)

    return kernel


REGULARIZERS: dict[str, Callable[[Recipe], Callable]] = {
    "cliff": cliff_kernel,
    "cliff_rank": cliff_rank_kernel,
    "hfs": hfs_kernel,
    "ioss": ioss_kernel,
    "ioss_cliff": ioss_cliff_kernel,
}


def regularizer(name: str, recipe: Recipe) -> qtrain.Term:
    """The latent regularizer `name` on `out.z`, weighted `loss.regularizer_weight` with the
    recipe's warm-up and ramp."""
    weight = schedule(
        recipe["loss.regularizer_weight"], recipe["loss.warmup_steps"], recipe["loss.ramp_steps"]
    )
    return qtrain.latent_term(name, REGULARIZERS[name](recipe), weight=weight)


def extra_cliff(recipe: Recipe) -> list[qtrain.Term]:
    """`loss.cliff_weight > 0` adds the default Cliff regularizer on `out.z` to any model."""
    w = recipe.get("loss.cliff_weight", 0.0)
    return [qtrain.latent_term("cliff", losses.cliff_loss, weight=w)] if w > 0 else []


# ---------------------------------------------------------------------------- optimizers


def optimizer(recipe: Recipe):
    """AdamW (decay on weights only) with the recipe's learning rate, decay and clipping."""
    return qtrain.make_optimizer(
        learning_rate=recipe["train.learning_rate"],
        weight_decay=recipe["train.weight_decay"],
        clip_value=recipe["train.clip_value"] or None,
    )


def single_optimizer(model, recipe: Recipe, objective: Callable) -> Built:
    """`Built` for a model trained by one optimizer on one objective."""
    opt = nnx.Optimizer(model, optimizer(recipe), wrt=nnx.Param)
    return Built(model, (model, opt), qtrain.make_train_step(objective), objective)

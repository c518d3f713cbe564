"""The image experiment's methods: model factory, objective terms and optimizer defaults.

Built on the `qdjax.nn` conv factories and `qdjax.train` terms, as `experiments.qlae` does;
when the method registry (`qdjax.methods`, issue 13) lands, `build` becomes a lookup there.

  ae         deterministic conv autoencoder
  betavae    Gaussian conv VAE, KL weight `loss.beta` (relative to the summed reconstruction)
  betatcvae  VAE + (`loss.tc_beta` - 1) x total correlation (Chen et al. 2018, MWS estimator)
  qlae       quantized-latent AE: 0.01 quantization + 0.01 commitment, AdamW decay 0.1, clip 1
  qlvae      QLAE with a Gaussian posterior (adds the KL term)
  cliff      AE + Cliff (qdjax.losses.cliff_loss) after `loss.warmup_steps`, ramped
  hfs        AE + Hausdorff factorized support (qdjax.losses.hfs_pairwise, off-diagonal mean)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from qdjax import losses, nn
from qdjax import train as qtrain

METHODS = ("ae", "betavae", "betatcvae", "qlae", "qlvae", "cliff", "hfs")
QUANTIZED = ("qlae", "qlvae")
VARIATIONAL = ("betavae", "betatcvae", "qlvae")
# method -> (weight decay, element-wise clip or None) when the config says < 0
OPTIMIZER_DEFAULTS = {m: (1e-4, None) for m in METHODS} | {m: (0.1, 1.0) for m in QUANTIZED}
_FACTORY = {
    "ae": nn.conv_autoencoder,
    "cliff": nn.conv_autoencoder,
    "hfs": nn.conv_autoencoder,
    "betavae": nn.conv_vae,
    "betatcvae": nn.conv_vae,
    "qlae": nn.qlae,
    "qlvae": nn.qlvae,
}


def make_model(method: str, image_shape, num_latents: int, model_cfg, seed: int):
    arch = dict(
        architecture=model_cfg.architecture,
        channels=tuple(model_cfg.channels) or None,
        dense=tuple(model_cfg.dense) or None,
        depth=model_cfg.depth or None,
    )
    if method in QUANTIZED:
        arch["num_values"] = model_cfg.num_values
    factory = _FACTORY[method]
    # one compiled initializer instead of one eager dispatch per parameter
    return nnx.jit(lambda: factory(tuple(image_shape), num_latents, **arch, rngs=nnx.Rngs(seed)))()


def _schedule(weight: float, warmup: int, ramp: int):
    if warmup == 0 and ramp == 0:
        return weight

    def fn(step):
        frac = (jnp.asarray(step, jnp.float32) - warmup + 1.0) / max(ramp, 1)
        return weight * jnp.clip(frac, 0.0, 1.0)

    return fn


def _offdiagonal_mean(pairwise):
    def kernel(z):
        m = pairwise(z)
        d = m.shape[0]
        return jnp.sum(m) / max(d * (d - 1), 1)

    return kernel


def make_objective(method: str, loss_cfg, image_shape, num_latents: int, dataset_size: int):
    """Weighted terms of `method` (QLAE reference balance with `loss.reduction="mean"`)."""
    lo = loss_cfg
    mean = lo.reduction == "mean"
    pixels = float(np.prod(image_shape))
    terms = [qtrain.reconstruction_term(lo.likelihood, per_element=mean)]
    if method in VARIATIONAL:  # β relative to the summed reconstruction
        terms.append(qtrain.kl_term(weight=lo.beta / (pixels if mean else 1.0)))
    if method == "betatcvae":

        def tc(out, batch):
            return jnp.mean(
                losses.total_correlation(
                    out.z, out.z_mean, out.z_logvar, dataset_size=int(dataset_size)
                )
            )

        w = (lo.tc_beta - 1.0) / (pixels if mean else 1.0)
        terms.append(qtrain.Term("tc", tc, w))
    if method in QUANTIZED:
        scale = 1.0 / num_latents if mean else 1.0
        terms.extend(
            qtrain.quantization_terms(
                quantization=lo.quantization_weight * scale,
                commitment=lo.commitment_weight * scale,
            )
        )
    sched = _schedule(float(lo.regularizer_weight), int(lo.warmup_steps), int(lo.ramp_steps))
    if method == "cliff":
        bandwidth = float(lo.cliff_bandwidth) or None
        kernel = lambda z: losses.cliff_loss(z, bandwidth=bandwidth)  # noqa: E731
        terms.append(qtrain.latent_term("cliff", kernel, weight=sched))
    if method == "hfs":
        hfs = _offdiagonal_mean(losses.hfs_pairwise)
        terms.append(qtrain.latent_term("hfs", hfs, weight=sched))
    return qtrain.make_objective(*terms)


def optimizer_settings(method: str, train_cfg) -> tuple[float, float | None]:
    wd, clip = OPTIMIZER_DEFAULTS[method]
    wd = wd if train_cfg.weight_decay < 0 else float(train_cfg.weight_decay)
    clip = clip if train_cfg.clip_value < 0 else (float(train_cfg.clip_value) or None)
    return wd, clip

"""The alternating critic/generator step of QLInfoWGAN-GP.

Same contract as :func:`qdjax.train.make_train_step`, so the loop runs it unchanged:
`step(graphdef, state, batch, key) -> (state, aux)`, over

    graphdef, state = nnx.split((model, critic_optimizer, generator_optimizer))

with the two optimizers built by :func:`make_gan_optimizers` (the critic's
parameters are those whose path contains `critic`; the generator optimizer owns all
other parameters: generator and codebook).

n_critic schedule (Gulrajani et al. 2017, Alg. 1): each step splits the real batch
into `n_critic` equal micro-batches and makes `n_critic` critic updates, the `k`-th
on micro-batch `k` against fresh generated samples, then one generator update on
fresh samples of the micro-batch size. The batch size must therefore be a multiple
of `n_critic`. The critic updates run in a `lax.scan` (compiled once).

Losses (all means over the micro-batch):

.. math::
    L_D &= \\bar D(\\tilde x) - \\bar D(x) + \\lambda\\, \\overline{\\mathrm{GP}}
          + \\alpha\\, \\overline{\\lVert Q(\\tilde x) - \\mathrm{sg}(z) \\rVert^2} \\\\
    L_G &= -\\bar D(\\tilde x)
          + \\alpha\\, \\overline{\\lVert Q(\\tilde x) - \\mathrm{sg}(z) \\rVert^2}

where `z` is the quantized code that generated :math:`\\tilde x` and `Q` the critic's
latent head (InfoGAN). The code is a stop-gradient target so the info term cannot
shrink the codebook; the codebook learns through the generator's adversarial loss.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from qdjax._src.typing import Array, Batch
from qdjax.losses._wgan import (
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)

CRITIC = "critic"
critic_params = nnx.All(nnx.Param, nnx.PathContains(CRITIC))
generator_params = nnx.All(nnx.Param, nnx.Not(nnx.PathContains(CRITIC)))


def make_gan_optimizers(
    model: nnx.Module,
    critic_tx: optax.GradientTransformation,
    generator_tx: optax.GradientTransformation,
) -> tuple[nnx.Optimizer, nnx.Optimizer]:
    """`(critic_optimizer, generator_optimizer)` over the two disjoint parameter sets."""
    return (
        nnx.Optimizer(model, critic_tx, wrt=critic_params),
        nnx.Optimizer(model, generator_tx, wrt=generator_params),
    )


def info_loss(z_pred: Array, z: Array) -> Array:
    """Per-example InfoGAN loss :math:`\\sum_i (\\hat z_i - \\mathrm{sg}(z_i))^2`."""
    return jnp.sum(jnp.square(z_pred - jax.lax.stop_gradient(z)), axis=-1)


def make_gan_train_step(
    *,
    n_critic: int = 5,
    gp_weight: float = 10.0,
    info_weight: float = 1.0,
    gp_target: float = 1.0,
) -> Callable:
    """The QLInfoWGAN-GP step (see the module docstring for the schedule and losses).

    The model must provide `sample(key, n) -> (x, z, indices)` and
    `critic(x) -> (score [batch], z_pred [batch, L])` (:class:`qdjax.nn._models.QLInfoWGAN`).
    `aux` reports the critic terms averaged over the `n_critic` updates
    (`critic_loss`, `wasserstein` = the W-distance estimate, `gradient_penalty`,
    `info_critic`), the generator terms (`generator_loss`, `info_generator`), both
    gradient norms, and `loss` = the generator's total loss.

    Raises:
      ValueError: on `n_critic < 1`, negative weights, or (at trace time) a batch
        size that is not a multiple of `n_critic`.
    """
    if n_critic < 1:
        raise ValueError(f"n_critic must be >= 1; got {n_critic}")
    if gp_weight < 0 or info_weight < 0:
        raise ValueError(f"weights must be >= 0; got gp {gp_weight}, info {info_weight}")

    def critic_objective(model, x_real, key):
        k_gen, k_gp = jax.random.split(key)
        fake = jax.lax.stop_gradient(model.sample(k_gen, x_real.shape[0]))
        real_out, fake_out = model.critic(x_real), model.critic(fake.x)
        w = wasserstein_critic_loss(real_out.score, fake_out.score)
        gp = jnp.mean(
            gradient_penalty(
                lambda x: model.critic(x).score, x_real, fake.x, k_gp, target=gp_target
            )
        )
        info = jnp.mean(info_loss(fake_out.z_pred, fake.z))
        loss = w + gp_weight * gp + info_weight * info
        return loss, {
            "critic_loss": loss,
            "wasserstein": -w,
            "gradient_penalty": gp,
            "info_critic": info,
        }

    def generator_objective(model, num, key):
        fake = model.sample(key, num)
        out = model.critic(fake.x)
        g = wasserstein_generator_loss(out.score)
        info = jnp.mean(info_loss(out.z_pred, fake.z))
        loss = g + info_weight * info
        return loss, {"generator_loss": loss, "info_generator": info}

    critic_grad = nnx.value_and_grad(
        critic_objective, argnums=nnx.DiffState(0, critic_params), has_aux=True
    )
    generator_grad = nnx.value_and_grad(
        generator_objective, argnums=nnx.DiffState(0, generator_params), has_aux=True
    )

    def step(graphdef, state, batch: Batch, key: jax.Array):
        model, critic_opt, generator_opt = nnx.merge(graphdef, state)
        x = batch.x
        if x.shape[0] % n_critic:
            raise ValueError(
                f"batch size {x.shape[0]} must be a multiple of n_critic ({n_critic}): the "
                "batch is split into one micro-batch per critic update"
            )
        num = x.shape[0] // n_critic
        micro = x.reshape(n_critic, num, *x.shape[1:])
        k_critic, k_gen = jax.random.split(key)

        inner_def, inner_state = nnx.split((model, critic_opt))

        def critic_update(carry, inputs):
            m, opt = nnx.merge(inner_def, carry)
            (_, aux), grads = critic_grad(m, *inputs)
            opt.update(m, grads)
            aux["critic_grad_norm"] = optax.tree.norm(grads)
            return nnx.state((m, opt)), aux

        inner_state, critic_aux = jax.lax.scan(
            critic_update, inner_state, (micro, jax.random.split(k_critic, n_critic))
        )
        nnx.update((model, critic_opt), inner_state)

        (loss, gen_aux), grads = generator_grad(model, num, k_gen)
        generator_opt.update(model, grads)
        aux = {k: jnp.mean(v) for k, v in critic_aux.items()}
        aux.update(gen_aux)
        aux["generator_grad_norm"] = optax.tree.norm(grads)
        aux["loss"] = loss
        return nnx.state((model, critic_opt, generator_opt)), aux

    return step

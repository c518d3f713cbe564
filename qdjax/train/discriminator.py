"""The two-update step of methods with a total-correlation discriminator (FactorVAE, FactorQVAE).

Same contract as :func:`qdjax.train.make_train_step`, so the loop runs it unchanged:
`step(graphdef, state, batch, key) -> (state, aux)` over

    graphdef, state = nnx.split((model, model_optimizer, discriminator_optimizer))

with the two optimizers of :func:`make_discriminator_optimizers` (the discriminator's
parameters are those whose path contains `discriminator`; the model optimizer owns the rest).

Each step splits the batch in two halves, as both FactorQVAE (`models/factor_qvae.py`) and
Kim & Mnih's Algorithm 1 do:

1. **Model update** on the first half: the weighted terms plus
   `gamma * mean(D_joint - D_permuted)` on the model's codes `c1` (the density-ratio TC).
2. **Discriminator update**: `0.5 * (CE(D(c1), joint) + CE(D(perm(c2)), permuted))` where `c1`
   are the first half's codes from step 1 (held fixed) and `c2` the second half's codes from the
   *updated* model, each latent shuffled across the half-batch independently.

The batch size must be even. `aux`: every term, `tc` (the model's TC estimate),
`discriminator_loss`, `discriminator_accuracy`, both gradient norms, `loss` (the model's total).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from qdjax._src.typing import Array, Batch
from qdjax.losses._factorqvae import density_ratio_tc, discriminator_loss
from qdjax.train.objectives import Term, make_objective

DISCRIMINATOR = "discriminator"
discriminator_params = nnx.All(nnx.Param, nnx.PathContains(DISCRIMINATOR))
model_params = nnx.All(nnx.Param, nnx.Not(nnx.PathContains(DISCRIMINATOR)))


def make_discriminator_optimizers(
    model: nnx.Module,
    model_tx: optax.GradientTransformation,
    discriminator_tx: optax.GradientTransformation,
) -> tuple[nnx.Optimizer, nnx.Optimizer]:
    """`(model_optimizer, discriminator_optimizer)` over the two disjoint parameter sets."""
    return (
        nnx.Optimizer(model, model_tx, wrt=model_params),
        nnx.Optimizer(model, discriminator_tx, wrt=discriminator_params),
    )


def permute_latents(codes: Array, key: jax.Array) -> Array:
    """Shuffles each latent across the batch independently: `out[b, i] = codes[pi_i(b), i]`.

    Args:
      codes: `[batch, num_latents, ...]` (FactorVAE: `[B, L, 1]`; FactorQVAE: `[B, L, K]`).
      key: one PRNG key; latent `i` uses permutation `pi_i` drawn from `split(key, L)[i]`.

    Returns:
      Same shape; samples of the product of the marginals (Kim & Mnih's `permute_dims`).
    """
    n, num_latents = codes.shape[0], codes.shape[1]
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, num_latents))
    return codes[perms.T, jnp.arange(num_latents)[None, :]]


def _halves(batch: Batch) -> tuple[Batch, Batch]:
    n = batch.x.shape[0]
    if n % 2:
        raise ValueError(
            f"batch size {n} must be even: one half updates the model, the other the "
            "discriminator; use an even train.batch_size"
        )
    h = n // 2
    return jax.tree.map(lambda a: a[:h], batch), jax.tree.map(lambda a: a[h:], batch)


def make_discriminator_train_step(
    terms: Sequence[Term],
    *,
    forward: Callable,
    gamma: float,
) -> Callable:
    """The two-update step of the module docstring.

    Args:
      terms: the model's weighted terms on `forward`'s output (e.g. reconstruction, KL).
      forward: `forward(model, batch, key, step) -> out`; `model.codes(out)` must give the
        `[batch, num_latents, features]` codes the discriminator sees and `model.discriminator`
        map them (flattened) to `[batch, 2]` logits. `step` is the model optimizer's count
        (FactorQVAE's temperature schedule reads it).
      gamma: weight of the TC estimate in the model's loss.

    Raises:
      ValueError: negative `gamma`, or (at trace time) an odd batch size.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0; got {gamma}")
    weighted = make_objective(*terms, forward=lambda out, batch, key: out)

    def model_objective(model, batch, key, step):
        out = forward(model, batch, key, step)
        loss, aux = weighted(out, batch, key, step)
        codes = model.codes(out)
        logits = model.discriminator(codes)
        tc = jnp.mean(density_ratio_tc(logits))
        loss = loss + gamma * tc
        aux = dict(aux, tc=tc, loss=loss)
        return loss, (aux, jax.lax.stop_gradient(codes))

    def discriminator_objective(model, codes_joint, codes_permuted):
        lj = model.discriminator(codes_joint)
        lp = model.discriminator(codes_permuted)
        acc = 0.5 * (jnp.mean(lj[:, 0] > lj[:, 1]) + jnp.mean(lp[:, 1] >= lp[:, 0]))
        return jnp.mean(discriminator_loss(lj, lp)), acc

    model_grad = nnx.value_and_grad(
        model_objective, argnums=nnx.DiffState(0, model_params), has_aux=True
    )
    discriminator_grad = nnx.value_and_grad(
        discriminator_objective, argnums=nnx.DiffState(0, discriminator_params), has_aux=True
    )

    def step(graphdef, state, batch: Batch, key: jax.Array):
        model, model_opt, disc_opt = nnx.merge(graphdef, state)
        first, second = _halves(batch)
        k_model, k_second, k_perm = jax.random.split(key, 3)
        count = model_opt.step[...]
        (_, (aux, codes_joint)), grads = model_grad(model, first, k_model, count)
        model_opt.update(model, grads)
        aux["grad_norm"] = optax.tree.norm(grads)

        out = forward(model, second, k_second, count)
        codes_perm = jax.lax.stop_gradient(permute_latents(model.codes(out), k_perm))
        (d_loss, d_acc), d_grads = discriminator_grad(model, codes_joint, codes_perm)
        disc_opt.update(model, d_grads)
        aux["discriminator_loss"] = d_loss
        aux["discriminator_accuracy"] = d_acc
        aux["discriminator_grad_norm"] = optax.tree.norm(d_grads)
        return nnx.state((model, model_opt, disc_opt)), aux

    return step

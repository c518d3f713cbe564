"""QLInfoWGAN-GP step: the n_critic schedule, disjoint optimizers, the critic improves."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from qdjax._src.typing import Batch
from qdjax.nn import _models
from qdjax.train import gan, optim

# 16x16 images, two stages: the GAN step differentiates through the gradient penalty
SHAPE = (16, 16, 1)
TINY = dict(architecture="dlib", channels=(4, 4), dense=(8,))


def _setup(generator_tx=None):
    model = _models.qlinfowgan(SHAPE, 3, num_values=4, **TINY, rngs=nnx.Rngs(0))
    critic_opt, gen_opt = gan.make_gan_optimizers(
        model,
        optim.make_optimizer(learning_rate=3e-3, b1=0.5),
        generator_tx or optim.make_optimizer(learning_rate=1e-3, b1=0.5),
    )
    return model, critic_opt, gen_opt


def _params(model, flt):
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, flt))]


def test_optimizers_partition_the_parameters():
    model, _, _ = _setup()
    n_all = len(jax.tree.leaves(nnx.state(model, nnx.Param)))
    n_c = len(jax.tree.leaves(nnx.state(model, gan.critic_params)))
    n_g = len(jax.tree.leaves(nnx.state(model, gan.generator_params)))
    assert n_c > 0 and n_g > 0 and n_c + n_g == n_all
    leaves = jax.tree_util.tree_leaves_with_path(nnx.state(model, gan.generator_params))
    paths = [jax.tree_util.keystr(p) for p, _ in leaves]
    assert any("codebook" in p for p in paths) and not any("critic" in p for p in paths)


def test_step_schedule_and_updates():
    model, critic_opt, gen_opt = _setup()
    before_c, before_g = _params(model, gan.critic_params), _params(model, gan.generator_params)
    graphdef, state = nnx.split((model, critic_opt, gen_opt))
    fn = jax.jit(gan.make_gan_train_step(n_critic=3), static_argnums=0, donate_argnums=1)
    batch = Batch(jax.random.uniform(jax.random.key(0), (12, *SHAPE)), jnp.zeros((12, 1)))
    for t in range(2):
        state, aux = fn(graphdef, state, batch, jax.random.key(t))
    model, critic_opt, gen_opt = nnx.merge(graphdef, state)
    assert int(critic_opt.step[...]) == 6 and int(gen_opt.step[...]) == 2  # 3 critic : 1 gen
    assert all(np.isfinite(float(v)) for v in aux.values())
    expected = {
        "loss",
        "critic_loss",
        "wasserstein",
        "gradient_penalty",
        "info_critic",
        "generator_loss",
        "info_generator",
        "critic_grad_norm",
        "generator_grad_norm",
    }
    assert expected == set(aux)
    after_c, after_g = _params(model, gan.critic_params), _params(model, gan.generator_params)
    assert all(not np.allclose(a, b) for a, b in zip(before_c, after_c) if a.ndim >= 2)
    assert any(not np.allclose(a, b) for a, b in zip(before_g, after_g))
    with pytest.raises(ValueError, match="multiple of n_critic"):
        fn(graphdef, state, Batch(batch.x[:10], batch.s[:10]), jax.random.key(0))


def test_critic_loss_decreases_with_frozen_generator():
    # generator frozen (lr 0) and a fixed key: the critic faces the same fakes and the
    # same interpolates every step, so its loss (reported before each update) must fall
    model, critic_opt, gen_opt = _setup(generator_tx=optax.sgd(0.0))
    graphdef, state = nnx.split((model, critic_opt, gen_opt))
    fn = jax.jit(gan.make_gan_train_step(n_critic=1), static_argnums=0, donate_argnums=1)
    batch = Batch(jax.random.uniform(jax.random.key(0), (8, *SHAPE)), jnp.zeros((8, 1)))
    losses = []
    for _ in range(5):
        state, aux = fn(graphdef, state, batch, jax.random.key(7))
        losses.append(float(aux["critic_loss"]))
    assert losses[-1] < losses[0], losses


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_critic"):
        gan.make_gan_train_step(n_critic=0)
    with pytest.raises(ValueError, match="weights"):
        gan.make_gan_train_step(gp_weight=-1.0)

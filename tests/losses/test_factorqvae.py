"""FactorQVAE's kernels (and the FactorVAE discriminator machinery) against the authors'
definitions on fixed arrays.

Source of every reference formula: ituvisionlab/FactorQVAE (commit 7d74cea)
`quantizers/utils.py` (`calculate_distance`), `quantizers/relaxed_vq_quantizer.py`
(`F.gumbel_softmax(-distances, tau, hard=False)`, `posterior = softmax(-distances)`,
`kl = sum(posterior * log(posterior * K + 1e-10))`), `train.py` (`DecayTemperature`:
`exp(-0.00001 * global_step)`), `models/factor_qvae.py` (`vae_tc_loss = (D_z[:, 0] -
D_z[:, 1]).mean()`, `disc_loss = 0.5 * (CE(D_z, zeros) + CE(D_perm, ones))`, `permute_dims`),
re-written below in NumPy (torch's `F.cross_entropy` = mean of `-log_softmax[target]`).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads
from scipy import special

from qdjax import losses, nn
from qdjax import train as qtrain

Z = np.array([[0.3, -1.2, 2.0], [0.0, 0.5, -0.7]], np.float32)
CODEBOOK = np.array([-1.0, 0.0, 0.4, 1.5], np.float32)


def _ref_distances(z, c):  # calculate_distance with embedding_dim 1: |z|^2 + |c|^2 - 2 z c
    flat = z.reshape(-1, 1)
    d = np.sum(flat**2, 1, keepdims=True) + np.sum(c[:, None] ** 2, 1) - 2 * flat @ c[None]
    return d.reshape(*z.shape, len(c))


def test_distances_match_the_authors_expansion():
    got = jax.jit(losses.scalar_codebook_distances)(Z, CODEBOOK)
    np.testing.assert_allclose(got, _ref_distances(Z, CODEBOOK), rtol=1e-6, atol=1e-6)


def test_gumbel_softmax_is_softmax_of_perturbed_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4)).astype(np.float32)
    g = rng.gumbel(size=logits.shape).astype(np.float32)
    for tau in (1.0, 0.3):
        got = jax.jit(lambda a, b, t: losses.gumbel_softmax(a, b, temperature=t))(logits, g, tau)
        np.testing.assert_allclose(got, special.softmax((logits + g) / tau, -1), atol=1e-6)
    # a cold temperature approaches the one-hot argmax of the perturbed logits
    cold = losses.gumbel_softmax(logits, g, temperature=1e-3)
    np.testing.assert_allclose(cold, np.eye(4)[np.argmax(logits + g, -1)], atol=1e-5)
    with pytest.raises(ValueError, match="must match logits"):
        losses.gumbel_softmax(logits, g[..., :2], temperature=1.0)


def test_temperature_schedule():
    steps = np.array([0, 1000, 100_000])
    got = jax.jit(losses.gumbel_temperature)(steps)
    np.testing.assert_allclose(got, np.exp(-0.00001 * steps), rtol=1e-6)


def _ref_uniform_kl(logits):
    p = special.softmax(logits, -1)
    return np.sum(p * np.log(p * logits.shape[-1] + 1e-10), -1)


def test_uniform_kl_matches_the_authors_formula():
    logits = -_ref_distances(Z, CODEBOOK)
    got = jax.jit(losses.uniform_kl)(logits)
    np.testing.assert_allclose(got, _ref_uniform_kl(logits), atol=1e-5)
    # closed forms: 0 for a uniform posterior, log K for a one-hot one
    np.testing.assert_allclose(losses.uniform_kl(jnp.zeros((5, 8))), 0.0, atol=1e-6)
    one_hot = jnp.asarray(np.where(np.eye(8)[:1], 0.0, -1e4), jnp.float32)
    np.testing.assert_allclose(losses.uniform_kl(one_hot), np.log(8.0), atol=1e-5)
    with jax.enable_x64(True):
        x = jnp.asarray(logits, jnp.float64)
        check_grads(losses.uniform_kl, (x,), order=1, modes=["rev"], atol=1e-5, rtol=1e-5)


def test_tc_and_discriminator_loss_match_the_authors_formulas():
    rng = np.random.default_rng(1)
    d_z = rng.normal(size=(6, 2)).astype(np.float32)
    d_perm = rng.normal(size=(6, 2)).astype(np.float32)
    tc = jax.jit(losses.density_ratio_tc)(d_z)
    np.testing.assert_allclose(jnp.mean(tc), np.mean(d_z[:, 0] - d_z[:, 1]), rtol=1e-6)
    ce = lambda logits, t: -np.mean(special.log_softmax(logits, -1)[:, t])  # noqa: E731
    want = 0.5 * (ce(d_z, 0) + ce(d_perm, 1))
    got = jnp.mean(jax.jit(losses.discriminator_loss)(d_z, d_perm))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # the density ratio: D's probability of "joint" is sigmoid(tc)
    np.testing.assert_allclose(jax.nn.sigmoid(tc), special.softmax(d_z, -1)[:, 0], atol=1e-6)
    with pytest.raises(ValueError, match=r"\[batch, 2\]"):
        losses.density_ratio_tc(jnp.zeros((3, 3)))
    with pytest.raises(TypeError, match="floating point"):
        losses.uniform_kl(jnp.zeros((3, 3), jnp.int32))


def test_permute_latents_shuffles_each_latent_independently(getkey):
    codes = jnp.arange(64 * 3 * 2, dtype=jnp.float32).reshape(64, 3, 2)
    out = jax.jit(qtrain.permute_latents)(codes, getkey())
    assert out.shape == codes.shape
    for i in range(3):  # each latent's rows are a permutation of its own rows, kept whole
        rows = {tuple(r) for r in np.asarray(codes[:, i])}
        assert {tuple(r) for r in np.asarray(out[:, i])} == rows
    # different latents get different permutations, so joint rows are broken up
    src = np.asarray(out[:, :, 0]) // 6  # the original batch index of every entry
    assert not np.all(src[:, 0] == src[:, 1]) and not np.all(src[:, 1] == src[:, 2])


def test_relaxed_quantizer_soft_in_training_nearest_at_evaluation(getkey):
    q = nn.RelaxedScalarQuantizer(3, 4, rngs=nnx.Rngs(0))
    q.codebook[...] = jnp.asarray(CODEBOOK)
    hard = q(jnp.asarray(Z))
    want = CODEBOOK[np.argmin(np.abs(Z[..., None] - CODEBOOK), -1)]
    np.testing.assert_allclose(hard.z, want, rtol=1e-6)
    np.testing.assert_allclose(hard.z_quantized, want, rtol=1e-6)
    soft = q(jnp.asarray(Z), key=getkey(), temperature=1.0)
    np.testing.assert_allclose(jnp.sum(soft.weights, -1), 1.0, atol=1e-6)
    np.testing.assert_allclose(soft.z, soft.weights @ CODEBOOK, atol=1e-6)
    assert np.all(np.asarray(soft.weights) < 1.0)  # relaxed: no exact one-hot at tau = 1
    # the encoder and the codebook both get gradients through the relaxation
    g = jax.grad(lambda z: jnp.sum(q(z, key=jax.random.key(0)).z ** 2))(jnp.asarray(Z))
    assert np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0)


class _Toy(nnx.Module):
    """Codes = the data itself (scaled), so their dependence is planted by the data."""

    def __init__(self):
        self.scale = nnx.Param(jnp.ones((2,)))
        self.discriminator = nn.TCDiscriminator(2, width=32, depth=2, rngs=nnx.Rngs(0))

    @staticmethod
    def codes(out):
        return out.z[:, :, None]

    def __call__(self, x):
        z = x * self.scale[...][None]
        return nn.AutoencoderOutput(x_hat=z, z=z, z_mean=z)


@pytest.mark.parametrize("dependent", [True, False], ids=["dependent", "independent"])
def test_discriminator_step_detects_planted_dependence(dependent):
    # Kim & Mnih's estimator through qdjax.train.make_discriminator_train_step: the
    # discriminator separates joint codes from per-latent shuffled ones iff the latents are
    # dependent (here z2 = z1 + small noise vs. two independent uniforms).
    from qdjax.data import Batch

    model = _Toy()
    tx = qtrain.make_optimizer(learning_rate=1e-3)
    opts = qtrain.make_discriminator_optimizers(model, tx, tx)
    step_fn = qtrain.make_discriminator_train_step(
        [qtrain.reconstruction_term("gaussian")],
        forward=lambda model, batch, key, step: model(batch.x),
        gamma=0.0,
    )
    graphdef, state = nnx.split((model, *opts))
    step = jax.jit(lambda state, batch, key: step_fn(graphdef, state, batch, key))
    rng = np.random.default_rng(0)
    acc, tc = [], []
    for i in range(300):
        u = rng.uniform(-1, 1, (128, 2)).astype(np.float32)
        if dependent:
            u[:, 1] = u[:, 0] + 0.05 * rng.normal(size=128)
        state, aux = step(state, Batch(u, u), jax.random.key(i))
        acc.append(float(aux["discriminator_accuracy"]))
        tc.append(float(aux["tc"]))
    acc, tc = np.mean(acc[-50:]), np.mean(tc[-50:])  # observed: 0.91, 1.5 vs 0.50, 0.00
    if dependent:
        assert acc > 0.8 and tc > 0.5, (acc, tc)
    else:
        assert acc < 0.65 and abs(tc) < 0.3, (acc, tc)
    with pytest.raises(ValueError, match="must be even"):
        step(state, Batch(u[:5], u[:5]), jax.random.key(0))

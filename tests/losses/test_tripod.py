"""Tripod's kernels against its authors' definitions, and BioAE's penalties.

Reference formulas: kylehkhsu/tripod `disentangle/models/autoencoder.py`
(`Autoencoder.latent_multiinformation`, `Autoencoder.hessian_regularization`) and
kylehkhsu/latent_quantization `disentangle/models/bio_ae.py`, re-written below in NumPy/SciPy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import special, stats

from qdjax import losses, nn


def _reference_multiinformation(z, h):
    """The authors' estimator, loop for loop: marginal KDEs with bandwidth h_k, the joint with
    diagonal covariance H = diag(h^2 * silverman), each point in its own KDE."""
    b, d = z.shape
    silverman = ((4 / (d + 2)) ** (1 / (d + 4)) * b ** (-1 / (d + 4))) ** 2
    h_joint = np.sqrt(h**2 * silverman)
    log_marg = np.zeros((b, d))
    log_joint = np.zeros(b)
    for i in range(b):
        for k in range(d):
            log_marg[i, k] = special.logsumexp(stats.norm.logpdf(z[i, k], z[:, k], h[k])) - np.log(
                b
            )
        per_j = np.sum(stats.norm.logpdf(z[i][None], z, h_joint[None]), axis=1)
        log_joint[i] = special.logsumexp(per_j) - np.log(b)
    return log_joint - log_marg.sum(axis=1)


def test_multiinformation_matches_the_authors_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(24, 3)).astype(np.float32)
    z[:, 2] = z[:, 0] + 0.1 * z[:, 2]  # a dependent pair
    h = (z.std(axis=0) + 1e-6).astype(np.float32)
    got = jax.jit(lambda z, h: losses.kernel_multiinformation(z, scale=h))(z, h)
    np.testing.assert_allclose(got, _reference_multiinformation(z.astype(np.float64), h), atol=1e-4)


def test_multiinformation_sees_dependence_and_is_batch_equivariant():
    key = jax.random.key(1)
    z = jax.random.normal(key, (256, 2))
    dep = jnp.stack([z[:, 0], z[:, 0] + 0.05 * z[:, 1]], axis=1)

    per_example = jax.jit(lambda x: losses.kernel_multiinformation(x, scale=jnp.std(x, 0) + 1e-6))

    def mi(x):
        return float(jnp.mean(per_example(x)))

    assert mi(dep) > mi(z) + 0.5  # near-duplicated latents: large multi-information
    perm = jax.random.permutation(key, 256)
    a, b = per_example(z), per_example(z[perm])  # same std: the batch's order is irrelevant
    np.testing.assert_allclose(a[perm], b, rtol=1e-5, atol=1e-5)


def test_multiinformation_gradients_are_finite_and_match_finite_differences():
    z = jax.random.normal(jax.random.key(2), (5, 2), jnp.float32)
    with jax.enable_x64(True):
        z64 = z.astype(jnp.float64)
        f = lambda z: jnp.mean(losses.kernel_multiinformation(z, scale=jnp.std(z, 0) + 1e-6))  # noqa: E731
        check_grads(jax.jit(f), (z64,), order=1, modes=["rev"], atol=1e-4, rtol=1e-4)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="scale must be"):
        losses.kernel_multiinformation(jnp.zeros((4, 2)), scale=jnp.ones(3))
    with pytest.raises(ValueError, match="batch >= 2"):
        losses.kernel_multiinformation(jnp.zeros((1, 2)), scale=jnp.ones(2))
    with pytest.raises(ValueError, match="num_perturbations"):
        losses.normalized_hessian_penalty(
            lambda z: {"a": z},
            jnp.zeros((4, 2)),
            jax.random.key(0),
            scale=jnp.ones(2),
            num_perturbations=1,
        )


def _hp(fn, h, k=4000, key=0):
    z = jnp.full((3, 2), 0.3, jnp.float32)
    return losses.normalized_hessian_penalty(
        fn, z, jax.random.key(key), scale=jnp.asarray(h, jnp.float32), num_perturbations=k
    )


def test_hessian_penalty_of_an_additive_map_is_zero():
    # f = a z1^2 + b z2^2: diagonal Hessian, the second difference along eps*r*h is exactly
    # 2a h1^2 + 2b h2^2 for every Rademacher r, so its variance is 0 (Peebles et al. 2020).
    fn = lambda z: {"act": 3.0 * z[:, :1] ** 2 - 2.0 * z[:, 1:] ** 2}  # noqa: E731
    out = jax.jit(lambda: _hp(fn, [0.5, 2.0], k=8))()
    np.testing.assert_allclose(out.unnormalized, 0.0, atol=1e-3)
    np.testing.assert_allclose(out.normalized, 0.0, atol=1e-3)


def test_hessian_penalty_of_a_product_is_its_closed_form():
    # f = z1 z2: v^T H v / eps^2 = 2 r1 r2 h1 h2, variance over Rademacher r = 4 h1^2 h2^2
    # (= 2 sum_{i!=j} (H_ij h_i h_j)^2); over Gaussian directions also 4 h1^2 h2^2, so the
    # normalized penalty is 1 for a purely off-diagonal Hessian.
    h = [0.5, 2.0]
    out = jax.jit(lambda: _hp(lambda z: {"act": z[:, :1] * z[:, 1:]}, h))()
    np.testing.assert_allclose(out.unnormalized, 4 * (h[0] * h[1]) ** 2, rtol=0.1)
    np.testing.assert_allclose(out.normalized, 1.0, rtol=0.15)
    # summed over activations
    two = jax.jit(lambda: _hp(lambda z: {"a": z[:, :1] * z[:, 1:], "b": z[:, :1] * z[:, 1:]}, h))()
    np.testing.assert_allclose(two.normalized, 2 * out.normalized, rtol=1e-5)


def test_tanh_round_quantizer_is_the_authors_map():
    q = nn.TanhRoundQuantizer(2, 12)
    z = jnp.array([[-3.0, -0.1], [0.0, 0.4], [2.0, 0.05]])
    out = jax.jit(q)(z)
    zc = np.tanh(np.asarray(z))
    ref = 2 * np.round((zc + 1) / 2 * 11) / 11 - 1  # disentangle/nn/quantizer.py
    np.testing.assert_allclose(out.z_quantized, ref, atol=1e-6)
    np.testing.assert_allclose(out.z, ref, atol=1e-6)
    np.testing.assert_allclose(q.lookup(out.indices), ref, atol=1e-6)
    g = jax.jit(jax.grad(lambda z: jnp.sum(q(z).z)))(z)  # straight-through: d tanh
    np.testing.assert_allclose(g, 1 - zc**2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 12\)"):
        q.lookup(jnp.array([[12, 0]]))


def test_bioae_penalties_closed_form():
    z = jnp.array([[-2.0, 1.0, 0.0], [3.0, -1.0, 0.5]])
    # bio_ae.py: nonnegative = mean(max(-z, 0)), activity = mean(z^2), per example
    np.testing.assert_allclose(losses.nonnegativity_penalty(z), [2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(losses.activity_penalty(z), [5 / 3, 10.25 / 3], rtol=1e-6)


def test_residual_nets_have_the_authors_parameter_count():
    # kylehkhsu/tripod ResidualEncoder + ResidualDecoder (disentangle/nn/*.py) for 64x64x3 and
    # 10 latents, counted by hand from its layers (convs and linears with biases, GroupNorm /
    # LayerNorm affines, the 512x4x4 learned input): 20,236,717.
    from flax import nnx

    model = nnx.eval_shape(
        lambda: nn.tripod(
            (64, 64, 3), 10, network="conv", architecture="residual", rngs=nnx.Rngs(0)
        )
    )
    assert nn.count_params(model) == 20_236_717


def test_residual_decoder_exposes_the_authors_activations():
    # shapes only (jax.eval_shape: no compile); the residual nets train for real in the slow
    # full-size registry case (tests/methods/test_registry.py, QDJAX_SLOW=1)
    from flax import nnx

    def forward(x):
        model = nn.tripod(
            (8, 8, 3), 3, network="conv", architecture="residual", channels=(4, 4), rngs=nnx.Rngs(0)
        )
        out = model(x)
        return out.x_hat, model.decoder_activations(out.z)

    x_hat, acts = jax.eval_shape(forward, jnp.ones((2, 8, 8, 3)))
    assert x_hat.shape == (2, 8, 8, 3)
    # cond and every stage but the last (the logits are not regularized), as the authors'
    assert sorted(acts) == ["block0", "cond"]
    assert acts["cond"].shape == (2, 8) and acts["block0"].shape == (2, 4, 4, 8)

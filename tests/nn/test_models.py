"""Image-model zoo: shapes, the model contract, parameter counts, decay mask, a training step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

from qdjax._src.typing import Batch
from qdjax.losses._quantize import commitment_loss, quantization_loss
from qdjax.losses._tc import total_correlation
from qdjax.nn import _convnets, _models
from qdjax.train import objectives, optim, step

TINY = {
    "qlae": dict(channels=(4, 4, 4, 4), dense=(8,), depth=2),
    "qlae_legacy": dict(channels=(4, 4, 4, 4), dense=(8,), depth=2),
    "dlib": dict(channels=(4, 4, 4, 4), dense=(8,)),
}
FACTORIES = {
    "ae": _models.conv_autoencoder,
    "vae": _models.conv_vae,
    "qlae": _models.qlae,
    "qlvae": _models.qlvae,
    "qlinfowgan": _models.qlinfowgan,
}
L = 5
# numerical tests run on 16x16 images with two stages (shape tests use 64x64)
SMALL = {
    "qlae": dict(channels=(4, 8), dense=(8,), depth=2),
    "dlib": dict(architecture="dlib", channels=(4, 8), dense=(8,)),
}


def _abstract_call(model, x):
    """Output shapes without compiling (trace only)."""
    graphdef, state = nnx.split(model)
    return jax.eval_shape(
        lambda s, x, k: nnx.merge(graphdef, s)(x, key=k), state, x, jax.random.key(0)
    )


@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "rgb"])
@pytest.mark.parametrize("arch", sorted(TINY))
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_shapes_and_contract(name, arch, channels):
    model = nnx.eval_shape(  # abstract parameters: shapes only, no initialization cost
        lambda: FACTORIES[name](
            (64, 64, channels), L, architecture=arch, **TINY[arch], rngs=nnx.Rngs(0)
        )
    )
    x = jax.ShapeDtypeStruct((2, 64, 64, channels), jnp.float32)
    out = _abstract_call(model, x)
    assert out.x_hat.shape == (2, 64, 64, channels) and out.x_hat.dtype == jnp.float32
    assert out.z.shape == (2, L)
    graphdef, state = nnx.split(model)
    enc = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s).encode(x), state, x)
    assert enc.shape == (2, L)
    if name.startswith("ql"):
        assert out.z_continuous.shape == out.z_quantized.shape == out.indices.shape == (2, L)
        assert out.indices.dtype == jnp.int32


def test_quantized_outputs_and_encode():
    model = _models.qlae((16, 16, 1), L, **SMALL["qlae"], rngs=nnx.Rngs(0))
    x = jax.random.uniform(jax.random.key(0), (3, 16, 16, 1))
    out, enc, idx = jax.jit(lambda m, x: (m(x), m.encode(x), m.encode_indices(x)))(model, x)
    np.testing.assert_allclose(enc, out.z_continuous, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(idx, out.indices)
    np.testing.assert_allclose(out.z, out.z_quantized, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.quantizer.lookup(out.indices), out.z_quantized, rtol=1e-6)

    vae = _models.qlvae((16, 16, 1), L, **SMALL["dlib"], rngs=nnx.Rngs(0))
    det, smp = jax.jit(lambda m, x: (m(x), m(x, key=jax.random.key(1))))(vae, x)
    np.testing.assert_allclose(det.z_continuous, det.z_mean, rtol=1e-6)  # no key: the mean
    assert not np.allclose(smp.z_continuous, smp.z_mean)  # with a key: a posterior sample
    assert smp.z_logvar.shape == (3, L)


def test_gan_samples_are_decoded_codebook_values():
    model = _models.qlinfowgan((16, 16, 3), L, **SMALL["dlib"], num_values=4, rngs=nnx.Rngs(0))
    x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3))

    @jax.jit
    def run(m, x):
        s = m.sample(jax.random.key(0), 64)
        return s, m.quantizer.lookup(s.indices), m.generator(s.z), m.encode(x), m.critic(x)

    s, looked_up, decoded, enc, critic = run(model, x)
    assert s.x.shape == (64, 16, 16, 3)
    assert int(s.indices.min()) == 0 and int(s.indices.max()) == 3
    np.testing.assert_allclose(s.z, looked_up, rtol=1e-6)
    np.testing.assert_allclose(s.x, decoded, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(enc, critic.z_pred, rtol=1e-6)
    assert critic.score.shape == (2,)


def test_reference_parameter_count():
    # QLAE at the paper's configuration (12 latents x 10 values, 64x64x3). The published
    # count was measured on the authors' Equinox model (kylehkhsu/latent_quantization,
    # benchmarks/qlae_reference.py); the legacy variant adds the 2,883 conv biases.
    published = nnx.eval_shape(lambda: _models.qlae((64, 64, 3), 12, rngs=nnx.Rngs(0)))
    assert _models.count_params(published) == 7_651_780
    legacy = nnx.eval_shape(
        lambda: _models.qlae((64, 64, 3), 12, architecture="qlae_legacy", rngs=nnx.Rngs(0))
    )
    assert _models.count_params(legacy) == 7_654_663
    small = nnx.eval_shape(
        lambda: _models.conv_autoencoder((64, 64, 3), 10, architecture="dlib", rngs=nnx.Rngs(0))
    )
    assert 0.6e6 <= _models.count_params(small) <= 0.9e6


def test_published_qlae_structure():
    model = _models.qlae((16, 16, 3), L, **SMALL["qlae"], rngs=nnx.Rngs(0))
    convs = [*model.encoder.convs, *(b.conv for b in model.decoder.blocks), model.decoder.out]
    assert all(c.bias is None for c in convs)  # the authors' convs carry no bias
    np.testing.assert_array_equal(model.decoder.const[...], np.float32(0.1))
    # Equinox init: uniform in +-1/sqrt(fan_in), Linear biases included
    k = model.encoder.convs[0].kernel[...]
    assert float(jnp.max(jnp.abs(k))) <= 1 / np.sqrt(3 * 9) and float(jnp.std(k)) > 0.05
    b = model.decoder.mapping[0].bias[...]
    assert float(jnp.max(jnp.abs(b))) <= 1 / np.sqrt(L) and float(jnp.std(b)) > 0
    # style = ReLU(Linear(w)) applied as h * s + b: zero the style weights and set its bias
    # to (-1 ... | +0.5 ...): scale = ReLU(-1) = 0 and bias = 0.5 everywhere, whatever h is
    block = model.decoder.blocks[0]
    c = block.conv.out_features
    block.style.kernel[...] = jnp.zeros_like(block.style.kernel[...])
    block.style.bias[...] = jnp.concatenate([-jnp.ones(c), 0.5 * jnp.ones(c)])
    h = jax.random.normal(jax.random.key(1), (2, 2, 2, model.decoder.const.shape[-1]))
    w = jax.random.normal(jax.random.key(2), (2, block.style.in_features))
    np.testing.assert_allclose(block(h, w), 0.5, rtol=1e-6)


def test_legacy_qlae_keeps_its_structure():
    model = _models.qlae((16, 16, 3), L, architecture="qlae_legacy", **SMALL["qlae"],
                         rngs=nnx.Rngs(0))  # fmt: skip
    assert model.encoder.convs[0].bias is not None and model.decoder.out.bias is not None
    assert float(jnp.std(model.decoder.const[...])) > 0.5  # normal init
    block = model.decoder.blocks[0]
    c = block.conv.out_features
    block.style.kernel[...] = jnp.zeros_like(block.style.kernel[...])
    block.style.bias[...] = jnp.concatenate([-jnp.ones(c), 0.5 * jnp.ones(c)])
    h = jax.random.normal(jax.random.key(1), (2, 2, 2, model.decoder.const.shape[-1]))
    w = jax.random.normal(jax.random.key(2), (2, block.style.in_features))
    np.testing.assert_allclose(block(h, w), 0.5, rtol=1e-6)  # h * (1 + (-1)) + 0.5


# (batch, height, width, c_in, c_out): odd, non-square and wide shapes
SUBPIXEL_SHAPES = [(2, 4, 4, 3, 5), (1, 5, 7, 2, 3), (3, 1, 1, 4, 2), (2, 8, 6, 16, 8)]


@pytest.mark.parametrize("shape", SUBPIXEL_SHAPES, ids=str)
def test_subpixel_equals_plain_transposed_conv(shape):
    b, h, w, c_in, c_out = shape
    plain = nnx.ConvTranspose(c_in, c_out, (4, 4), (2, 2), padding="SAME", rngs=nnx.Rngs(0))
    plain.bias[...] = jax.random.normal(jax.random.key(3), (c_out,))
    x = jax.random.normal(jax.random.key(1), (b, h, w, c_in))
    kernel, bias = plain.kernel[...], plain.bias[...]
    ref = jax.jit(plain)(x)
    got = jax.jit(_convnets.subpixel_conv_transpose)(x, kernel, bias)
    assert got.shape == ref.shape == (b, 2 * h, 2 * w, c_out)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)

    # gradients w.r.t. input, kernel and bias, through a random cotangent
    cot = jax.random.normal(jax.random.key(4), ref.shape)

    def loss_plain(x, k, bb):
        y = jax.lax.conv_transpose(x, k, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.sum((y + bb[None, None, None, :]) * cot)

    def loss_sub(x, k, bb):
        return jnp.sum(_convnets.subpixel_conv_transpose(x, k, bb) * cot)

    g_ref = jax.jit(jax.grad(loss_plain, argnums=(0, 1, 2)))(x, kernel, bias)
    g_sub = jax.jit(jax.grad(loss_sub, argnums=(0, 1, 2)))(x, kernel, bias)
    for a, r in zip(g_sub, g_ref):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4)


def test_subpixel_gradients_float64():
    # finite differences in float64 (jax.test_util.check_grads) on a tiny layer
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (1, 3, 2, 2), jnp.float64)
        k = jax.random.normal(jax.random.key(1), (4, 4, 2, 3), jnp.float64)
        check_grads(
            lambda x, k: _convnets.subpixel_conv_transpose(x, k), (x, k), order=1, modes="rev"
        )


@pytest.mark.parametrize("arch", ["qlae", "qlae_legacy", "dlib"])
def test_conv_transpose_impls_agree_and_share_checkpoints(arch):
    x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
    widths = SMALL["dlib"] if arch == "dlib" else dict(SMALL["qlae"], architecture=arch)
    model = _models.conv_autoencoder((16, 16, 3), L, **widths, rngs=nnx.Rngs(0))
    layers = [m for _, m in nnx.iter_graph(model) if isinstance(m, _convnets.ConvTranspose2x)]
    assert layers  # every stride-2 transposed conv of the zoo is the sub-pixel layer
    outs = {}
    for impl in ("subpixel", "transpose"):
        for layer in layers:
            layer.impl = impl
        outs[impl] = jax.jit(lambda m, x: m(x).x_hat)(model, x)
    np.testing.assert_allclose(outs["subpixel"], outs["transpose"], rtol=1e-5, atol=1e-5)
    # checkpoint compatibility: the layer's state is exactly nnx.ConvTranspose's
    layer = layers[0]
    plain = nnx.ConvTranspose(layer.in_features, layer.out_features, (4, 4), (2, 2),
                              padding="SAME", use_bias=layer.bias is not None,
                              rngs=nnx.Rngs(5))  # fmt: skip
    s_plain, s_layer = nnx.state(plain, nnx.Param), nnx.state(layer, nnx.Param)
    assert jax.tree.structure(s_plain) == jax.tree.structure(s_layer)
    assert [a.shape for a in jax.tree.leaves(s_plain)] == [
        a.shape for a in jax.tree.leaves(s_layer)
    ]
    nnx.update(layer, s_plain)
    layer.impl = "subpixel"
    h = jax.random.normal(jax.random.key(6), (2, 3, 3, layer.in_features))
    np.testing.assert_allclose(layer(h), plain(h), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="impl"):
        _convnets.ConvTranspose2x(2, 2, impl="fft", rngs=nnx.Rngs(0))


def test_bfloat16_keeps_float32_parameters():
    model = _models.qlae((16, 16, 3), L, **SMALL["qlae"], dtype="bf16", rngs=nnx.Rngs(0))
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert all(p.dtype == jnp.float32 for p in params)
    with pytest.raises(ValueError, match="precision"):
        _models.qlae((16, 16, 3), L, **SMALL["qlae"], dtype="fp8", rngs=nnx.Rngs(0))


@pytest.mark.parametrize("name", ["qlae", "qlvae", "qlinfowgan"])
def test_decay_mask_covers_exactly_the_kernels(name):
    abstract = nnx.eval_shape(lambda: FACTORIES[name]((64, 64, 3), 12, rngs=nnx.Rngs(0)))
    params = nnx.state(abstract, nnx.Param)
    labels = jax.tree_util.tree_leaves_with_path(optim.param_labels(params))
    seen = set()
    for path, label in labels:
        keys = [str(getattr(k, "key", getattr(k, "idx", k))) for k in path]
        keys = [k for k in keys if k != ".value" and k != "value"]
        leaf = keys[-1]
        seen.add(leaf)
        assert (label == "decay") == (leaf == "kernel"), (path, label)
    assert {"kernel", "bias", "scale", "const", "codebook"} <= seen


def test_bfloat16_compute_close_to_float32():
    x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
    f32 = _models.qlae((16, 16, 3), L, **SMALL["qlae"], rngs=nnx.Rngs(0))
    bf16 = _models.qlae((16, 16, 3), L, **SMALL["qlae"], dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    run = jax.jit(lambda m, x: (m.encode(x), m(x).x_hat))
    (a, xa), (b, xb) = run(f32, x), run(bf16, x)
    assert b.dtype == xb.dtype == jnp.float32
    np.testing.assert_allclose(b, a, atol=0.1 * float(jnp.max(jnp.abs(a))) + 1e-3)
    np.testing.assert_allclose(xb, xa, atol=0.1 * float(jnp.max(jnp.abs(xa))) + 1e-3)


def _fit(model, objective, x, steps=6, learning_rate=1e-3):
    # the QLAE reference optimizer (AdamW, decay 0.1 on kernels, element-wise clip 1.0)
    opt = nnx.Optimizer(
        model,
        optim.make_optimizer(learning_rate=learning_rate, weight_decay=0.1, clip_value=1.0),
        wrt=nnx.Param,
    )
    graphdef, state = nnx.split((model, opt))
    fn = jax.jit(step.make_train_step(objective), static_argnums=0, donate_argnums=1)
    batch = Batch(x, jnp.zeros((x.shape[0], 1)))
    losses = []
    for _ in range(steps):  # fixed batch and key: losses are comparable across steps
        state, aux = fn(graphdef, state, batch, jax.random.key(0))
        losses.append(float(aux["loss"]))
    return losses, aux


def test_qlae_training_step_lowers_loss():
    x = jax.random.uniform(jax.random.key(0), (8, 16, 16, 1))
    model = _models.qlae((16, 16, 1), L, **SMALL["qlae"], rngs=nnx.Rngs(0))
    objective = objectives.make_objective(
        objectives.reconstruction_term("bernoulli"),
        objectives.Term(
            "quantization",
            lambda o, b: jnp.mean(quantization_loss(o.z_continuous, o.z_quantized)),
            0.01,
        ),
        objectives.Term(
            "commitment",
            lambda o, b: jnp.mean(commitment_loss(o.z_continuous, o.z_quantized)),
            0.01,
        ),
    )
    losses, aux = _fit(model, objective, x)
    assert losses[-1] < losses[0], losses
    assert {"quantization", "commitment", "grad_norm"} <= set(aux)


def test_beta_tcvae_training_step_lowers_loss():
    x = jax.random.uniform(jax.random.key(0), (8, 16, 16, 3))
    model = _models.conv_vae((16, 16, 3), L, **SMALL["dlib"], rngs=nnx.Rngs(0))
    objective = objectives.make_objective(
        objectives.reconstruction_term("bernoulli"),
        objectives.kl_term(weight=1.0),
        objectives.Term(
            "tc",
            lambda o, b: jnp.mean(total_correlation(o.z, o.z_mean, o.z_logvar, dataset_size=1000)),
            5.0,
        ),
    )
    losses, _ = _fit(model, objective, x, learning_rate=3e-3)
    assert losses[-1] < losses[0], losses


def test_bad_arguments():
    with pytest.raises(ValueError, match="architecture"):
        _models.qlae((64, 64, 3), 4, architecture="resnet", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="quantizer"):
        _models.qlae((64, 64, 3), 4, quantizer="vq", **TINY["qlae"], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="divisible"):
        _models.conv_autoencoder((60, 60, 3), 4, **TINY["qlae"], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="input_shape"):
        _models.conv_autoencoder((64, 64), 4, rngs=nnx.Rngs(0))
    model = _models.conv_autoencoder((64, 64, 3), 4, **TINY["qlae"], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="NHWC"):
        model(jnp.zeros((2, 64, 64, 1)))
    assert _models.default_num_latents(6) == 12
    with pytest.raises(ValueError, match="num_factors"):
        _models.default_num_latents(0)


@pytest.mark.parametrize("quantizer", _models.QUANTIZERS)
def test_mlp_qlae_quantizes_and_trains(quantizer):
    x = jax.random.normal(jax.random.key(0), (16, 3))
    model = _models.mlp_qlae((3,), 2, hidden=(16,), num_values=4, quantizer=quantizer,
                             rngs=nnx.Rngs(0))  # fmt: skip
    out = jax.jit(lambda m, x: m(x))(model, x)
    assert out.x_hat.shape == (16, 3) and out.z.shape == (16, 2)
    np.testing.assert_allclose(out.z, out.z_quantized, rtol=1e-6, atol=1e-6)
    if quantizer != "fsq":  # FSQ's z_continuous is the bounded (tanh) code, not encode(x)
        np.testing.assert_allclose(model.encode(x), out.z_continuous, rtol=1e-5, atol=1e-6)
    # every latent takes one of its own codebook values
    np.testing.assert_allclose(model.quantizer.lookup(out.indices), out.z_quantized, rtol=1e-6)
    objective = objectives.make_objective(
        objectives.reconstruction_term("gaussian"), *objectives.quantization_terms()
    )
    losses, _ = _fit(model, objective, x, steps=10, learning_rate=1e-2)
    assert losses[-1] < losses[0], losses
    with pytest.raises(ValueError, match="num_latents"):
        _models.mlp_qlae((3,), 0, rngs=nnx.Rngs(0))

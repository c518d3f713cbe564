"""The method registry: names, layered defaults, overrides, the warm-up check, and every
method x data kind training a few steps through the engine."""

import json

import jax
import numpy as np
import pytest

from qdjax import data, methods
from qdjax import train as qtrain


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown method 'clif' \(did you mean 'cliff'\?\)"):
        methods.resolve("clif", "synthetic")
    with pytest.raises(ValueError, match="valid methods: ae, betavae"):
        methods.get("nope")


def test_unknown_dataset_and_key_are_rejected():
    with pytest.raises(ValueError, match="unknown dataset 'shapes' .*shapes3d"):
        methods.resolve("ae", "shapes")
    with pytest.raises(ValueError, match="has no setting 'loss.bta'.*did you mean 'loss.beta'"):
        methods.resolve("betavae", "synthetic", {"loss.bta": 1.0})
    with pytest.raises(TypeError, match="loss.beta must be a float"):
        methods.resolve("betavae", "synthetic", {"loss.beta": "big"})


def test_image_only_method_refuses_vector_data():
    with pytest.raises(ValueError, match="does not apply to vector data"):
        methods.resolve("qlinfowgan", "synthetic")
    assert "qlinfowgan" not in methods.names("synthetic")
    assert "qlinfowgan" in methods.names("shapes3d")


def test_defaults_are_layered_and_overrides_recorded():
    # dataset defaults beat common ones; the method's dataset values beat both
    r = methods.resolve("cliff", "synthetic")
    assert r["loss.warmup_steps"] == 1000 and r["train.batch_size"] == 512
    assert methods.resolve("cliff", "balls")["train.batch_size"] == 32
    assert methods.resolve("ae", "shapes3d")["loss.likelihood"] == "bernoulli"
    # the QLAE authors' per-dataset weight decay (configs/params/quantized_ae/mpi3d.yaml: 1e-3)
    assert methods.resolve("qlae", "shapes3d")["train.weight_decay"] == 0.1
    assert methods.resolve("qlae", "mpi3d")["train.weight_decay"] == 1e-3
    r = methods.resolve("cliff", "synthetic", {"loss.regularizer_weight": 3, "loss.ramp_steps": 5})
    assert r["loss.regularizer_weight"] == 3.0 and isinstance(r["loss.regularizer_weight"], float)
    out = json.loads(json.dumps(r.to_json()))
    assert out["method"] == "cliff" and out["dataset"] == "synthetic"
    assert out["loss"]["regularizer_weight"] == 3.0
    assert out["overridden"] == ["loss.ramp_steps", "loss.regularizer_weight"]


def test_run_shorter_than_warmup_is_refused():
    r = methods.resolve("cliff", "synthetic")
    with pytest.raises(ValueError, match="warmup_steps=1000 steps.*num_steps=1000: it would train"):
        methods.check_run_length(r, 1000)
    methods.check_run_length(r, 1001)  # switches on at the last step: allowed
    with pytest.raises(ValueError, match="plain autoencoder"):
        methods.resolve("cliff", "synthetic", num_steps=10)
    # weight 0 or no warm-up: nothing to switch on, no error
    methods.resolve("cliff", "synthetic", {"loss.regularizer_weight": 0.0}, num_steps=10)
    methods.resolve("hfs", "synthetic", num_steps=1)


def test_warmup_schedule_values():
    w = methods.warmup_schedule(2.0, 10, 4)
    got = [float(w(s)) for s in (0, 9, 10, 11, 12, 13, 100)]
    assert got == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    assert methods.warmup_schedule(2.0, 0, 0) == 2.0


# ------------------------------------------------------------ every method runs a few steps

_FAST = {  # tiny settings so every method trains 2 steps quickly; recipes otherwise intact
    "synthetic": {"train.batch_size": 20},
    "balls": {"train.batch_size": 20},
}


def _architecture(dataset, num_latents=3):
    if dataset == "synthetic":
        return methods.Architecture((4,), num_latents, "mlp", {"hidden": (16,)}, dataset_size=256)
    return methods.Architecture(
        (64, 64, 3),
        num_latents,
        "conv",
        {"architecture": "dlib", "channels": (4, 4, 4, 4), "dense": (8,)},
        dataset_size=256,
    )


def _source(dataset, batch_size):
    rng = np.random.default_rng(0)
    shape = (256, 4) if dataset == "synthetic" else (40, 64, 64, 3)
    x = rng.uniform(0, 1, shape).astype(np.float32)
    return data.ArraySource(
        x, rng.normal(size=(shape[0], 2)).astype(np.float32), batch_size=batch_size, seed=0
    )


# Every method on vector data, and on images the ones with their own model or step (the other
# image cases compile a conv net each, ~1 min on a shared CPU: marked slow).
_IMAGE_DEFAULT = ("qlae", "tripod", "qlinfowgan")
CASES = [
    pytest.param(
        m,
        d,
        id=f"{m}-{d}",
        marks=[pytest.mark.slow] if d == "balls" and m not in _IMAGE_DEFAULT else [],
    )
    for d in ("synthetic", "balls")
    for m in methods.names(d)
]


@pytest.mark.parametrize("name,dataset", CASES)
def test_every_method_trains_two_steps(tmp_path, name, dataset):
    over = dict(_FAST[dataset])
    if "loss.warmup_steps" in methods.defaults(name, dataset):
        over["loss.warmup_steps"] = 0
    if name == "qlinfowgan":
        over["train.batch_size"] = 20  # a multiple of n_critic = 5
    recipe = methods.resolve(name, dataset, over, num_steps=2)
    built = methods.build(recipe, _architecture(dataset), seed=0)
    assert built.modules[0] is built.model
    result = qtrain.train(
        built.modules,
        built.step,
        _source(dataset, recipe["train.batch_size"]),
        num_steps=2,
        workdir=str(tmp_path),
        checkpoint_every=2,
        log_every=1,
        progress=False,
        tensorboard=False,
    )
    assert np.isfinite(result.last_metrics["loss"])
    x = _source(dataset, 4).batch(0).x
    z = jax.jit(lambda m, x: m.encode(x))(result.modules[0], x)
    assert z.shape == (4, 3) and np.all(np.isfinite(np.asarray(z)))
    qtrain.write_results(str(tmp_path), {"recipe": recipe.to_json()})
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["recipe"]["method"] == name


def test_additive_decoder_is_a_sum_of_block_decoders():
    from flax import nnx

    from qdjax.nn._additive import additive_autoencoder

    model = additive_autoencoder((5,), 4, block_size=2, hidden=(8,), rngs=nnx.Rngs(0))
    z = jax.random.normal(jax.random.key(0), (3, 4))
    zero = jax.numpy.zeros_like(z)
    # f(z) = f1(z1, z2) + f2(z3, z4): the mixed difference across blocks vanishes
    a = zero.at[:, :2].set(z[:, :2])
    b = zero.at[:, 2:].set(z[:, 2:])
    dec = model.decoder
    np.testing.assert_allclose(dec(z) - dec(a) - dec(b) + dec(zero), 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="block_size must divide"):
        additive_autoencoder((5,), 3, block_size=2, rngs=nnx.Rngs(0))

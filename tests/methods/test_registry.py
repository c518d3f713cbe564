"""The method registry: names, layered defaults, overrides, the warm-up check, and every
method x data kind training a few steps through the engine."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

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
    # Cliff's Balls schedule: a batch and a fixed bandwidth under which the KDE term works
    r = methods.resolve("cliff", "balls")
    assert r["train.batch_size"] == 128 and r["loss.cliff_bandwidth"] == 0.15
    assert (r["loss.warmup_steps"], r["loss.ramp_steps"]) == (200, 200)
    assert methods.resolve("ae", "balls")["train.batch_size"] == 32
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
    # ...and back: from_json rebuilds the same recipe (tuples included) from the written JSON
    assert methods.Recipe.from_json(out) == r
    q = methods.Recipe("m", "d", {"model.hidden": (8, 4), "loss.beta": 0.5})
    assert methods.Recipe.from_json(json.loads(json.dumps(q.to_json()))) == q
    with pytest.raises(ValueError, match="not a recipe written by Recipe.to_json"):
        methods.Recipe.from_json({"loss": {}})


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


# ------------------------------------------------------------ every method runs a step
#
# Cheap by default (CPU compile time is the whole cost): every method x data kind builds on the
# tiniest networks (an 8-wide MLP on 4-d vectors; a 2-stage conv net with 4 channels on 8x8x3
# images; an 8-wide discriminator), creates its model eagerly (per-op compiles are cached across
# cases, where `methods.build`'s one compiled initializer per model costs ~5 s of CPU each) and
# compiles one step with XLA's cheap CPU settings (~40 % less compile time; the numbers do not
# matter here, only that the step traces, runs and moves the parameters). A second step of a loop
# reuses the compiled one, so it would prove nothing more. The engine path (loop, checkpoints of
# every module, results.json) runs for one method per module layout. The full-size image cases
# (64x64) are slow and run only with QDJAX_SLOW=1.

_SLOW = pytest.mark.skipif(
    not os.environ.get("QDJAX_SLOW"), reason="full-size image cases: set QDJAX_SLOW=1"
)
_TINY_IMAGE = (8, 8, 3)
_CHEAP_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


@pytest.fixture
def eager_create(monkeypatch):
    """Models built by `methods.build` are created eagerly (see the comment above)."""

    def create(factory, *args, seed, **kwargs):
        return factory(*args, **kwargs, rngs=nnx.Rngs(seed))

    monkeypatch.setattr(methods._parts, "create", create)


def _architecture(dataset, num_latents=3, *, full=False):
    if dataset == "synthetic":
        return methods.Architecture((4,), num_latents, "mlp", {"hidden": (8,)}, dataset_size=256)
    if full:
        options = {"architecture": "dlib", "channels": (4, 4, 4, 4), "dense": (8,)}
        return methods.Architecture((64, 64, 3), num_latents, "conv", options, dataset_size=256)
    options = {"architecture": "dlib", "channels": (4, 4), "dense": (8,)}
    return methods.Architecture(_TINY_IMAGE, num_latents, "conv", options, dataset_size=256)


def _source(arch, batch_size, num=40):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (num, *arch.input_shape)).astype(np.float32)
    s = rng.normal(size=(num, 2)).astype(np.float32)
    return data.ArraySource(x, s, batch_size=batch_size, seed=0)


def _tiny_recipe(name, dataset, num_steps, *, residual=False):
    own = methods.defaults(name, dataset)
    # a multiple of the 4 test devices, of QLInfoWGAN's 5 critic micro-batches, and even (the
    # discriminator methods split it in halves)
    over = {"train.batch_size": 20 if name == "qlinfowgan" else 8}
    if "loss.warmup_steps" in own:
        over["loss.warmup_steps"] = 0
    if "model.discriminator_width" in own:
        over.update({"model.discriminator_width": 8, "model.discriminator_depth": 1})
    if "model.grid_cells" in own:  # grid_flow: a small flow, 3 cells per axis
        over.update({"model.grid_cells": 3, "model.flow_layers": 2, "model.flow_width": 8})
    if "model.residual" in own:  # Tripod's residual nets: 5x the compile; full-size case only
        over["model.residual"] = residual
    return methods.resolve(name, dataset, over, num_steps=num_steps)


CASES = [
    pytest.param(m, d, id=f"{m}-{d}") for d in ("synthetic", "balls") for m in methods.names(d)
]


@pytest.mark.parametrize("name,dataset", CASES)
def test_every_method_takes_a_finite_step(eager_create, name, dataset):
    recipe = _tiny_recipe(name, dataset, num_steps=1)
    arch = _architecture(dataset)
    if name == "grid_flow":  # an invertible map: as many latents as data dimensions
        arch = methods.Architecture((3,), 3, "mlp", {}, dataset_size=256)
    built = methods.build(recipe, arch, seed=0)
    assert built.modules[0] is built.model
    graphdef, state = nnx.split(built.modules)
    step = jax.jit(
        lambda state, batch, key: built.step(graphdef, state, batch, key),
        compiler_options=_CHEAP_COMPILE,
    )
    batch = _source(arch, recipe["train.batch_size"]).batch(0)
    before = jax.tree.map(np.array, nnx.state(built.model, nnx.Param))
    state, aux = step(state, batch, jax.random.key(0))
    assert np.isfinite(float(aux["loss"])), aux
    model = nnx.merge(graphdef, state)[0]
    after = nnx.state(model, nnx.Param)
    moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), before, after)
    assert any(jax.tree.leaves(moved)), "one step changed no parameter"
    z = jax.jit(lambda m, x: m.encode(x))(model, batch.x[:4])
    assert z.shape == (4, 3) and np.all(np.isfinite(np.asarray(z)))
    # the recipe is plain data: it round-trips through results.json unchanged
    assert json.loads(json.dumps(recipe.to_json()))["method"] == name


# one method per module layout: (model, optimizer) and (model, two optimizers) as the GAN too
ENGINE_CASES = [("qlae", "synthetic"), ("factorqvae", "synthetic")]


@pytest.mark.parametrize("name,dataset", ENGINE_CASES, ids=[f"{m}-{d}" for m, d in ENGINE_CASES])
def test_engine_trains_and_records_the_recipe(eager_create, tmp_path, name, dataset):
    _train_two_steps(tmp_path, name, dataset, _architecture(dataset))


def _train_two_steps(tmp_path, name, dataset, arch, *, residual=False):
    recipe = _tiny_recipe(name, dataset, num_steps=2, residual=residual)
    built = methods.build(recipe, arch, seed=0)
    result = qtrain.train(
        built.modules,
        built.step,
        _source(arch, recipe["train.batch_size"]),
        num_steps=2,
        workdir=str(tmp_path),
        checkpoint_every=2,
        log_every=1,
        progress=False,
        tensorboard=False,
    )
    assert np.isfinite(result.last_metrics["loss"])
    qtrain.write_results(str(tmp_path), {"recipe": recipe.to_json()})
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["recipe"] == json.loads(json.dumps(recipe.to_json()))


@pytest.mark.slow
@_SLOW
@pytest.mark.parametrize("name", methods.names("balls"))
def test_full_size_image_methods_train(tmp_path, name):
    _train_two_steps(tmp_path, name, "balls", _architecture("balls", full=True), residual=True)


def test_additive_decoder_is_a_sum_of_block_decoders():
    from qdjax.nn._additive import additive_autoencoder

    model = additive_autoencoder((5,), 4, block_size=2, hidden=(8,), rngs=nnx.Rngs(0))
    z = jax.random.normal(jax.random.key(0), (3, 4))
    zero = jax.numpy.zeros_like(z)
    # f(z) = f1(z1, z2) + f2(z3, z4): the mixed difference across blocks vanishes
    a = zero.at[:, :2].set(z[:, :2])
    b = zero.at[:, 2:].set(z[:, 2:])
    dec = model.decoder
    mixed = jax.jit(lambda z, a, b, zero: dec(z) - dec(a) - dec(b) + dec(zero))(z, a, b, zero)
    np.testing.assert_allclose(mixed, 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="block_size must divide"):
        additive_autoencoder((5,), 3, block_size=2, rngs=nnx.Rngs(0))


def test_hfs_penalty_reads_at_most_hfs_batch_rows():
    # HFS is cubic in the batch: the recipe caps the rows it reads (first rows of a batch that
    # is already in random order); 0 reads them all.
    from qdjax import losses
    from qdjax.methods import _parts

    z = jax.random.normal(jax.random.key(0), (64, 3))
    ref = losses.hfs_pairwise(z[:16])
    want = float(jnp.sum(ref) / 6)
    capped = _parts.hfs_kernel({"loss.hfs_batch": 16})(z)
    assert float(capped) == pytest.approx(want, rel=1e-6)
    full = _parts.hfs_kernel({"loss.hfs_batch": 0})(z)
    assert float(full) == pytest.approx(float(jnp.sum(losses.hfs_pairwise(z)) / 6), rel=1e-6)
    assert float(full) != pytest.approx(want, rel=1e-3)
    assert methods.resolve("hfs", "synthetic", num_steps=1)["loss.hfs_batch"] == 256


def test_ioss_cliff_penalty_is_the_sum_of_the_two_and_follows_cliffs_terms():
    from qdjax import losses
    from qdjax.methods import _parts

    z = jax.random.normal(jax.random.key(1), (128, 3))
    recipe = methods.resolve("ioss_cliff", "synthetic", num_steps=3000)
    ioss = float(jnp.sum(losses.ioss_pairwise(z)) / 6)  # mean over the 6 ordered pairs
    cliff = float(losses.cliff_loss(z).total)
    got = _parts.ioss_cliff_kernel(recipe)(z)
    assert float(got.total) == pytest.approx(ioss + cliff, rel=1e-5)
    assert (float(got.ioss), float(got.cliff)) == pytest.approx((ioss, cliff), rel=1e-5)
    only_bivariate = methods.resolve(
        "ioss_cliff",
        "synthetic",
        {"loss.cliff_univariate": 0.0, "loss.cliff_uniform": 0.0},
        num_steps=3000,
    )
    want = ioss + float(
        losses.cliff_loss(z, weights=losses.CliffWeights(univariate=0.0, uniform=0.0)).total
    )
    assert float(_parts.ioss_cliff_kernel(only_bivariate)(z).total) == pytest.approx(want, rel=1e-5)
    # Cliff's synthetic schedule (warm-up, ramp, batch), not IOSS's
    assert (recipe["loss.warmup_steps"], recipe["train.batch_size"]) == (1000, 512)
    assert "ioss_cliff" not in methods.names("balls")


def test_cliff_on_ioss_has_ioss_from_the_first_update_and_cliff_after_its_ramp():
    from qdjax import losses
    from qdjax.methods import _parts

    recipe = methods.resolve("cliff_on_ioss", "synthetic", {"loss.regularizer_weight": 0.3})
    arch = methods.Architecture((3,), 3, "mlp", {"hidden": (16,)}, dataset_size=256)
    built = methods.build(recipe, arch, seed=0)
    x = jax.random.normal(jax.random.key(2), (128, 3))
    batch = data.Batch(x, x)
    key = jax.random.key(0)
    z = built.model(x, key=key).z
    ioss = float(_parts.ioss_kernel(recipe)(z))
    cliff = float(losses.cliff_loss(z).total)
    warm, ramp = recipe["loss.warmup_steps"], recipe["loss.ramp_steps"]
    assert (warm, ramp) == (1000, 1000)
    losses_at = {}
    for step in (0, warm - 1, warm + ramp // 2 - 1, warm + ramp):
        loss, aux = built.objective(built.model, batch, key, step)
        assert float(aux["ioss"]) == pytest.approx(ioss, rel=1e-5)
        assert float(aux["cliff"]) == pytest.approx(cliff, rel=1e-5)
        losses_at[step] = float(loss) - float(aux["reconstruction"])
    # IOSS at its full weight from step 0; Cliff off in the warm-up, half-way, then full
    assert losses_at[0] == pytest.approx(0.3 * ioss, rel=1e-5)
    assert losses_at[warm - 1] == pytest.approx(0.3 * ioss, rel=1e-5)
    assert losses_at[warm + ramp // 2 - 1] == pytest.approx(0.3 * ioss + 0.15 * cliff, rel=1e-4)
    assert losses_at[warm + ramp] == pytest.approx(0.3 * (ioss + cliff), rel=1e-5)
    assert "cliff_on_ioss" not in methods.names("balls")


def test_resolve_refuses_a_non_finite_weight():
    with pytest.raises(ValueError, match="must be finite"):
        methods.resolve("cliff", "synthetic", {"loss.regularizer_weight": float("nan")})

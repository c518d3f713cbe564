"""The seed-000 criterion as registry methods (`axis_alignment`, `axis_alignment_nodecoder`):
α from the batch's observations, a few steps lower the criterion, the recipe in results.json,
and the synthetic protocol tunes it like Cliff."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from qdjax import data, losses, methods

_ARCH = methods.Architecture((2,), 2, "mlp", {"hidden": (16,)}, dataset_size=256)


@pytest.fixture(autouse=True)
def eager_create(monkeypatch):
    """Models are created eagerly (`methods.build` compiles an initializer per model: ~5 s)."""

    def create(factory, *args, seed, **kwargs):
        return factory(*args, **kwargs, rngs=nnx.Rngs(seed))

    monkeypatch.setattr(methods._parts, "create", create)


def _rotated_grid(n=256, angle=0.5, seed=0):
    """A 4x4 grid of uniform cells with uneven mass, rotated by `angle` (its cliffs off-axis)."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 4, (3 * n, 2))
    s = s[(np.floor(s[:, 0]) + np.floor(s[:, 1])) % 2 == 0][:n]  # checkerboard support
    c, si = np.cos(angle), np.sin(angle)
    x = s @ np.array([[c, -si], [si, c]])
    return x.astype(np.float32), s.astype(np.float32)


def _built(name, **over):
    base = {"loss.warmup_steps": 0, "loss.ramp_steps": 0, "train.learning_rate": 1e-2}
    recipe = methods.resolve(name, "synthetic", {**base, **over})
    return methods.build(recipe, _ARCH, seed=0)


def test_alpha_comes_from_the_batch_observations():
    built = _built("axis_alignment")
    x, s = _rotated_grid()
    batch = data.ArraySource(x, s, batch_size=64, seed=0).batch(0)
    graphdef, state = nnx.split(built.modules)
    _, aux = jax.jit(lambda st, b: built.step(graphdef, st, b, jax.random.key(0)))(state, batch)
    # the term before the update, recomputed by hand from the kernels (float32, pairwise sums)
    z = built.model.encode(jnp.asarray(batch.x))
    alpha = losses.observation_weights(batch.x, sigma=0.1)
    want = float(jnp.sum(losses.axis_alignment_loss(z, alpha, sigma=0.1)))
    np.testing.assert_allclose(float(aux["axis_alignment"]), want, atol=1e-5)
    assert -1.0 - 1e-6 <= want <= -(0.5**0.5) + 1e-6  # -sum_i alpha_i ||v_i||_inf, sum alpha = 1
    assert "reconstruction" in aux


@pytest.mark.parametrize("name", ["axis_alignment", "axis_alignment_nodecoder"])
def test_a_few_steps_lower_the_criterion(name):
    # one fixed batch of a rotated checkerboard: its density gradients start off the axes
    built = _built(name, **{"loss.axis_alignment_sigma": 0.3, "loss.regularizer_weight": 1.0})
    x, s = _rotated_grid()
    batch = data.Batch(jnp.asarray(x), jnp.asarray(s))
    graphdef, state = nnx.split(built.modules)
    step = jax.jit(lambda st: built.step(graphdef, st, batch, jax.random.key(0)))
    first = None
    for _ in range(60):
        state, aux = step(state)
        first = float(aux["axis_alignment"]) if first is None else first
    last = float(aux["axis_alignment"])
    assert np.isfinite(last)
    assert last < first - 0.01, (first, last)
    assert ("reconstruction" in aux) == (name == "axis_alignment")  # no decoder term otherwise


def test_bad_sigma_is_one_clear_error():
    with pytest.raises(ValueError, match="loss.axis_alignment_sigma must be > 0"):
        _built("axis_alignment", **{"loss.axis_alignment_sigma": 0.0})


def test_recipe_and_schedule_in_results_json(tmp_path):
    from experiments.synthetic import train
    from experiments.synthetic.configs import test as test_config

    cfg = test_config.get_config()
    cfg.method = "axis_alignment"
    cfg.train.num_steps = 2
    cfg.loss.axis_alignment_sigma = 0.2
    train.train_and_evaluate(cfg, str(tmp_path))
    with open(tmp_path / "results.json") as f:
        recipe = json.load(f)["recipe"]
    assert recipe["method"] == "axis_alignment"
    assert recipe["loss"]["axis_alignment_sigma"] == 0.2
    assert recipe["loss"]["warmup_steps"] == 0  # the test config's, recorded as overridden
    assert "loss.axis_alignment_sigma" in recipe["overridden"]


def test_protocol_tunes_it_like_cliff():
    from experiments._methods import apply_recipe
    from experiments.synthetic import protocol

    assert protocol.tunable("axis_alignment") and protocol.tunable("axis_alignment_nodecoder")
    cliff = protocol.setting_config("2d", "cliff", 0, num_steps=1500, weight=0.3)
    cfg = protocol.setting_config("2d", "axis_alignment", 0, num_steps=1500, weight=0.3)
    # Cliff's 1000/1000 of 3000 steps, scaled to 1500: the same schedule for both
    assert (cfg.loss.warmup_steps, cfg.loss.ramp_steps) == (500, 500)
    assert (cliff.loss.warmup_steps, cliff.loss.ramp_steps) == (500, 500)
    _, recipe = apply_recipe(cfg, "synthetic", "axis_alignment", num_steps=1500)
    assert recipe["loss.regularizer_weight"] == 0.3 and recipe["train.batch_size"] == 512
    w = methods.warmup_schedule(0.3, recipe["loss.warmup_steps"], recipe["loss.ramp_steps"])
    assert float(w(499)) == 0.0 and float(w(999)) == pytest.approx(0.3)
    c = protocol.get_config()
    c.methods = "axis_alignment"
    jobs = list(protocol.tuning_jobs(c, "/tmp/unused"))
    assert sorted({k[1] for k, _, _ in jobs}) == [0.03, 0.1, 0.3] and len(jobs) == 6

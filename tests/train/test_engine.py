"""The training engine: objectives, optimizer masks, data parallelism, NaN stops, resume."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from qdjax import data, nn
from qdjax import train as qtrain
from qdjax._src.typing import Batch


def _setup(seed=0, n=512, batch_size=64, latents=2):
    ds = data.make_synthetic(seed, n, num_latents=latents, obs_dim=3)
    source = data.ArraySource(ds.x, ds.z, batch_size=batch_size, seed=seed)
    model = nn.mlp_autoencoder((3,), latents, hidden=(16,), rngs=nnx.Rngs(seed))
    opt = nnx.Optimizer(
        model, qtrain.make_optimizer(learning_rate=3e-3, weight_decay=1e-3), wrt=nnx.Param
    )
    return source, model, opt


def _losses(workdir):
    rows = qtrain.read_metrics(workdir)
    return np.array([rows[k]["loss"] for k in sorted(rows)]), sorted(rows)


def test_objective_weights_terms_and_reports_them_unweighted():
    model = nn.mlp_autoencoder((3,), 2, hidden=(8,), variational=True, rngs=nnx.Rngs(0))
    batch = Batch(x=jnp.ones((4, 3)), s=jnp.zeros((4, 2)))
    obj = qtrain.make_objective(
        qtrain.reconstruction_term(weight=2.0),
        qtrain.kl_term(weight=0.5),
        qtrain.Term("never", lambda out, b: jnp.nan, weight=0.0),
    )
    loss, aux = obj(model, batch, jax.random.key(0))
    assert set(aux) == {"loss", "reconstruction", "kl"}  # zero-weight term not computed
    np.testing.assert_allclose(loss, 2.0 * aux["reconstruction"] + 0.5 * aux["kl"], rtol=1e-6)
    with pytest.raises(ValueError, match="unique"):
        qtrain.make_objective(qtrain.kl_term(), qtrain.kl_term())
    with pytest.raises(ValueError, match="non-zero weight"):
        qtrain.make_objective(qtrain.kl_term(weight=0.0))


def test_latent_term_reports_namedtuple_parts():
    from typing import NamedTuple

    class Parts(NamedTuple):
        total: jax.Array
        a: jax.Array
        b: jax.Array

    term = qtrain.latent_term("reg", lambda z: Parts(jnp.sum(z), jnp.mean(z), jnp.max(z)))
    model = nn.mlp_autoencoder((3,), 2, hidden=(8,), rngs=nnx.Rngs(0))
    obj = qtrain.make_objective(term)
    batch = Batch(x=jnp.ones((4, 3)), s=jnp.zeros((4, 2)))
    _, aux = obj(model, batch, jax.random.key(0))
    z = model.encode(batch.x)
    np.testing.assert_allclose(aux["reg"], jnp.sum(z), rtol=1e-6)
    np.testing.assert_allclose(aux["reg/b"], jnp.max(z), rtol=1e-6)


def test_decay_mask_covers_exactly_the_weight_matrices():
    model = nn.mlp_autoencoder((3,), 2, hidden=(8, 8), rngs=nnx.Rngs(0))
    labels = qtrain.param_labels(nnx.state(model, nnx.Param))
    flat = jax.tree_util.tree_leaves_with_path(labels)
    assert flat
    for path, label in flat:
        name = jax.tree_util.keystr(path)
        assert label == ("decay" if "kernel" in name else "no_decay"), name


def test_adamw_decays_weights_but_not_biases():
    # With zero gradients, AdamW shrinks decayed params by lr * wd * p; Adam leaves others alone.
    params = {
        "dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones((2,))},
        "codebook": jnp.ones((2, 3)),
    }
    tx = qtrain.make_optimizer(learning_rate=0.1, weight_decay=0.5)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, state, params)
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new["dense"]["kernel"], 1 - 0.1 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(new["dense"]["bias"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(new["codebook"], 1.0, rtol=1e-6)


def test_one_and_two_devices_give_the_same_loss_trajectory(tmp_path):
    assert jax.device_count() >= 2, "conftest sets 4 CPU devices"
    runs = {}
    for n in (1, 2):
        source, model, opt = _setup()
        wd = str(tmp_path / f"dev{n}")
        qtrain.train(
            (model, opt),
            qtrain.make_train_step(qtrain.make_objective(qtrain.reconstruction_term())),
            source,
            num_steps=25,
            workdir=wd,
            log_every=1,
            checkpoint_every=100,
            devices=jax.devices()[:n],
            progress=False,
            tensorboard=False,
        )
        runs[n] = _losses(wd)[0]
    assert len(runs[1]) == 25
    assert runs[1][-1] < runs[1][0]  # it trains
    np.testing.assert_allclose(runs[2], runs[1], rtol=2e-5, atol=1e-6)


def test_batch_not_divisible_by_devices_is_a_clear_error(tmp_path):
    source, model, opt = _setup(batch_size=63)
    with pytest.raises(ValueError, match="divisible by the number of devices"):
        qtrain.train(
            (model, opt),
            qtrain.make_train_step(qtrain.make_objective(qtrain.reconstruction_term())),
            source,
            num_steps=2,
            workdir=str(tmp_path),
            devices=jax.devices()[:2],
            progress=False,
        )


class _PoisonAt:
    """Wraps a source; from step `at` on, factors carry a flag that makes a term NaN."""

    def __init__(self, source, at):
        self.source, self.at, self.batch_size = source, at, source.batch_size

    def batch(self, step):
        b = self.source.batch(step)
        s = np.array(b.s)
        s[0, 0] = 1e6 if step >= self.at else s[0, 0]
        return Batch(b.x, s)


def test_non_finite_loss_names_step_and_term_and_keeps_last_checkpoint(tmp_path):
    source, model, opt = _setup()
    boom = qtrain.Term("boom", lambda out, b: jnp.where(b.s[0, 0] > 1e5, jnp.nan, 0.0), 1.0)
    obj = qtrain.make_objective(qtrain.reconstruction_term(), boom)
    with pytest.raises(qtrain.NonFiniteLossError, match=r"step 8: term\(s\) boom.*step 5"):
        qtrain.train(
            (model, opt),
            qtrain.make_train_step(obj),
            _PoisonAt(source, 7),
            num_steps=20,
            workdir=str(tmp_path),
            checkpoint_every=5,
            log_every=3,
            progress=False,
            tensorboard=False,
        )
    ckpt = qtrain.Checkpointer(str(tmp_path / "checkpoints"))
    assert ckpt.latest_step() == 5
    # the last good checkpoint restores to finite parameters
    source, model, opt = _setup()
    state, _ = ckpt.restore(
        5, nnx.state((model, opt)), jax.random.key(0), qtrain.make_data_mesh(jax.devices()[:1])
    )
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state))
    ckpt.close()


def test_nan_in_batch_is_rejected_before_training(tmp_path):
    source, model, opt = _setup()
    source.x[source.indices(0)[0], 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        qtrain.train(
            (model, opt),
            qtrain.make_train_step(qtrain.make_objective(qtrain.reconstruction_term())),
            source,
            num_steps=2,
            workdir=str(tmp_path),
            progress=False,
        )


def _train_fresh(obj, workdir, num_steps):
    """Builds a fresh (model, optimizer, source) and trains it into `workdir`."""
    source, model, opt = _setup()
    return qtrain.train(
        (model, opt),
        qtrain.make_train_step(obj),
        source,
        num_steps=num_steps,
        workdir=workdir,
        checkpoint_every=10,
        log_every=1,
        progress=False,
        tensorboard=False,
    )


def test_resume_continues_from_latest_checkpoint(tmp_path):
    obj = qtrain.make_objective(qtrain.reconstruction_term())
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    _train_fresh(obj, straight, 30)
    _train_fresh(obj, resumed, 20)
    r = _train_fresh(obj, resumed, 30)
    assert r.resumed_from == 20
    np.testing.assert_allclose(_losses(resumed)[0], _losses(straight)[0], rtol=1e-6)
    with open(os.path.join(resumed, "metrics.jsonl")) as f:
        assert all("loss" in json.loads(line) for line in f)


def test_scheduled_weight_follows_the_optimizer_step(tmp_path):
    source, model, opt = _setup()
    ramp = qtrain.Term("ramp", lambda out, b: jnp.float32(1.0), weight=lambda step: 0.5 * step)
    obj = qtrain.make_objective(qtrain.reconstruction_term(), ramp)
    step = jax.jit(qtrain.make_train_step(obj), static_argnums=0)
    graphdef, state = nnx.split((model, opt))
    batch = source.batch(0)
    for t in range(3):
        state, aux = step(graphdef, state, batch, jax.random.key(t))
        np.testing.assert_allclose(aux["loss"] - aux["reconstruction"], 0.5 * t, rtol=1e-5)


def test_quantization_terms_match_the_kernels_and_move_the_right_params():
    from typing import NamedTuple

    class Out(NamedTuple):
        z_continuous: jax.Array
        z_quantized: jax.Array

    q_term, c_term = qtrain.quantization_terms()
    assert (q_term.weight, c_term.weight) == (0.01, 0.01)
    zc = jnp.array([[0.3, -0.2], [0.1, 0.4]])
    zq = jnp.array([[0.5, 0.0], [0.0, 0.5]])
    expected = np.mean(np.sum((np.asarray(zc) - np.asarray(zq)) ** 2, axis=1))
    np.testing.assert_allclose(q_term.fn(Out(zc, zq), None), expected, rtol=1e-6)
    np.testing.assert_allclose(c_term.fn(Out(zc, zq), None), expected, rtol=1e-6)
    # quantization moves only z_q, commitment only z_c
    gq = jax.grad(lambda a, b: q_term.fn(Out(a, b), None), argnums=(0, 1))(zc, zq)
    gc = jax.grad(lambda a, b: c_term.fn(Out(a, b), None), argnums=(0, 1))(zc, zq)
    assert np.all(gq[0] == 0) and np.any(gq[1] != 0)
    assert np.all(gc[1] == 0) and np.any(gc[0] != 0)


def test_a_workdir_of_another_run_is_refused_not_resumed_or_moved(tmp_path):
    obj = qtrain.make_objective(qtrain.reconstruction_term())
    step_fn = qtrain.make_train_step(obj)
    wd = str(tmp_path / "run")
    _train_fresh(obj, wd, 10)
    kw = dict(workdir=wd, checkpoint_every=10, log_every=1, progress=False, tensorboard=False)
    # another model (wider hidden layer): its checkpoint is whole, so it is neither restored
    # into the wrong shapes nor moved aside as "damaged" (that lost the run's progress)
    source, _, _ = _setup()
    wide = nn.mlp_autoencoder((3,), 2, hidden=(32,), rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(wide, qtrain.make_optimizer(learning_rate=3e-3), wrt=nnx.Param)
    with pytest.raises(qtrain.CheckpointMismatchError, match="another model or optimizer"):
        qtrain.train((wide, opt), step_fn, source, num_steps=20, **kw)
    assert os.listdir(os.path.join(wd, "checkpoints")) == ["10"]
    assert not os.path.exists(os.path.join(wd, "checkpoints_bad"))
    # another seed: the checkpoint's base key says so
    source, model, opt = _setup()
    with pytest.raises(ValueError, match="another seed"):
        qtrain.train((model, opt), step_fn, source, num_steps=20, seed=1, **kw)
    # fewer steps than the checkpoint: not silently a longer-trained model
    with pytest.raises(ValueError, match=r"step 10 > num_steps=5"):
        qtrain.train((model, opt), step_fn, source, num_steps=5, **kw)
    assert _train_fresh(obj, wd, 20).resumed_from == 10  # the same run still continues


def test_run_config_refuses_a_resume_with_other_hyperparameters(tmp_path):
    obj = qtrain.make_objective(qtrain.reconstruction_term())
    step_fn = qtrain.make_train_step(obj)
    wd = str(tmp_path / "run")
    kw = dict(workdir=wd, checkpoint_every=10, log_every=1, progress=False, tensorboard=False)

    def run(num_steps, run_config):
        source, model, opt = _setup()
        return qtrain.train(
            (model, opt), step_fn, source, num_steps=num_steps, run_config=run_config, **kw
        )

    config = {"learning_rate": np.float64(3e-3), "widths": (16,), "method": "ae"}
    run(10, config)
    with open(os.path.join(wd, "run_config.json")) as f:
        assert json.load(f)["widths"] == [16]
    # another learning rate: the checkpoint's structure is the same, only the record tells
    with pytest.raises(qtrain.CheckpointMismatchError, match=r"learning_rate: 0\.003"):
        run(20, {**config, "learning_rate": 1e-3})
    with pytest.raises(qtrain.CheckpointMismatchError, match=r"method: 'ae' -> '\(absent\)'"):
        run(20, {"learning_rate": config["learning_rate"], "widths": (16,)})
    with pytest.raises(qtrain.CheckpointMismatchError, match="passes none"):
        run(20, None)
    assert os.listdir(os.path.join(wd, "checkpoints")) == ["10"]  # left in place
    # the same config (tuple vs list, NumPy vs Python numbers) continues the run
    assert run(20, {**config, "widths": [16], "learning_rate": 0.003}).resumed_from == 10
    with pytest.raises(TypeError, match="JSON-serializable"):
        run(30, {**config, "objective": obj})
    with pytest.raises(TypeError, match="mapping"):
        run(30, [("learning_rate", 3e-3)])
    # a run recorded without run_config refuses one added later (it cannot be checked)
    plain = str(tmp_path / "plain")
    _train_fresh(obj, plain, 10)
    source, model, opt = _setup()
    with pytest.raises(qtrain.CheckpointMismatchError, match="made without run_config"):
        qtrain.train(
            (model, opt),
            step_fn,
            source,
            num_steps=20,
            run_config=config,
            **{**kw, "workdir": plain},
        )


def test_rerunning_a_finished_run_adds_no_duplicate_eval_row(tmp_path):
    obj = qtrain.make_objective(qtrain.reconstruction_term())
    wd = str(tmp_path / "run")
    for _ in range(3):
        source, model, opt = _setup()
        qtrain.train(
            (model, opt),
            qtrain.make_train_step(obj),
            source,
            num_steps=10,
            workdir=wd,
            checkpoint_every=10,
            log_every=5,
            eval_fn=lambda m, t: {"acc": 1.0},
            progress=False,
            tensorboard=False,
        )
    with open(os.path.join(wd, "metrics.jsonl")) as f:
        evals = [json.loads(line)["step"] for line in f if "eval/acc" in line]
    assert evals == [10]


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
        ({"learning_rate": float("inf")}, ValueError, "learning_rate"),
        ({"learning_rate": "1e-3"}, TypeError, "learning_rate must be a number"),
        ({"weight_decay": float("nan")}, ValueError, "weight_decay"),
        ({"weight_decay": None}, TypeError, "weight_decay must be a number"),
        ({"b1": 1.5}, ValueError, "b1 and b2"),
        ({"b2": -0.1}, ValueError, "b1 and b2"),
        ({"eps": -1.0}, ValueError, "eps"),
        ({"clip_value": float("nan")}, ValueError, "clip_value"),
        ({"clip_norm": float("nan")}, ValueError, "clip_norm"),
        ({"warmup_steps": 2.5}, TypeError, "warmup_steps"),
    ],
)
def test_make_optimizer_refuses_bad_values(kw, err, match):
    # NaN passed the old `< 0` checks and surfaced later as a NaN loss blamed on a loss term
    with pytest.raises(err, match=match):
        qtrain.make_optimizer(**kw)


def test_make_objective_refuses_non_terms_and_non_finite_weights():
    with pytest.raises(TypeError, match="takes Terms"):
        qtrain.make_objective(lambda out, b: 0.0)
    with pytest.raises(ValueError, match="weights must be finite"):
        qtrain.make_objective(qtrain.reconstruction_term(weight=float("nan")))

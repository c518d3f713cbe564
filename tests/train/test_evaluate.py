"""Tests for qdjax.train.evaluate: chunked encoding, metric flattening, FactorVAE protocol."""

import numpy as np
import pytest

from qdjax.train import evaluate


class ToySampler:
    """Observations are the factors scaled to [0, 1] followed by two noise dims."""

    factor_sizes = (3, 4, 5)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, k, n) for k in self.factor_sizes], 1).astype(np.int32)

    def sample_observations(self, factors, rng):
        u = factors / (np.array(self.factor_sizes) - 1)
        noise = rng.normal(size=(len(factors), 2))
        return np.concatenate([u, noise], axis=1).astype(np.float32)


def test_encode_pads_last_chunk_and_keeps_order():
    shapes = []

    def encode_fn(x):
        shapes.append(x.shape)
        return 2.0 * x[:, :2]

    x = np.arange(50, dtype=np.float32).reshape(25, 2)
    z = evaluate.encode(encode_fn, x, batch_size=8)
    np.testing.assert_array_equal(z, 2.0 * x)
    assert shapes == [(8, 2)] * 4  # 25 rows -> 4 calls of the same shape


def test_encode_rejects_bad_output():
    with pytest.raises(ValueError, match="num_latents"):
        evaluate.encode(lambda x: x[:, 0], np.zeros((4, 3)), batch_size=2)


def test_evaluate_metrics_flattens_scalars():
    rng = np.random.default_rng(0)
    s = np.stack([rng.integers(0, k, 600) for k in (3, 4)], 1)
    z = s + 0.05 * rng.normal(size=s.shape)
    out = evaluate.evaluate_metrics(
        z, s, metrics=("mcc", "mig", "dci"), options={"dci": {"backend": "forest"}}
    )
    assert set(out) == {
        "mcc/score",
        "mig/score",
        "dci/disentanglement",
        "dci/completeness",
        "dci/informativeness_train",
        "dci/informativeness_test",
    }
    assert all(isinstance(v, float) for v in out.values())
    assert out["mig/score"] > 0.9
    with pytest.raises(ValueError, match="unknown"):
        evaluate.evaluate_metrics(z, s, metrics=("nope",))


def test_factorvae_score_perfect_and_noise_encoders():
    sampler = ToySampler()
    kwargs = dict(seed=0, num_train=300, num_eval=200, num_variance_estimate=1000)
    good = evaluate.factorvae_score(lambda x: x[:, [2, 0, 1, 3, 4]], sampler, **kwargs)
    assert good.eval_accuracy == 1.0 and good.num_active == 5
    rng = np.random.default_rng(9)
    noise = evaluate.factorvae_score(lambda x: rng.normal(size=(len(x), 3)), sampler, **kwargs)
    assert noise.eval_accuracy < 0.6
    again = evaluate.factorvae_score(lambda x: x[:, [2, 0, 1, 3, 4]], sampler, **kwargs)
    np.testing.assert_array_equal(good.eval_votes, again.eval_votes)

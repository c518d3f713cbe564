"""Mechanistic generators: the asked overlap ratio, planted groups, conditioning, errors."""

import numpy as np
import pytest

from qdjax import data
from qdjax import identifiability as qi
from qdjax.data._mechanistic import generator_forward


@pytest.mark.parametrize("overlap", [0.0, 0.05, 0.2, 0.5], ids=["0", "5", "20", "50"])
@pytest.mark.parametrize("num_groups", [2, 3], ids=["K2", "K3"])
def test_measured_overlap_is_what_was_asked(overlap, num_groups):
    ds = data.make_mechanistic(0, 64, num_groups=num_groups, obs_dim=40, overlap=overlap)
    _, jac = generator_forward(ds.generator, ds.z)
    g = qi.group_support(qi.support_mask(jac), ds.generator.groups)  # [n, d_x, K]
    union = g.any(0)  # [d_x, K]: output o is in group k's support at some sampled point
    shared = (union.sum(-1) >= 2).mean()  # fraction of outputs in >= 2 groups' supports
    assert shared == pytest.approx(overlap, abs=1e-9)  # 40 * ratio is an integer here
    assert ds.generator.overlap == overlap
    assert np.all(union.sum(-1) >= 1)  # every output depends on some group


def test_zero_overlap_recovers_planted_groups_on_several_seeds():
    for seed in range(3):
        ds = data.make_mechanistic(seed, 32, num_groups=3, obs_dim=30, overlap=0.0)
        _, jac = generator_forward(ds.generator, ds.z)
        assert qi.components(qi.support_graph(qi.support_mask(jac))) == ds.generator.groups


def test_jax_decode_matches_numpy_chain_rule_and_is_deterministic():
    ds = data.make_mechanistic(3, 16, num_groups=2, obs_dim=24, overlap=0.2, latents="wishart")
    x, jac = generator_forward(ds.generator, ds.z)
    np.testing.assert_allclose(np.asarray(ds.generator.decode(ds.z)), x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        qi.decoder_jacobians(ds.generator.decode, ds.z), jac, rtol=1e-4, atol=1e-5
    )
    again = data.make_mechanistic(3, 16, num_groups=2, obs_dim=24, overlap=0.2, latents="wishart")
    np.testing.assert_array_equal(again.x, ds.x)


def test_conditioning_rank_and_correlated_latents():
    ds = data.make_mechanistic(1, 4000, num_groups=2, obs_dim=20, latents="wishart")
    for ws in ds.generator.weights:
        assert all(np.linalg.cond(w) <= 50.0 for w in ws)
    _, jac = generator_forward(ds.generator, ds.z[:64])
    s = np.linalg.svd(jac, compute_uv=False)
    assert np.min(s[:, -1] / s[:, 0]) >= 1e-3
    corr = np.corrcoef(ds.z.T)
    np.testing.assert_allclose(corr, ds.covariance, atol=0.06)
    assert np.abs(ds.covariance - np.eye(4)).max() > 0.1  # actually correlated


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"overlap": 1.0}, "overlap must be a ratio"),
        ({"overlap": 0.9, "obs_dim": 10}, "raise obs_dim"),
        ({"num_groups": 1}, "num_groups >= 2"),
        ({"combine": "max"}, "combine must be"),
        ({"latents": "uniform"}, "latents must be"),
        ({"max_condition": 1.0, "max_tries": 3}, "condition number"),
    ],
    ids=["ratio", "too_small", "groups", "combine", "latents", "condition"],
)
def test_bad_input_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.make_mechanistic(0, 8, **kwargs)

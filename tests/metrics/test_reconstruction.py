"""Tests for psnr / mse / bce."""

import numpy as np
import pytest

from qdjax.metrics import bce, mse, psnr


def test_psnr_known_values():
    x = np.zeros((2, 4, 4, 1))
    x_hat = np.concatenate([np.full((1, 4, 4, 1), 0.1), np.full((1, 4, 4, 1), 0.01)])
    # Per image: 10 log10(1 / 0.01) = 20 dB and 10 log10(1 / 1e-4) = 40 dB -> mean 30 dB.
    np.testing.assert_allclose(psnr(x, x_hat), 30.0, atol=1e-9)
    np.testing.assert_allclose(psnr(255 * x, 255 * x_hat, max_value=255.0), 30.0, atol=1e-9)
    assert psnr(x, x) == 100.0


def test_mse():
    np.testing.assert_allclose(mse(np.zeros((2, 3)), np.ones((2, 3)) * 0.5), 0.25, atol=1e-12)


def test_bce_probabilities_and_logits_agree():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 5))
    logits = rng.normal(size=(3, 5))
    p = 1.0 / (1.0 + np.exp(-logits))
    expected = np.mean(-(x * np.log(p) + (1 - x) * np.log(1 - p)))
    np.testing.assert_allclose(bce(x, p), expected, atol=1e-9)
    np.testing.assert_allclose(bce(x, logits, from_logits=True), expected, atol=1e-9)


@pytest.mark.parametrize("fn", [psnr, mse, bce], ids=["psnr", "mse", "bce"])
def test_bad_input(fn):
    with pytest.raises(ValueError, match="same shape"):
        fn(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        fn(np.zeros((2, 3)), np.full((2, 3), np.nan))

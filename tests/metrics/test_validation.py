"""Every z/s metric rejects malformed input with a one-line ValueError naming the fix."""

import functools

import numpy as np
import pytest

from qdjax import metrics

METRICS = {
    "mcc": metrics.mcc,
    "mig": metrics.mig,
    "sap": metrics.sap,
    "dci": functools.partial(metrics.dci, backend="forest"),
    "infomec": metrics.infomec,
}

GOOD_S = np.tile(np.arange(4), 10)[:, None]
BAD_INPUTS = {
    "ndim": (np.zeros(40), GOOD_S, "2-D"),
    "mismatched_n": (np.zeros((39, 2)), GOOD_S, "same number of rows"),
    "nan": (np.full((40, 2), np.nan), GOOD_S, "non-finite"),
    "3d": (np.zeros((40, 2, 1)), GOOD_S, "reshape"),
}


@pytest.mark.parametrize("name", list(METRICS))
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises(name, case):
    z, s, match = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=match) as info:
        METRICS[name](z, s)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", list(METRICS))
def test_reruns_identical(name):
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, size=(300, 2))
    z = s + rng.normal(size=s.shape)
    a, b = METRICS[name](z, s), METRICS[name](z, s)
    for field_a, field_b in zip(a, b, strict=True):
        np.testing.assert_array_equal(field_a, field_b)

"""Are the checking helpers the notebooks rely on right?"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dl4phys.checks import rel_error

floats = st.floats(min_value=-3, max_value=3, allow_nan=False)


def test_rel_error_is_zero_for_equal_and_one_for_opposite():
    """Is rel_error 0 for identical arrays and 1 for x against -x?"""
    x = torch.tensor([1.0, -2.0, 3.0])
    assert rel_error(x, x) == 0.0
    assert rel_error(x, -x) == pytest.approx(1.0)


def test_rel_error_rejects_different_shapes():
    """Does rel_error refuse arrays of different shapes instead of broadcasting?"""
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(torch.zeros(3), torch.zeros(3, 1))


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.lists(floats, min_size=1, max_size=12), st.lists(floats, min_size=1, max_size=12))
def test_rel_error_is_symmetric_and_between_zero_and_one(xs, ys):
    """For any two arrays of the same shape, is rel_error symmetric and within [0, 1]?"""
    n = min(len(xs), len(ys))
    x, y = torch.tensor(xs[:n], dtype=torch.float64), torch.tensor(ys[:n], dtype=torch.float64)
    assert rel_error(x, y) == rel_error(y, x)
    assert 0.0 <= rel_error(x, y) <= 1.0 + 1e-12
    assert math.isfinite(rel_error(x, y))

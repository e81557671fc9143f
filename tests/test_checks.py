"""Are the checking helpers the notebooks rely on right?"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dl4phys.checks import numerical_gradient, rel_error

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


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.lists(floats, min_size=1, max_size=6))
def test_numerical_gradient_matches_autograd(values):
    """Does the central difference agree with autograd on a smooth function, to 1e-7 in float64?"""
    x = torch.tensor(values, dtype=torch.float64)

    def f(v):
        return (torch.sin(v) * v**2).sum() + torch.exp(0.3 * v).prod()

    x_grad = x.clone().requires_grad_()
    f(x_grad).backward()
    numerical = numerical_gradient(f, x)
    assert torch.allclose(numerical, x_grad.grad, rtol=1e-7, atol=1e-7)
    assert torch.equal(x, torch.tensor(values, dtype=torch.float64)), "the input must be left unchanged"


def test_numerical_gradient_keeps_shape():
    """Is the numerical gradient shaped like its input?"""
    x = torch.randn(2, 3, dtype=torch.float64)
    grad = numerical_gradient(lambda v: (v**2).sum(), x)
    assert grad.shape == x.shape
    assert math.isclose(float((grad - 2 * x).abs().max()), 0.0, abs_tol=1e-6)

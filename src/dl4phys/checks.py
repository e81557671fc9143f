"""Checking helpers shared by the notebooks' visible tests and the course's own tests.

In the spirit of CS231n: a relative error with a stated tolerance, and a central-difference
numerical gradient to check hand-written backward passes against.
"""

from __future__ import annotations

from typing import Callable

import torch


def default_device() -> torch.device:
    """The device graders and notebooks use: CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def rel_error(x, y, eps: float = 1e-12) -> float:
    """Largest relative error between two arrays or tensors of the same shape.

    ``max |x - y| / max(|x| + |y|, eps)`` elementwise, as a Python float. Below 1e-8 is
    float64-exact for the exercises of this course; below 1e-4 is what float32 allows.
    """
    x = torch.as_tensor(x).detach().to("cpu", torch.float64)
    y = torch.as_tensor(y).detach().to("cpu", torch.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}; compare arrays of the same shape")
    if x.numel() == 0:
        return 0.0
    return float(((x - y).abs() / (x.abs() + y.abs()).clamp_min(eps)).max())


def numerical_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central-difference gradient of a scalar function ``f`` at ``x``.

    Inputs: ``f`` maps a tensor shaped like ``x`` to a scalar (0-dim tensor or float); ``x`` any
    shape, float64 recommended (the truncation error is O(eps^2), the rounding error O(1e-16/eps)).
    Output: a tensor shaped like ``x`` on ``x``'s device. ``x`` is restored after each probe.
    """
    x = x.detach().clone()
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    for i in range(flat_x.numel()):
        original = flat_x[i].item()
        flat_x[i] = original + eps
        f_plus = float(f(x))
        flat_x[i] = original - eps
        f_minus = float(f(x))
        flat_x[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad

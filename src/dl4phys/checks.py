"""Checking helpers shared by the notebooks' visible tests and the course's own tests.

In the spirit of CS231n: a relative error with a stated tolerance. (The numerical gradient that
checks a hand-written backward pass is homework 3's exercise, so it is not here.)
"""

from __future__ import annotations

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

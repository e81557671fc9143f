"""Grader-side rules that judge several of a student's records together.

A probe's :meth:`~dl4phys.judging.probe.Probe.relation` records a group of arrays (for example a
module's weights, an input and the module's output) under one name and a rule named here. The judge
calls ``RELATIONS[rule](student, reference)`` with two dicts of arrays (the student's group and the
reference's) and gets ``(passed, reason)``; a reason names what differed, never an expected value.
Register a rule with :func:`relation`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Relation = Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], tuple[bool, str]]
RELATIONS: dict[str, Relation] = {}


def relation(name: str) -> Callable[[Relation], Relation]:
    """Register a judging rule under ``name``."""

    def register(func: Relation) -> Relation:
        RELATIONS[name] = func
        return func

    return register


@relation("same_up_to_sign")
def same_up_to_sign(student: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> tuple[bool, str]:
    """``value`` equals the reference's up to an overall sign, within ``rtol`` (an eigenvector, a principal axis)."""
    value, ref = np.asarray(student.get("value"), dtype=float), np.asarray(reference["value"], dtype=float)
    rtol = float(reference.get("rtol", 1e-6))
    if value.shape != ref.shape:
        return False, f"has shape {value.shape}, expected {ref.shape}"
    scale = max(float(np.abs(ref).max(initial=0.0)), 1e-300)
    best = min(float(np.abs(value - ref).max(initial=0.0)), float(np.abs(value + ref).max(initial=0.0))) / scale
    return best <= rtol, f"differs by {best:.1e} relative, even allowing a sign flip"

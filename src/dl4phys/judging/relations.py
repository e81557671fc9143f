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


def _parameters(student: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """A module's parameters from a probe's ``names``, ``shapes`` ("3,4") and flat float64 ``values``."""
    names, shapes = np.atleast_1d(student["names"]), np.atleast_1d(student["shapes"])
    values = np.asarray(student["values"], dtype=np.float64).ravel()
    if len(names) != len(shapes):
        raise ValueError("names and shapes differ in length")
    out, start = [], 0
    for name, shape in zip(names, shapes):
        dims = tuple(int(s) for s in str(shape).split(",") if s != "")
        size = int(np.prod(dims, dtype=np.int64))
        out.append((str(name), values[start : start + size].reshape(dims)))
        start += size
    if start != len(values):
        raise ValueError("the values do not fill the shapes")
    return out


def _projection_candidates(params, dim: int):
    """(d, d) matrices and (d,) vectors a module's weights offer as projections, each with a label.

    A (3d, d) or (d, 3d) weight is split into three (d, d) blocks (a packed query-key-value
    projection), a (3d,) bias into three (d,) ones; every matrix is offered as stored and transposed
    (``x @ W.T`` as in ``nn.Linear``, or ``x @ W``).
    """
    matrices, vectors = [], []
    for name, p in params:
        if p.shape == (dim, dim):
            matrices.append((name, p))
        elif p.shape == (3 * dim, dim):
            matrices += [(f"{name}[{i}]", block) for i, block in enumerate(np.split(p, 3, axis=0))]
        elif p.shape == (dim, 3 * dim):
            matrices += [(f"{name}[{i}]", block) for i, block in enumerate(np.split(p, 3, axis=1))]
        elif p.shape == (dim,):
            vectors.append((name, p))
        elif p.shape == (3 * dim,):
            vectors += [(f"{name}[{i}]", block) for i, block in enumerate(np.split(p, 3))]
    return matrices, vectors


@relation("multi_head_self_attention")
def multi_head_self_attention(student: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> tuple[bool, str]:
    """The student's module computes multi-head self-attention with its own weights, in whatever layout.

    Records (from one module, its parameters set by the test): ``names``, ``shapes``, ``values`` (its
    parameters), ``x`` (B, n, d) with ``mask`` (B, n, True = padding) and the module's ``out``, ``x1``
    (B1, 1, d) one-particle inputs with their ``out1``; from the reference: ``num_heads``, ``rtol``,
    ``atol``. Passes when some assignment of the module's (d, d) weight matrices (three blocks of a
    (3d, d) one count as three) to the query, key, value and output projections, each as stored or
    transposed, makes ``torch.nn.functional.multi_head_attention_forward`` reproduce ``out`` on the real
    (unpadded) particles. Found in two steps: with one particle, attention returns that particle's value,
    so ``out1 = x1 W_v^T W_o^T + c`` (a constant row c) singles out the value and output projections;
    then the query and key projections and the query bias are searched (the key bias cancels in the
    softmax, and the value and output biases only enter through c).
    """
    import itertools

    import torch
    import torch.nn.functional as F

    heads, rtol, atol = int(reference["num_heads"]), float(reference["rtol"]), float(reference["atol"])
    x, mask, x1 = (np.asarray(reference[k]) for k in ("x", "mask", "x1"))
    if not (
        np.array_equal(np.asarray(student["x"]), x)
        and np.array_equal(np.asarray(student["mask"]), mask)
        and np.array_equal(np.asarray(student["x1"]), x1)
    ):
        return False, "was recorded for other inputs than the test's"
    out, out1 = np.asarray(student["out"]), np.asarray(student["out1"])
    if out.shape != x.shape or out1.shape != x1.shape:
        return False, f"has output shapes {out.shape} and {out1.shape}, expected {x.shape} and {x1.shape}"
    if out.dtype.kind != "f" or out1.dtype.kind != "f" or not (np.isfinite(out).all() and np.isfinite(out1).all()):
        return False, "has outputs that are not finite floating-point numbers"
    dim = x.shape[-1]
    matrices, vectors = _projection_candidates(_parameters(student), dim)
    if len(matrices) < 4:
        return False, (
            f"the module holds {len(matrices)} weight matrices of shape ({dim}, {dim}) (a ({3 * dim}, {dim}) "
            "one counts as three): multi-head attention needs four, for the queries, keys, values and output"
        )
    oriented = [[m, m.T] for _, m in matrices]
    # Step 1: the value and output projections, from one-particle inputs.
    z1, y1 = x1.reshape(-1, dim).astype(np.float64), out1.reshape(-1, dim).astype(np.float64)
    tolerance1 = atol + rtol * float(np.abs(y1).max(initial=0.0))
    pairs = []
    for iv, io in itertools.permutations(range(len(matrices)), 2):
        for wv, wo in itertools.product(oriented[iv], oriented[io]):
            rest = y1 - z1 @ wv.T @ wo.T
            if float(np.abs(rest - rest[:1]).max(initial=0.0)) <= tolerance1:
                pairs.append((iv, io, wv, wo, rest[0]))
    if not pairs:
        return False, (
            "for a jet of one particle attention returns that particle's value, projected: out_proj(v_proj(x)); "
            "no two of the module's weight matrices, as value and output projections, reproduce its output there"
        )
    # Step 2: the query and key projections and the query bias, on the padded batch.
    xt = torch.as_tensor(x, dtype=torch.float64).transpose(0, 1)  # (n, B, d), as multi_head_attention_forward wants
    padding = torch.as_tensor(mask, dtype=torch.bool)
    real = ~mask.astype(bool)
    want = out.astype(np.float64)[real]
    allowed = atol + rtol * np.abs(want)
    zero = np.zeros(dim)
    best = np.inf
    for iv, io, wv, wo, bias_out in pairs:
        rest = [i for i in range(len(matrices)) if i not in (iv, io)]
        for iq, ik in itertools.permutations(rest, 2):
            for wq, wk in itertools.product(oriented[iq], oriented[ik]):
                for bq in [zero] + [v for _, v in vectors]:
                    with torch.no_grad():
                        got, _ = F.multi_head_attention_forward(
                            xt,
                            xt,
                            xt,
                            dim,
                            heads,
                            torch.as_tensor(np.concatenate([wq, wk, wv])),
                            torch.as_tensor(np.concatenate([bq, zero, zero])),
                            None,
                            None,
                            False,
                            0.0,
                            torch.as_tensor(wo),
                            torch.as_tensor(bias_out),
                            training=False,
                            key_padding_mask=padding if padding.any() else None,
                            need_weights=False,
                        )
                    error = np.abs(got.transpose(0, 1).numpy()[real] - want)
                    if np.all(error <= allowed):
                        return True, ""
                    best = min(best, float(error.max()))
    return False, (
        f"no assignment of the module's weight matrices to the query, key, value and output projections "
        f"(as stored or transposed) reproduces multi-head attention with {heads} heads on the real particles: "
        f"the closest differs by {best:.2e} (check the head split, the scale 1/sqrt(head_dim) and the mask)"
    )


@relation("unchanged")
def unchanged(student: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Every array but ``base`` equals ``base`` within the reference's ``atol`` (an invariance or equivariance).

    ``base``: a result (rows: jets); every other key names a change of the input under which it must not
    change (already undone by the test, e.g. un-permuted) and holds the result for that input. With the
    reference's ``min_spread`` > 0, ``base`` must also vary between its rows by at least that much (a
    result that ignores its input is not invariant in any useful sense). ``atol`` and ``min_spread`` are
    the reference's; the student's copies are ignored.
    """
    atol, spread = float(reference["atol"]), float(reference.get("min_spread", 0.0))
    base = np.asarray(student["base"])
    ref_base = np.asarray(reference["base"])
    if base.shape != ref_base.shape:
        return False, f"has shape {base.shape}, expected {ref_base.shape}"
    if base.dtype.kind not in "fiu" or not np.all(np.isfinite(base)):
        return False, "is not finite"
    if spread > 0 and (base.shape[0] < 2 or float(np.min(np.std(base.astype(np.float64), axis=0))) < spread):
        return False, "does not depend on the input (every row is the same)"
    for key in sorted(set(student) - {"base", "atol", "min_spread"}):
        other = np.asarray(student[key])
        if other.shape != base.shape:
            return False, f"{key}: has shape {other.shape}, expected {base.shape}"
        if other.dtype.kind not in "fiu" or not np.all(np.isfinite(other)):
            return False, f"{key}: is not finite"
        change = float(np.abs(other.astype(np.float64) - base.astype(np.float64)).max(initial=0.0))
        if change > atol:
            return False, f"{key}: changed by up to {change:.2e} (allowed {atol:.0e})"
    return True, ""

"""The grader's half of a hidden test: judge a student's records against the reference records.

:func:`judge_cell` takes the records one test cell made against the instructor's solution (the
*reference*: its rules, tolerances and values) and the records the student's kernel left for the same
cell, and returns a :class:`Verdict`: the points, and a message for the feedback that says what
differed, on which input and by how much, never the expected values. Rules and their parameters are
read from the reference alone; of the student's file only the values count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .records import RecordError
from .relations import RELATIONS

#: ``(name, scores) -> (fraction of the cell's points, reason)``; set by the grader for hidden_auc records.
AucScorer = Callable[[str, np.ndarray], tuple[float, str]]
MAX_REASONS = 3


class ReferenceError(RuntimeError):
    """The reference records are unusable: the instructor's solution failed its own probe."""


@dataclass
class Verdict:
    points: float
    max_points: float
    reasons: list[str] = field(default_factory=list)  # one line per failed record (at most MAX_REASONS)
    notes: list[str] = field(default_factory=list)  # lines for a passing cell (e.g. the AUC reached)

    @property
    def passed(self) -> bool:
        return self.points >= self.max_points

    def message(self) -> str:
        if self.passed:
            return "; ".join(self.notes) or "passed"
        return "; ".join(self.reasons or self.notes) or "failed"  # notes: partial credit (an AUC tier)


def _describe(array: np.ndarray) -> str:
    return f"shape {tuple(array.shape)}"


def _close(value: np.ndarray, ref: np.ndarray, rule: dict) -> str:
    if value.shape != ref.shape:
        return f"has {_describe(value)}, expected {_describe(ref)}"
    if rule.get("check_dtype", True) and value.dtype != ref.dtype:
        return f"has dtype {value.dtype}, expected {ref.dtype}"
    if value.dtype.kind not in "biufc":
        return f"is not a number (dtype {value.dtype})"
    value, ref = (
        value.astype(np.complex128 if "c" in value.dtype.kind + ref.dtype.kind else np.float64),
        ref.astype(np.complex128 if "c" in value.dtype.kind + ref.dtype.kind else np.float64),
    )
    finite = np.isfinite(ref)
    if not np.all(np.isfinite(value[finite])):
        return "has NaN or infinite values where the result is finite"
    if np.any(~finite) and not np.array_equal(np.isnan(value[~finite]), np.isnan(ref[~finite])):
        return "differs where the result is not finite"
    if value.size == 0:
        return ""
    error = np.abs(value[finite] - ref[finite])
    allowed = rule["atol"] + rule["rtol"] * np.abs(ref[finite])
    worst = np.max(error - allowed, initial=-np.inf)
    if worst > 0:
        index = int(np.argmax(error - allowed))
        return (
            f"differs by up to {float(error.max()):.2e} (at element {index}; allowed {rule['atol']:.0e} + "
            f"{rule['rtol']:.0e} x |value|)"
        )
    if np.any(~finite) and not np.array_equal(value[~finite], ref[~finite]):
        return "differs where the result is infinite"
    return ""


def _equal(value: np.ndarray, ref: np.ndarray) -> str:
    if value.shape != ref.shape:
        return f"has {_describe(value)}, expected {_describe(ref)}"
    if (value.dtype.kind in "US") != (ref.dtype.kind in "US"):
        return "is of another kind (text where a number was expected, or the other way round)"
    if value.dtype.kind in "US":
        return (
            ""
            if np.array_equal(value, ref)
            else (
                f"is {str(value[()])!r}, which is not what the test expects"
                if value.size == 1 and len(str(value[()])) < 40
                else "is not what the test expects"
            )
        )
    if value.dtype.kind == "b" and ref.dtype.kind != "b" or ref.dtype.kind == "b" and value.dtype.kind != "b":
        return "is of another kind (a boolean where a number was expected, or the other way round)"
    if not np.array_equal(value, ref, equal_nan=value.dtype.kind in "fc" and ref.dtype.kind in "fc"):
        wrong = int(np.sum(value != ref)) if value.shape else 1
        return f"differs ({wrong} of {max(value.size, 1)} elements)"
    return ""


def _bound(value: np.ndarray, bound: float, below: bool) -> str:
    if value.dtype.kind not in "biuf":
        return "is not a number"
    values = value.astype(np.float64)
    if not np.all(np.isfinite(values)):
        return "is NaN or infinite"
    bad = values < bound if below else values > bound
    if np.any(bad):
        worst = float(values.min() if below else values.max())
        return f"is {worst:.4g}, {'below the required minimum' if below else 'above the allowed maximum'} {bound:.4g}"
    return ""


def judge_cell(reference, student, max_points: float, auc_scorer: AucScorer | None = None) -> Verdict:
    """Judge one test cell.

    ``reference``: ``(records, meta)`` of the instructor's run. ``student``: ``(records, meta)`` of
    the student's run, or a :class:`RecordError` (no usable record file: every record fails).
    Every reference record must pass for the cell's points; ``hidden_auc`` records scale them by the
    fraction their scorer gives (partial credit in tiers).
    """
    ref_records, ref_meta = reference
    stopped = ref_meta.get("__stopped__")
    if stopped:
        raise ReferenceError(f"the instructor's solution stopped with {stopped['what']} in this test")
    if isinstance(student, RecordError):
        why = (
            "the test did not run to its end (an error before it, or the notebook stopped)"
            if student.missing
            else f"its record file is unusable: {student}"
        )
        return Verdict(0.0, max_points, [why])
    records, meta = student
    student_stop = meta.get("__stopped__", {}).get("what") if isinstance(meta.get("__stopped__"), dict) else None
    reasons: list[str] = []
    notes: list[str] = []
    fraction = 1.0
    for name, rule in ref_meta.items():
        kind = rule.get("rule")
        if name.startswith("__") or kind in ("part", "none"):
            continue
        what = rule.get("what", name)
        if rule.get("kind") == "invalid":
            raise ReferenceError(f"the instructor's solution made an invalid record {name!r} ({rule.get('why')})")
        reason = ""
        entry = meta.get(name)
        if kind == "relation":
            parts = {key[len(name) + 1 :]: records[key] for key in records if key.startswith(name + ".")}
            ref_parts = {key[len(name) + 1 :]: ref_records[key] for key in ref_records if key.startswith(name + ".")}
            if name not in records or set(parts) != set(ref_parts):
                reason = "no result"
            else:
                func = RELATIONS.get(rule.get("relation", ""))
                if func is None:
                    raise ReferenceError(f"unknown judging rule {rule.get('relation')!r} for {name!r}")
                try:
                    ok, why = func(parts, ref_parts)
                except Exception as err:  # a malformed student record must fail, not crash the grader
                    ok, why = False, f"cannot be judged ({type(err).__name__})"
                reason = "" if ok else why
        elif not isinstance(entry, dict) or name not in records and entry.get("kind") != "invalid":
            reason = f"no result (the test stopped at {student_stop})" if student_stop else "no result"
        elif entry.get("kind") == "invalid":
            reason = f"is not a value the test can use ({str(entry.get('why', ''))[:60]})"
        else:
            value = records[name]
            ref = ref_records[name]
            if kind == "close":
                if rule.get("kind") == "tensor" and rule.get("device") == "meta":
                    reason = _equal(
                        np.array([str(entry.get("shape")), str(entry.get("dtype")), str(entry.get("device"))]),
                        np.array([str(rule.get("shape")), str(rule.get("dtype")), str(rule.get("device"))]),
                    )
                else:
                    reason = _close(value, ref, rule)
            elif kind == "equal":
                reason = _equal(value, ref)
            elif kind == "check":
                if not bool(np.all(ref)):
                    raise ReferenceError(f"the instructor's solution fails its own check {name!r}")
                reason = "" if value.dtype.kind == "b" and value.shape == () and bool(value) else "failed"
            elif kind in ("at_least", "at_most"):
                reason = _bound(value, rule["bound"], below=kind == "at_least")
            elif kind == "hidden_auc":
                if auc_scorer is None:
                    raise ReferenceError(f"{name!r} needs the hidden split's labels, which this grader has not")
                got, why = auc_scorer(name, value)
                fraction = min(fraction, got)
                (notes if got > 0 else reasons).append(f"{what}: {why}")
                continue
            else:
                raise ReferenceError(f"unknown rule {kind!r} for record {name!r}")
        if reason:
            reasons.append(f"{what}: {reason}")
    if reasons:
        return Verdict(0.0, max_points, reasons[:MAX_REASONS] + (["..."] if len(reasons) > MAX_REASONS else []))
    return Verdict(round(max_points * fraction, 6), max_points, reasons, notes)

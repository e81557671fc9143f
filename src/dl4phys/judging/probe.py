"""The kernel's half of a hidden test: record what the student's code returns, never judge it.

A hidden test cell of a source notebook calls the student's functions on its inputs and records
the results, each with the rule the grader will judge it by::

    ### BEGIN HIDDEN TESTS
    from dl4phys.judging.probe import probe
    with probe("test_mse") as p:                      # the cell's grade_id
        for shape in [(1,), (5, 3)]:
            x, y = ...                                # seeded inputs
            loss = mse(x, y)
            p.close(f"value {shape}", loss, rtol=1e-10, what=f"mse of float64 inputs of shape {shape}")
            p.equal(f"device {shape}", loss.device.type, what="mse keeps its inputs' device")
    ### END HIDDEN TESTS

Nothing here compares anything: the grader (:mod:`dl4phys.judging.judge`) compares each record with
the record the same line made when the instructor's solution ran, by the rule written here. Names
must be the same in every run (build them from the inputs, never from the results). When the
student's code raises inside the ``with`` block, the records made so far are kept, the error is
shown to the student as usual, and the records never made count as failed.

The records go to the folder ``$DL4PHYS_RECORDS`` (set by the grader), else ``./.dl4phys-records``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .records import SAFE_NAME, encode, file_name

RECORDS_ENV = "DL4PHYS_RECORDS"
DEFAULT_FOLDER = ".dl4phys-records"


def records_folder() -> Path:
    return Path(os.environ.get(RECORDS_ENV) or DEFAULT_FOLDER)


def _as_array(value) -> tuple[np.ndarray, dict]:
    """A record's array and what kind of value it came from (dtype, device, shape)."""
    info: dict = {}
    module = type(value).__module__ or ""
    if module.startswith("torch"):
        import torch

        if isinstance(value, torch.Tensor):
            info = {
                "kind": "tensor",
                "dtype": str(value.dtype).replace("torch.", ""),
                "device": value.device.type,
                "shape": list(value.shape),
            }
            if value.device.type == "meta":  # no values on the meta device: shape, dtype and device only
                return np.zeros(0), info
            tensor = value.detach().cpu()
            if tensor.dtype == torch.bfloat16:
                tensor = tensor.float()
            if tensor.is_complex() or tensor.dtype.is_floating_point or tensor.dtype == torch.bool:
                return tensor.resolve_conj().numpy().copy(), info
            return tensor.numpy().copy(), info
        if isinstance(value, (torch.device, torch.dtype)):
            return np.array(str(value).replace("torch.", "")), {"kind": "str"}
        if isinstance(value, torch.Size):
            return np.array(list(value), dtype=np.int64), {"kind": "shape"}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufcUS":
            raise TypeError(f"an array of dtype {value.dtype}")
        return value.copy(), {"kind": "ndarray", "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, (bool, np.bool_)):
        return np.array(bool(value)), {"kind": "bool"}
    if isinstance(value, (int, float, complex, np.number)):
        return np.array(value), {"kind": "number", "dtype": type(value).__name__}
    if isinstance(value, str):
        return np.array(value), {"kind": "str"}
    if isinstance(value, (list, tuple)):
        array = np.array([float(v) if not isinstance(v, (bool, int, str)) else v for v in value])
        if array.dtype.kind not in "biufcUS":
            raise TypeError("a list that is not of numbers or strings")
        return array, {"kind": type(value).__name__, "shape": list(array.shape)}
    raise TypeError(f"a {type(value).__name__}")


class Probe:
    """The records of one test cell; use through :func:`probe` as a context manager."""

    def __init__(self, grade_id: str):
        self.grade_id = grade_id
        self.records: dict[str, np.ndarray] = {}
        self.meta: dict[str, dict] = {}
        file_name(grade_id)  # fails early for a grade_id that cannot name a file

    # -- rules ---------------------------------------------------------------------------------
    def close(self, name: str, value, *, rtol: float = 1e-7, atol: float = 0.0, what: str = "", check_dtype: bool = True) -> None:
        """Judged equal to the reference within ``|x - ref| <= atol + rtol |ref|`` elementwise, same shape.

        With ``check_dtype`` the dtype must match too (a float32 result where float64 was asked
        for fails). NaN or infinity where the reference is finite fails.
        """
        self._add(name, value, {"rule": "close", "rtol": float(rtol), "atol": float(atol), "check_dtype": check_dtype}, what)

    def equal(self, name: str, value, *, what: str = "") -> None:
        """Judged exactly equal to the reference (numbers, booleans, strings, arrays; same shape)."""
        self._add(name, value, {"rule": "equal"}, what)

    def check(self, name: str, flag: bool, *, what: str = "") -> None:
        """A property the kernel checked itself: judged by ``flag`` being true (the reference's must be too).

        Such records are only as trustworthy as the kernel that made them; give them a small share of
        a test's points, beside records of values.
        """
        self._add(name, bool(flag), {"rule": "check"}, what)

    def at_least(self, name: str, value, minimum: float, *, what: str = "") -> None:
        """Judged by ``value >= minimum`` (every element); NaN fails."""
        self._add(name, value, {"rule": "at_least", "bound": float(minimum)}, what)

    def at_most(self, name: str, value, maximum: float, *, what: str = "") -> None:
        """Judged by ``value <= maximum`` (every element); NaN fails."""
        self._add(name, value, {"rule": "at_most", "bound": float(maximum)}, what)

    def hidden_auc(self, name: str, scores, *, what: str = "") -> None:
        """Scores on the hidden split, one per jet: judged by their ROC AUC against labels only the grader has.

        The points per AUC (full marks, partial credit, none) are the grader's setting
        (``c.Judge.auc_tiers``, keyed by assignment and cell).
        """
        self._add(name, scores, {"rule": "hidden_auc"}, what)

    def relation(self, name: str, rule: str, *, what: str = "", **values) -> None:
        """Several arrays judged together by a named grader-side rule (:mod:`dl4phys.judging.relations`)."""
        for key, value in values.items():
            self._add(f"{name}.{key}", value, {"rule": "part", "of": name}, what)
        self._add(name, np.array(sorted(values)), {"rule": "relation", "relation": rule}, what)

    # -- plumbing ------------------------------------------------------------------------------
    def _add(self, name: str, value, rule: dict, what: str) -> None:
        if not SAFE_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"record name {name!r}: use letters, digits, spaces and _-.,:=()[]")
        if name in self.meta:
            raise ValueError(f"record {name!r} made twice in {self.grade_id}: names must be unique")
        entry = dict(rule, what=what or name)
        try:
            array, info = _as_array(value)
        except (TypeError, ValueError, RuntimeError) as err:
            entry.update(kind="invalid", why=f"got {err}" if str(err).startswith("a") else f"got a {type(value).__name__}")
            self.meta[name] = entry
            return
        entry.update(info)
        self.records[name] = array
        self.meta[name] = entry

    def save(self) -> Path:
        folder = records_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name(self.grade_id)
        path.write_bytes(encode(self.records, self.meta))
        return path

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.meta["__stopped__"] = {"rule": "none", "what": f"{exc_type.__name__}", "kind": "stop"}
        self.save()
        return False  # an error of the student's code still shows in the cell


def probe(grade_id: str) -> Probe:
    """The records of the test cell ``grade_id``: ``with probe("test_x") as p: p.close(...)``."""
    return Probe(grade_id)


__all__ = ["Probe", "probe", "records_folder", "RECORDS_ENV"]

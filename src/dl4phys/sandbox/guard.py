"""Tamper guard: notices student code that replaced functions the tests rely on.

Defence in depth: hidden tests are decided outside the kernel (:mod:`dl4phys.judging`), so a
tampered kernel cannot give itself points; the guard makes tampering fail early and visibly. The
grading kernel calls :func:`snapshot` at start-up, before any student code runs (later calls do
nothing, so student code cannot re-arm it with its own replacements), and every autograded test cell
begins with :func:`check` (added by :class:`dl4phys.preprocessors.GuardTestCells`). If a function or class of torch, numpy, builtins,
math or the course's checking helpers was replaced or deleted in between (``torch.allclose =
lambda *a: True``, ``builtins.AssertionError = ...``, ``torch.Tensor.__eq__ = ...``), the test cell
prints one line naming what changed, which the grader's report shows. This is a guard, not a wall:
Python code can always reach this module too, which is why the report also lists students whose code
*looks* like tampering (:mod:`dl4phys.grading.tamper`) for a human to check.
"""

from __future__ import annotations

import importlib
import sys

WATCHED_MODULES = [
    "builtins",
    "math",
    "numpy",
    "numpy.testing",
    "numpy.linalg",
    "torch",
    "torch.testing",
    "torch.linalg",
    "torch.nn.functional",
    "torch.autograd",
    "unittest.mock",
    "dl4phys.checks",
]
WATCHED_CLASSES = [("torch", "Tensor"), ("numpy", "ndarray")]
# Libraries the notebooks import after start-up that add methods to torch classes on purpose.
TRUSTED_PATCHERS = ("fastai", "fastcore", "fasttransform", "torch", "numpy")
# Builtins that IPython and ipykernel swap for every cell on their own (input goes to the front end).
KERNEL_MANAGED = {
    ("builtins", name) for name in ("input", "raw_input", "getpass", "display", "get_ipython", "exit", "quit", "help")
}

_snapshot: dict[tuple[str, str], object] = {}


def _watched_items():
    for name in WATCHED_MODULES:
        module = sys.modules.get(name)
        if module is None:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
        for attr, value in list(vars(module).items()):
            if callable(value) and attr not in ("__loader__", "__spec__") and (name, attr) not in KERNEL_MANAGED:
                yield (name, attr), value
    for module_name, class_name in WATCHED_CLASSES:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if cls is not None:
            for attr, value in list(vars(cls).items()):
                yield (f"{module_name}.{class_name}", attr), value


def snapshot() -> None:
    """Record the watched functions, once: before any student code runs. Later calls change nothing."""
    if _snapshot:
        return
    _snapshot.update(_watched_items())


def _current(key: tuple[str, str]):
    owner, attr = key
    target = sys.modules.get(owner)
    if target is None and "." in owner:  # a class such as torch.Tensor
        module_name, class_name = owner.rsplit(".", 1)
        target = getattr(sys.modules.get(module_name), class_name, None)
        return vars(target).get(attr, _MISSING) if target is not None else _MISSING
    return vars(target).get(attr, _MISSING) if target is not None else _MISSING


_MISSING = object()


def _trusted(value) -> bool:
    module = getattr(value, "__module__", None) or ""
    return module.split(".")[0] in TRUSTED_PATCHERS and not module.startswith("__main__")


def changed() -> list[str]:
    """Names of watched functions that differ from the snapshot."""
    found = []
    for key, original in _snapshot.items():
        current = _current(key)
        if current is original:
            continue
        if current is not _MISSING and (current == original or _trusted(current)):
            continue
        found.append(".".join(key))
    return found


REPORT_PREFIX = "tamper guard: "


def check() -> None:
    """Say (one line on stdout, for the grader's report) which watched functions were replaced.

    It no longer stops the test: judged tests compare records outside the kernel, where a replaced
    function can neither help nor hurt, so the notebook scores what its code deserves, and a human
    looks at the note.
    """
    found = changed()
    if found:
        print(f"{REPORT_PREFIX}the notebook replaced {', '.join(sorted(found)[:5])}")

"""Small helpers shared by the data modules: optional imports, quiet C++ banners, the worker pools."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from types import ModuleType

#: pip requirement of each optional module, pinned as in requirements.txt (tests/test_data_util.py checks
#: that they agree). The heavy or grading-only packages are imported by the functions that use them, not
#: when :mod:`dl4phys.data` is imported: ``import vector`` alone takes about a second (it imports sympy),
#: and a student's environment need not have the jet generator.
REQUIREMENTS = {
    "awkward": "awkward",
    "fastjet": "fastjet==3.5.2.0",
    "matplotlib": "matplotlib==3.11.2",
    "pooch": "pooch==1.9.0",
    "pythia8mc": "pythia8mc==8.317.2",
    "vector": "vector==1.9.0",
}
#: Those of them that come with the ``grading`` extra of pyproject.toml.
GRADING_EXTRA = {"awkward", "fastjet", "pythia8mc"}


def require(*names: str, purpose: str) -> ModuleType | tuple[ModuleType, ...]:
    """Import and return the modules ``names`` (one module, or a tuple for several).

    Args:
        names: module names, e.g. ``"fastjet", "awkward"``.
        purpose: what needs them, the start of the error message (e.g. ``"jet generation"``).
    Raises:
        ImportError: one line: ``<purpose> needs the Python package(s) ...: install ... with
            `pip install ...` (<the original error>)``.
    """
    try:
        modules = tuple(importlib.import_module(name) for name in names)
    except ImportError as exc:
        plural = len(names) > 1
        pins = " ".join(REQUIREMENTS.get(name, name) for name in names)
        extra = " (or the extra dl4phys[grading])" if GRADING_EXTRA.issuperset(names) else ""
        raise ImportError(
            f"{purpose} needs the Python package{'s' if plural else ''} {' and '.join(names)}: "
            f"install {'them' if plural else 'it'} with `pip install {pins}`{extra} ({exc})"
        ) from None
    return modules if len(modules) > 1 else modules[0]


@contextlib.contextmanager
def silence_stdout():
    """Silence writes to file descriptor 1 by C/C++ code (Pythia's and FastJet's banners).

    Python's own ``sys.stdout`` is flushed before and after, so nothing printed from Python
    is lost or reordered.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. a notebook's captured stdout
        fd = 1
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)


_BANNER_DONE = False


def fastjet_quiet_banner(fastjet) -> None:
    """Trigger FastJet's one-time banner with stdout silenced, so it never shows."""
    global _BANNER_DONE
    if _BANNER_DONE:
        return
    with silence_stdout():
        jd = fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4)
        fastjet.ClusterSequence([fastjet.PseudoJet(1.0, 0.0, 0.0, 1.0)], jd)
    _BANNER_DONE = True


def mp_context():
    """The multiprocessing context for the worker pools: ``fork`` where the platform has it.

    Fork needs no ``if __name__ == "__main__":`` guard in the calling script (a student's
    script or notebook calling :func:`dl4phys.data.jet_features` just works); the workers
    only run numpy, FastJet and a Pythia instance created in the worker itself. Elsewhere
    (macOS, Windows) it is ``spawn``.
    """
    import multiprocessing as mp

    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")

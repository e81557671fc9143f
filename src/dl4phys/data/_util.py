"""Small helpers shared by the data modules."""

from __future__ import annotations

import contextlib
import os
import sys


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

"""The grading sandbox: a bubblewrap container per student kernel.

* :mod:`.bwrap` -- the bubblewrap arguments: what the kernel sees and can write;
* :mod:`.launcher` -- the kernel's command (``python -m dl4phys.sandbox.launcher``): starts bwrap and
  watches memory, time and disk until the kernel ends;
* :mod:`.entry` -- the first code inside the sandbox: drops root to the kernel's own user, then starts
  the IPython kernel;
* :mod:`.kernel` -- the kernel managers nbgrader's execute step uses (settings as traits), which keep
  every file the kernel can write out of the course folders and bring back only its records;
* :mod:`.guard` -- the tamper guard that runs inside the kernel.
"""

from __future__ import annotations

import shutil

KERNEL_NAME = "dl4phys-sandbox"


def bwrap_path() -> str | None:
    """The bubblewrap executable, or None where it is not installed."""
    return shutil.which("bwrap")


def __getattr__(name):  # the kernel managers pull in jupyter_client: only when asked for
    if name in ("SandboxKernelManager", "ScratchKernelManager"):
        from . import kernel

        return getattr(kernel, name)
    raise AttributeError(name)

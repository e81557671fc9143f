"""Is the GPU rehearsal ready to run on a bare GPU machine: its wheels locked, can they and bubblewrap be had?"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import REPO

SCRIPT = REPO / "tools" / "gpu-rehearsal.sh"
LOCK = REPO / "tools" / "gpu-rehearsal.lock"


def _pins(path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.split("#")[0].strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def test_rehearsal_locks_the_course_pins_and_leaves_out_what_gpu_machines_have():
    """Does the lock hold the course's pinned nbgrader and fastai, and none of PyTorch or the GPU stack?"""
    locked, pinned = _pins(LOCK), _pins(REPO / "requirements.txt")
    for name in ("nbgrader", "fastai", "tables", "dask", "distributed", "nbclient", "ipykernel"):
        assert locked.get(name) == pinned[name], f"{name}: run `tools/gpu-rehearsal.sh lock` after changing requirements.txt"
    assert not {"torch", "torchvision", "numpy", "triton"} & set(locked)
    assert not [name for name in locked if name.startswith("nvidia-")]


def test_rehearsal_scripts_are_valid():
    """Do the shell script and its Python half parse, and does the script say how to use it?"""
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    subprocess.run([sys.executable, "-m", "py_compile", str(REPO / "tools" / "gpu_rehearsal.py")], check=True)
    usage = subprocess.run([str(SCRIPT)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr


@pytest.mark.slow
def test_rehearsal_preparation_dry_run_passes():
    """Can every locked wheel (for Python 3.12 on x86-64) and Debian's bubblewrap be had from the package registries?"""
    result = subprocess.run([str(SCRIPT), "prepare", "--dry-run"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "can be had" in result.stdout

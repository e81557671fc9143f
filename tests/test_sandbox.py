"""Does the grading sandbox show a student's kernel what the notebooks need, read-only, and nothing else?"""

from __future__ import annotations

import os

import nbformat
import numpy as np
import pytest

from dl4phys import sandbox
from dl4phys.data import FEATURE_COLUMNS, io, splits
from dl4phys.grading import parallel

from .conftest import REPO, scratch_course

pytestmark = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="needs bubblewrap (make installs it as root)")

READS_CACHE = """
import os
from dl4phys.data import load_features
features = load_features("valid")
assert (features["tau1_b1"] == 7.0).all(), "features were recomputed, not read from the grader's cache"
try:
    open(os.environ["DL4PHYS_CACHE"] + "/features/written-by-student.npy", "w")
except OSError:
    print("cache read, not writable")
print("course visible" if os.path.exists(%r) else "course hidden")
print("uid", os.getuid())
"""


def _run(config, source: str, folder) -> str:
    """Run one cell in a sandboxed kernel configured by ``config``; its printed output."""
    from nbclient import NotebookClient

    from dl4phys.sandbox.kernel import SandboxKernelManager

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    # The client makes (and so owns, stops and cleans up) the manager; one handed in would be left running.
    client = NotebookClient(
        notebook,
        kernel_manager_class=SandboxKernelManager,
        config=config,
        timeout=300,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    outputs = notebook.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    return "".join(o.get("text", "") for o in outputs)


def test_sandboxed_kernels_read_the_graders_feature_cache_but_cannot_write_it(tmp_path, monkeypatch):
    """Do sandboxed notebooks read the jet features the grader computed (instead of recomputing them), without being able to change them, as a user that is not root?"""
    monkeypatch.setenv("DL4PHYS_CACHE", str(tmp_path / "cache"))
    folder = splits.feature_cache_dir()
    folder.mkdir(parents=True)
    # a recognisable cache entry for the valid split: every feature 7
    digest = splits._file_digest(io.sample_path("valid"))
    np.save(folder / f"v{splits.FEATURES_VERSION}-{digest}.npy", np.full((4000, len(FEATURE_COLUMNS)), 7.0))
    course = parallel.grading_course(scratch_course(tmp_path / "course"), "hw02_gradient_descent")
    settings = course.config.SandboxKernelManager
    assert str(folder) in settings.readonly_paths and settings.kernel_env["DL4PHYS_CACHE"] == str(tmp_path / "cache")
    (tmp_path / "work").mkdir()
    printed = _run(course.config, READS_CACHE % str(REPO / "source"), tmp_path / "work")
    assert "cache read, not writable" in printed and "course hidden" in printed
    if os.geteuid() == 0:
        assert "uid 0" not in printed
    assert sorted(p.name for p in folder.iterdir()) == [f"v{splits.FEATURES_VERSION}-{digest}.npy"]


READS_FONT_LIST = """
import logging, os
messages = []
class Collect(logging.Handler):
    def emit(self, record):
        messages.append(record.getMessage())
logger = logging.getLogger("matplotlib.font_manager")
logger.addHandler(Collect())
logger.setLevel(logging.INFO)
print("config folder:", sorted(os.listdir(os.environ["MPLCONFIGDIR"])))
import matplotlib.pyplot
print("font list rebuilt" if any("generated new fontManager" in m for m in messages) else "font list read")
"""


def test_sandboxed_kernels_start_with_the_graders_matplotlib_font_list(tmp_path):
    """Does a sandboxed kernel find the grader's matplotlib font list in its config folder, so that matplotlib does not scan the fonts again in every graded notebook?"""
    from matplotlib.font_manager import FontManager

    course = parallel.grading_course(scratch_course(tmp_path / "course"), "hw02_gradient_descent")
    (tmp_path / "work").mkdir()
    printed = _run(course.config, READS_FONT_LIST, tmp_path / "work")
    assert f"config folder: ['fontlist-v{FontManager.__version__}.json']" in printed, printed
    assert "font list read" in printed, printed


READS_WEIGHTS = """
import os
from dl4phys.data.pretrained import resnet18_weights, weights_dir
state = resnet18_weights(download=False)
assert state is not None and float(state["fc.bias"][0]) == 7.0, "the instructor's weights were not read"
try:
    open(weights_dir() / "written-by-student.pth", "w")
except OSError:
    print("weights read, not writable")
"""


def test_sandboxed_kernels_read_the_pretrained_weights_but_cannot_write_them(tmp_path, monkeypatch):
    """Do sandboxed notebooks (offline) get the pretrained weights the instructor downloaded, read-only?"""
    import torch

    from dl4phys.data import pretrained

    monkeypatch.setenv("DL4PHYS_CACHE", str(tmp_path / "cache"))
    folder = pretrained.weights_dir()
    folder.mkdir(parents=True)
    torch.save({"fc.bias": torch.tensor([7.0, 7.0])}, folder / pretrained.RESNET18_URL.rsplit("/", 1)[-1])
    course = parallel.grading_course(scratch_course(tmp_path / "course"), "hw02_gradient_descent")
    settings = course.config.SandboxKernelManager
    assert str(folder) in settings.readonly_paths and settings.kernel_env["DL4PHYS_CACHE"] == str(tmp_path / "cache")
    (tmp_path / "work").mkdir()
    assert "weights read, not writable" in _run(course.config, READS_WEIGHTS, tmp_path / "work")
    assert [p.name for p in folder.iterdir()] == [pretrained.RESNET18_URL.rsplit("/", 1)[-1]]


def test_feature_cache_is_warmed_for_the_jet_assignments_only():
    """Does the grader compute jet features ahead only for assignments whose notebooks use them?"""
    course = scratch_course(REPO / ".unused")
    uses = {a: parallel.reads_jet_features(course, a) for a in course.assignments()}
    assert uses["hw01_jet_tagging"] and uses["hw04_jet_images"]
    assert not uses["hw02_gradient_descent"] and not uses["hw03_backprop"]


FORKED_WORKERS = """
import numpy as np, torch
from torch.utils.data import DataLoader, TensorDataset
ballast = np.ones(500 * 2**20 // 8)  # 500 MB that every forked worker shares with the kernel
loader = DataLoader(TensorDataset(torch.arange(256.0)), batch_size=32, num_workers=3)
print("batches", sum(1 for _ in loader), "sum", float(sum(batch[0].sum() for batch in loader)))
"""


def test_a_dataloader_with_worker_processes_runs_under_the_memory_cap(tmp_path):
    """Does a DataLoader with worker processes run in the sandbox (multiprocessing's semaphores need a
    writable /dev/shm), with the pages its forked workers share with the kernel counted once against the
    memory cap (counted once per worker, the kernel's 500 MB of ballast would pass the 2 GB cap)?"""
    from traitlets.config import Config

    config = Config()
    config.SandboxKernelManager.memory_mb = 2048
    config.SandboxKernelManager.tmp_mb = 64
    config.SandboxKernelManager.shm_mb = 64
    (tmp_path / "work").mkdir()
    printed = _run(config, FORKED_WORKERS, tmp_path / "work")
    assert "batches 8 sum 32640.0" in printed


def test_processes_that_ended_count_nothing_in_the_memory_total():
    """Past the cap in resident size, does the memory total count a process that ended after its resident
    size was read (a DataLoader worker at the end of an epoch; a zombie) as 0, not as its resident size?
    (Counted at its resident size, on a busy machine, it killed a kernel that stayed under the cap.)"""
    import subprocess
    import sys
    import time

    import psutil

    from dl4phys.sandbox.launcher import _proportional_total

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exits, not reaped until wait()
    deadline = time.monotonic() + 30
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert _proportional_total([(ended.pid, 800 * 2**20), (zombie.pid, 800 * 2**20)]) == 0
    finally:
        zombie.wait()
    alive = _proportional_total([(os.getpid(), 1 << 40)])
    assert 0 < alive < 1 << 40, "a live process counts with its proportional size"

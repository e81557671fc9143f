"""Does the grading sandbox show a student's kernel what the notebooks need, read-only?"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from dl4phys import grading, sandbox
from dl4phys.data import FEATURE_COLUMNS, io, splits

pytestmark = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="needs bubblewrap (make installs it as root)")

READS_CACHE = """
import sys
from dl4phys.data import load_features
features = load_features("valid")
assert (features["tau1_b1"] == 7.0).all(), "features were recomputed, not read from the grader's cache"
try:
    open(sys.argv[1] + "/written-by-student.npy", "w")
except OSError:
    print("cache read, not writable")
"""


def test_sandboxed_kernels_read_the_graders_feature_cache_but_cannot_write_it(tmp_path, monkeypatch):
    """Do sandboxed notebooks read the jet features the grader computed (instead of recomputing them), without being able to change them?"""
    monkeypatch.setenv("DL4PHYS_CACHE", str(tmp_path / "cache"))
    for key in (sandbox.MEMORY_ENV, sandbox.WALLTIME_ENV, sandbox.READONLY_ENV, "JUPYTER_PATH"):
        monkeypatch.setenv(key, os.environ.get(key, ""))  # sandbox_overrides sets them; restored afterwards
    folder = splits.feature_cache_dir()
    folder.mkdir(parents=True)
    # a recognisable cache entry for the valid split: every feature 7
    digest = splits._file_digest(io.sample_path("valid"))
    np.save(folder / f"v{splits.FEATURES_VERSION}-{digest}.npy", np.full((4000, len(FEATURE_COLUMNS)), 7.0))

    grading.sandbox_overrides(grading.Course())
    readonly = os.environ[sandbox.READONLY_ENV].split(os.pathsep)
    assert str(folder) in readonly
    workdir, connection = tmp_path / "work", tmp_path / "connection"
    workdir.mkdir()
    connection.mkdir()
    command = sandbox.bwrap_command(str(workdir), str(connection), readonly) + [sys.executable, "-c", READS_CACHE, str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "cache read, not writable" in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == [f"v{splits.FEATURES_VERSION}-{digest}.npy"]


def test_feature_cache_is_warmed_for_the_jet_assignments_only():
    """Does the grader compute jet features ahead only for assignments whose notebooks use them?"""
    course = grading.Course()
    uses = {a: grading._reads_jet_features(course, a) for a in course.assignments()}
    assert uses["hw01_jet_tagging"] and uses["hw04_jet_images"]
    assert not uses["hw02_gradient_descent"] and not uses["hw03_backprop"]

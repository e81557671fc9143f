"""Control plots and the command line of dl4phys.data."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dl4phys.data.plots import make_plots

from .conftest import REPO

pytestmark = pytest.mark.data


def test_make_plots_writes_three_pngs(tmp_path):
    paths = make_plots(tmp_path, split="valid")
    assert [p.name for p in paths] == ["jet_mass.png", "tau32.png", "n_constituents.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_cli_plots(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dl4phys.data", "plots", "--out", str(tmp_path / "r"), "--split", "valid"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["jet_mass.png", "n_constituents.png", "tau32.png"]


def test_cli_help_lists_the_commands():
    proc = subprocess.run([sys.executable, "-m", "dl4phys.data", "--help"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0
    for cmd in ("generate", "plots", "download"):
        assert cmd in proc.stdout


def test_cli_download_offline_is_one_line_error(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dl4phys.data",
            "download",
            "--dest",
            str(tmp_path),
            "--files",
            "val.h5",
            "--base-url",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=dict(os.environ, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1"),  # never through a proxy
    )
    assert proc.returncode == 2
    # pooch's notices (the file it downloads, its retries) come first; the error is the last line, one line
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot reach")
    assert [line for line in lines if "error" in line.lower()] == lines[-1:]

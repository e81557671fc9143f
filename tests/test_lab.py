"""Does `make lab` give a JupyterLab on 127.0.0.1 with nbgrader's formgrader and assignment tools?"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO as REPO_ROOT
from .conftest import free_port

pytestmark = pytest.mark.slow


def test_lab_serves_formgrader_and_nbgrader_extensions(tmp_path):
    """Do the lab, the formgrader and the nbgrader lab extension answer on 127.0.0.1?"""
    port, token = free_port(), "dl4phys-test"
    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", JUPYTER_RUNTIME_DIR=str(tmp_path), HOME=str(tmp_path)
    )
    lab = subprocess.Popen(
        [
            bin_dir / "jupyter",
            "lab",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--no-browser",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def get(path: str) -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}?token={token}", timeout=10) as response:
                return response.read().decode()

        deadline = time.monotonic() + 90
        while True:
            try:
                get("/api/status")
                break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not start within 90 s"
                assert lab.poll() is None, "JupyterLab exited"
                time.sleep(1)
        assert "nbgrader" in get("/lab/api/extensions") or "nbgrader" in get("/lab")
        assert "formgrader" in get("/formgrader").lower()
    finally:
        lab.terminate()
        lab.wait(timeout=30)

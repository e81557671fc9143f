"""Does grading work as an ordinary user, with the instructor's files owned by another user, and stay confined?

Running ``grade`` as an unprivileged user is what a course gains most from: the sandbox's kernel then
runs as that user too (inside its own namespaces), and even a flaw in the sandbox could reach only what
that user may reach, never the instructor's source, the hidden labels (when kept readable only by
the instructor's group) or the machine. This test makes a ``dl4phys-grader`` user, gives it a course
whose source, settings and hidden data belong to root (it can read them, not change them), and grades
a correct, a blank and a prying submission with ``python -m dl4phys grade``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from dl4phys import sandbox
from dl4phys.grading.cases import build_case

from .conftest import REPO, SOURCE

USER = "dl4phys-grader"
ASSIGNMENT = "hw02_gradient_descent"
SYSTEM_PYTHON = Path("/usr/bin/python3.11")

pytestmark = [
    pytest.mark.grading,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="making a user needs root"),
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="needs bubblewrap"),
    pytest.mark.skipif(
        not SYSTEM_PYTHON.exists() or shutil.which("useradd") is None, reason="needs the system's Python 3.11 and useradd"
    ),
]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _closed_folders(path: Path) -> list[Path]:
    """Folders above ``path`` that other users cannot enter (the grading user could not import the package)."""
    return [p for p in [path, *path.parents] if p.is_dir() and not p.stat().st_mode & 0o001]


@pytest.fixture(scope="module")
def grader():
    """The unprivileged grading user (made once; kept: a system account without login or home)."""
    closed = _closed_folders(REPO / "src") + _closed_folders(Path(sysconfig.get_paths()["purelib"]))
    assert not closed, f"the grading user cannot enter {closed[0]}: clone the repository where other users can read it"
    if subprocess.run(["id", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
    return int(subprocess.run(["id", "-u", USER], capture_output=True, text=True, check=True).stdout)


def test_an_unprivileged_user_grades_a_course_it_cannot_change(grader):
    """As an ordinary user, does `grade` give the right scores, run kernels as that user (not root), and leave root's files alone?"""
    scratch = Path(tempfile.mkdtemp(prefix="dl4phys-unprivileged-"))
    try:
        os.chmod(scratch, 0o755)
        # A Python the grading user can run (root's own may live under /root), seeing the course's packages.
        venv = scratch / "venv"
        subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True)
        site = next((venv / "lib").glob("python3*/site-packages"))
        (site / "course.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{REPO / 'src'}\n")
        alembic = venv / "bin" / "alembic"  # nbgrader runs it by name
        alembic.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom alembic.config import main\nsys.exit(main())\n")
        alembic.chmod(0o755)
        # The instructor's part, owned by root: source, settings, hidden data.
        course = scratch / "course"
        (course / "source").mkdir(parents=True)
        shutil.copytree(SOURCE / ASSIGNMENT, course / "source" / ASSIGNMENT)
        shutil.copy(SOURCE / "header.ipynb", course / "source")
        shutil.copy(REPO / "nbgrader_config.py", course)
        shutil.copytree(REPO / "hidden_data", course / "hidden_data")
        for name, case in [
            ("perfect", REPO / "tests" / "submissions" / ASSIGNMENT / "perfect.toml"),
            ("blank", REPO / "tests" / "submissions" / ASSIGNMENT / "blank.toml"),
            ("prying", REPO / "tests" / "hostile" / "reads-root-files.toml"),
        ]:
            build_case(case, REPO / "release" / ASSIGNMENT, SOURCE / ASSIGNMENT, course / "submitted" / name / ASSIGNMENT)
        instructor_files = _digest(course / "source") | {f"config:{k}": v for k, v in _digest(course / "hidden_data").items()}
        # The grader's part: the course root (gradebook, autograded/, feedback/) and submitted/ it reads.
        for path in [course, *course.joinpath("submitted").rglob("*"), course / "submitted"]:
            os.chown(path, grader, grader)
        home = scratch / "home"
        home.mkdir()
        os.chown(home, grader, grader)
        env = {"HOME": str(home), "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8"}

        def as_grader(*args: str, timeout: int) -> subprocess.CompletedProcess:
            """``python -m dl4phys ARGS`` run by the grading user, with only ``env`` in its environment."""
            command = ["runuser", "-u", USER, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()]]
            command += [str(venv / "bin" / "python"), "-m", "dl4phys", *args, "--course-dir", str(course)]
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=course)

        result = as_grader("grade", ASSIGNMENT, "--workers", "1", timeout=1800)
        assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
        assert "autograded 3 of 3" in result.stdout
        report = as_grader("report", timeout=300)
        assert report.returncode == 0, report.stderr[-2000:]
        import csv

        with open(course / "grades.csv") as handle:
            rows = {row["student"]: float(row["auto_score"]) for row in csv.DictReader(handle)}
        assert rows == {"blank": 0, "perfect": 11, "prying": 11}, report.stdout
        printed = (course / "autograded" / "prying" / ASSIGNMENT / "gradient_descent.ipynb").read_text()
        assert f"running as uid {grader}" in printed and "nothing readable" in printed
        assert (
            _digest(course / "source") | {f"config:{k}": v for k, v in _digest(course / "hidden_data").items()}
        ) == instructor_files
        assert (course / "nbgrader_config.py").stat().st_uid == 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))

"""Does the course work with nbgrader's own apps and its exchange, as on a department's JupyterHub?

Each test runs in a copy of the course's root (source/, release/, nbgrader_config.py; hidden_data/ is
a link), with nbgrader's command line run from that folder as an instructor runs it there.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dl4phys import sandbox
from dl4phys.grading.cases import build_case, load_case
from dl4phys.preprocessors.hide_hidden_tests import hidden_lines

from .conftest import REPO, case_notebook

pytestmark = [pytest.mark.slow, pytest.mark.grading, pytest.mark.hw02]

ASSIGNMENT = "hw02_gradient_descent"
NOTEBOOK = "gradient_descent"
BIN = Path(sys.executable).parent
#: A student's nbgrader on JupyterHub's single-user images (jupyter/docker-stacks): every student's
#: server runs as the user jovyan, and nbgrader then names the student after JUPYTERHUB_USER
#: (nbgrader.utils.get_username). The test's processes all run as this machine's user, so the
#: students' ones say they are jovyan.
STUDENT_NBGRADER = (
    "import sys, nbgrader.utils; nbgrader.utils.get_osusername = lambda: 'jovyan'; "
    "from nbgrader.apps.nbgraderapp import main; sys.argv[0] = 'nbgrader'; sys.exit(main())"
)


def course_root(folder: Path) -> Path:
    """A copy of the course's root in ``folder``."""
    folder.mkdir(parents=True)
    for name in ("source", "release"):
        shutil.copytree(REPO / name, folder / name)
    shutil.copy(REPO / "nbgrader_config.py", folder)
    (folder / "hidden_data").symlink_to(REPO / "hidden_data")
    return folder


def unsandboxed() -> list[str]:
    """Without bubblewrap (a laptop) the same runs go unsandboxed, as the other grading tests do."""
    return ["--SandboxedExecute.sandbox=False"] if sandbox.bwrap_path() is None else []


def run(command: list, cwd: Path, home: Path, **env) -> subprocess.CompletedProcess:
    """A command as a user whose home (and so Jupyter's config and data folders) is ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    environment.pop("JUPYTER_CONFIG_DIR", None)
    environment.pop("JUPYTER_DATA_DIR", None)
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(map(str, command[:4]))} failed:\n{(result.stdout + result.stderr)[-3000:]}"
    return result


def submission_score(root: Path, student: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "dl4phys") as gb:
        return gb.find_submission(ASSIGNMENT, student).score


def test_nbgrader_apps_work_from_the_course_root(tmp_path):
    """Do `nbgrader generate_assignment` and `nbgrader autograde`, run from the course's root (what the
    formgrader's buttons in `make lab` call), find the sandbox kernel and grade a demo submission?"""
    root = course_root(tmp_path / "course")
    case_notebook(ASSIGNMENT, "perfect", root / "submitted" / "perfect" / ASSIGNMENT)
    run([BIN / "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], root, tmp_path / "instructor")
    run([BIN / "nbgrader", "autograde", ASSIGNMENT, *unsandboxed()], root, tmp_path / "instructor")
    expected = load_case(REPO / "tests" / "submissions" / ASSIGNMENT / "perfect.toml").score
    assert submission_score(root, "perfect") == expected


def test_exchange_cycle_with_two_students(tmp_path):
    """On a temporary exchange, with two students: release -> fetch -> submit -> collect -> `dl4phys grade`
    -> feedback -> release_feedback -> fetch_feedback. Does each student fetch their own feedback, with
    their grade and no hidden test line? (Alice's page comes from nbgrader's generate_feedback, as the
    formgrader makes it; Bob's from `python -m dl4phys feedback`.)"""
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # a JupyterHub's exchange is writable by everyone
    root = course_root(tmp_path / "course")
    students = {"alice": "perfect", "bob": "partial"}
    # The hub's configuration: the exchange for everyone, the course id for the students.
    for user in ["instructor", *students]:
        config = tmp_path / user / ".jupyter" / "nbgrader_config.py"
        config.parent.mkdir(parents=True)
        config.write_text(f'c = get_config()\nc.Exchange.root = "{exchange}"\nc.CourseDirectory.course_id = "dl4phys"\n')
    instructor = tmp_path / "instructor"

    run([BIN / "nbgrader", "release_assignment", ASSIGNMENT], root, instructor)
    for student, case in students.items():
        work = tmp_path / student / "work"
        work.mkdir()
        run(
            [sys.executable, "-c", STUDENT_NBGRADER, "fetch_assignment", ASSIGNMENT],
            work,
            tmp_path / student,
            JUPYTERHUB_USER=student,
        )
        fetched = work / ASSIGNMENT
        assert (fetched / f"{NOTEBOOK}.ipynb").read_bytes() == (REPO / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_bytes()
        build_case(REPO / "tests" / "submissions" / ASSIGNMENT / f"{case}.toml", fetched, REPO / "source" / ASSIGNMENT, fetched)
        run([sys.executable, "-c", STUDENT_NBGRADER, "submit", ASSIGNMENT], work, tmp_path / student, JUPYTERHUB_USER=student)

    run([BIN / "nbgrader", "collect", ASSIGNMENT], root, instructor)
    assert sorted(p.name for p in (root / "submitted").iterdir()) == sorted(students)
    run(
        [
            sys.executable,
            "-m",
            "dl4phys",
            "grade",
            ASSIGNMENT,
            "--workers",
            "1",
            "--course-dir",
            root,
            *(["--unsafe"] if sandbox.bwrap_path() is None else []),
        ],
        root,
        instructor,
    )
    run([BIN / "nbgrader", "generate_feedback", ASSIGNMENT, "--student", "alice"], root, instructor)
    run([sys.executable, "-m", "dl4phys", "feedback", ASSIGNMENT, "--student", "bob", "--course-dir", root], root, instructor)
    run([BIN / "nbgrader", "release_feedback", ASSIGNMENT], root, instructor)

    hidden = hidden_lines(nbformat.read(REPO / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4))
    assert hidden, "the source notebook should have hidden tests"
    for student, case in students.items():
        work = tmp_path / student / "work"
        run(
            [sys.executable, "-c", STUDENT_NBGRADER, "fetch_feedback", ASSIGNMENT],
            work,
            tmp_path / student,
            JUPYTERHUB_USER=student,
        )
        pages = sorted((work / ASSIGNMENT / "feedback").glob("*/*.html"))
        assert [p.name for p in pages] == [f"{NOTEBOOK}.html"], f"{student} fetched {pages}"
        text = html.unescape(re.sub(r"<[^>]+>", "", pages[0].read_text()))  # highlighted code back to its lines
        score = float(re.search(rf"{NOTEBOOK} \(Score: ([\d.]+) / [\d.]+\)", text).group(1))
        assert (
            score
            == load_case(REPO / "tests" / "submissions" / ASSIGNMENT / f"{case}.toml").score
            == submission_score(root, student)
        )
        assert "HIDDEN TESTS" not in text
        # Lines a hidden test shares with the student's own notebook (their code, a visible test) may show.
        own = "\n".join(c.source for c in nbformat.read(work / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4).cells)
        leaked = [line for line in hidden if line in text and line not in own]
        assert not leaked, f"{student}'s feedback shows hidden test lines: {leaked[:3]}"

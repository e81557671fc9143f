"""Shared fixtures of the course tests.

The tests grade the course of this repository. The expensive part, running notebooks through the
autograder, happens once per session: as the session starts, a process of its own
(:mod:`tests.background_grading`) grades the demo cases (``tests/submissions/<assignment>/*.toml``,
built from the current release) of every assignment the selected tests need, in one scratch course
folder, in one run on two workers, while the other tests run. The tests that read those grades
(``graded_course``) run last and wait for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dl4phys import grading, sandbox

from .background_grading import REPO, SOURCE, BackgroundGrading, grade_demo_cases, scratch_course

ASSIGNMENTS = sorted(p.name for p in SOURCE.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
# Parallel grading on the CI's two cores; results still reach the gradebook through one writer.
GRADING_WORKERS = int(os.environ.get("DL4PHYS_TEST_WORKERS", "2"))
# How long the tests that read the grades wait for the background grading (the suite's whole budget).
GRADING_WAIT_S = 2400


def assignment_marker(assignment: str) -> str:
    """The pytest marker of an assignment: its prefix, e.g. ``hw06`` for ``hw06_transformers``."""
    return assignment.split("_", 1)[0]


def pytest_configure(config):
    """One marker per assignment (`pytest -m hw06` runs the tests of hw06_transformers)."""
    for assignment in ASSIGNMENTS:
        config.addinivalue_line("markers", f"{assignment_marker(assignment)}: assignment {assignment}")
    # The hidden split, for this process (the grader states it to the kernels it runs).
    os.environ.setdefault("DL4PHYS_HIDDEN_DATA", str(REPO / "hidden_data"))


def _assignment_param(item) -> str | None:
    """The ``assignment`` a parametrized test item runs with, if any."""
    assignment = getattr(item, "callspec", None) and item.callspec.params.get("assignment")
    return assignment if isinstance(assignment, str) else None


def selected_assignments(session, test_name: str) -> list[str]:
    """The assignments the selected items (after -m and -k) of the parametrized test ``test_name`` run with."""
    return sorted({a for item in session.items if item.originalname == test_name and (a := _assignment_param(item))})


#: Assignments whose demo cases the selected tests read from ``graded_course`` (set once collected).
GRADED_ASSIGNMENTS: set[str] = set()


def pytest_collection_finish(session):
    """Note the assignments the selected tests (after -m and -k) need graded."""
    for item in session.items:
        assignment = _assignment_param(item)
        if assignment and "graded_course" in getattr(item, "fixturenames", ()):
            GRADED_ASSIGNMENTS.add(assignment)


def _reads_grades(item) -> bool:
    return "graded_course" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    """Parametrized tests get their assignment's marker. The tests that read the background grading's
    grades run last, so that every other test runs while it grades. GPU tests skip without CUDA, except
    under `make test-gpu` (DL4PHYS_REQUIRE_GPU=1), where they fail."""
    import torch

    for item in items:
        assignment = _assignment_param(item)
        if assignment:
            item.add_marker(getattr(pytest.mark, assignment_marker(assignment)))
    items[:] = [i for i in items if not _reads_grades(i)] + [i for i in items if _reads_grades(i)]
    if torch.cuda.is_available():
        return
    required = os.environ.get("DL4PHYS_REQUIRE_GPU") == "1"
    for item in items:
        if "gpu" in item.keywords:
            if required:
                item.add_marker(pytest.mark.xfail(reason="no CUDA device visible", run=False, strict=True))
            else:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU (run `make test-gpu` on the grading machine)"))


@dataclass
class GradedCourse:
    """A scratch course in which each assignment's demo cases are graded once: those the session's tests
    need by the background grading started with the session, any other when a test first asks."""

    course: grading.Course
    outcomes: list
    graded: set
    background: BackgroundGrading | None = None

    def ensure(self, assignment: str) -> None:
        """Have ``assignment``'s demo cases graded (waiting for the background grading if it grades them)."""
        if assignment in self.graded:
            return
        if self.background is not None:
            background, self.background = self.background, None
            self.outcomes += background.outcomes(timeout=GRADING_WAIT_S)
            self.graded |= set(background.assignments)
            if assignment in self.graded:
                return
        batch = sorted(({assignment} | GRADED_ASSIGNMENTS) - self.graded)
        self.graded |= set(batch)
        self.outcomes += grade_demo_cases(self.course, batch, GRADING_WORKERS)

    def score(self, assignment: str, student: str) -> tuple[float, float]:
        self.ensure(assignment)
        return grading.score_of(self.course, assignment, student)

    def outcome(self, assignment: str, student: str):
        self.ensure(assignment)
        return next(o for o in self.outcomes if o.assignment == assignment and o.student == student)

    def autograded_notebook(self, assignment: str, student: str) -> Path:
        self.ensure(assignment)
        return next((self.course.autograded / student / assignment).glob("*.ipynb"))


@pytest.fixture(scope="session", autouse=True)
def _graded_course(tmp_path_factory):
    """The scratch course of the demo cases; its grading starts with the session, in the background."""
    root = tmp_path_factory.mktemp("course")
    background = BackgroundGrading(root, sorted(GRADED_ASSIGNMENTS), GRADING_WORKERS) if GRADED_ASSIGNMENTS else None
    course = GradedCourse(scratch_course(root), [], set(), background)
    yield course
    if course.background is not None:  # no test came to read the grades (a run stopped early, say)
        course.background.stop()


@pytest.fixture(scope="session")
def graded_course(_graded_course) -> GradedCourse:
    """The demo cases of every assignment the selected tests need, graded (see GradedCourse.ensure)."""
    return _graded_course


@dataclass
class SerialRun:
    """An assignment's demo cases graded one after another (one worker) in a course of their own."""

    course: grading.Course
    students: list[str]
    assignment: str
    output: str = ""  # what the command printed
    release_before: dict = field(default_factory=dict)  # the committed release notebooks' bytes before the run

    def cell_grades(self, students=None) -> dict:
        return cell_grades(self.course, self.assignment, self.students if students is None else students)


def cell_grades(course: grading.Course, assignment: str, students) -> dict:
    """``(student, notebook, cell) -> (auto score, max score, needs manual grade)`` from the gradebook."""
    with grading.gradebook(course) as gb:
        return {
            (s, nb.name, g.name): (g.auto_score, g.max_score, g.needs_manual_grade)
            for s in students
            for nb in gb.find_submission(assignment, s).notebooks
            for g in nb.grades
        }


@pytest.fixture(scope="session")
def serial_hw02(tmp_path_factory) -> SerialRun:
    """hw02's demo cases graded serially, by the command line's `demo --workers 1`: the gradebook that two
    workers, a cluster, and the well-behaved students of the hostile run must all reproduce (and the run
    the command-line test reads)."""
    import contextlib
    import io

    from dl4phys.cli import main

    assignment = "hw02_gradient_descent"
    folder = tmp_path_factory.mktemp("serial")
    release_before = {p: p.read_bytes() for p in (REPO / "release" / assignment).glob("*.ipynb")}
    unsafe = ["--unsafe"] if sandbox.bwrap_path() is None else []
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["demo", assignment, "--course-dir", str(REPO), "--out", str(folder), "--workers", "1", *unsafe])
    assert code == 0, printed.getvalue()[-2000:]
    course = scratch_course(folder)
    students = sorted(grading.demo_cases(course, assignment))
    return SerialRun(course, students, assignment, printed.getvalue(), release_before)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def case_notebook(assignment: str, case: str, folder: Path) -> Path:
    """The notebook of a demo case, built from the committed release into ``folder``; its path."""
    from dl4phys.grading.cases import build_case

    build_case(
        REPO / "tests" / "submissions" / assignment / f"{case}.toml", REPO / "release" / assignment, SOURCE / assignment, folder
    )
    return next(folder.glob("*.ipynb"))


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Path:
    """The students' repository, published from this course into an empty folder (read it, do not change it)."""
    from dl4phys.grading.publish import publish

    dest = tmp_path_factory.mktemp("published") / "homework"
    publish(grading.Course.at(REPO), dest)
    return dest


def perfect_notebook(assignment: str, folder: Path) -> Path:
    """The perfect demo submission of an assignment (the instructor's solution answered in the committed
    release) in ``folder``: its ``perfect`` case file, or that case's definition where it has none yet."""
    from dl4phys.grading.cases import Case, build_notebook

    if (REPO / "tests" / "submissions" / assignment / "perfect.toml").is_file():
        return case_notebook(assignment, "perfect", folder)
    case = Case("perfect", "solution", score=0, why="the instructor's solution, answered in the release notebook")
    folder.mkdir(parents=True, exist_ok=True)
    for release in sorted((REPO / "release" / assignment).glob("*.ipynb")):
        (folder / release.name).write_bytes(build_notebook(case, release, SOURCE / assignment / release.name))
    return next(folder.glob("*.ipynb"))

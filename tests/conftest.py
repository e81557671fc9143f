"""Shared fixtures of the course tests.

The expensive part, running notebooks through the autograder, happens once per session in
``graded_course``: every assignment's demo submissions, its source notebook (the instructor's
solution) and its untouched release notebook are graded in one scratch course directory.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from dl4phys import grading, sandbox

SOURCE_STUDENT = "instructor-source"
RELEASE_STUDENT = "untouched-release"


def _assignment_marker(assignment: str) -> str:
    """The pytest marker of an assignment: its prefix, e.g. ``hw05`` for ``hw06_transformers``."""
    return assignment.split("_", 1)[0]


def pytest_configure(config):
    """One marker per assignment (`pytest -m hw06` runs the tests of hw06_transformers)."""
    for assignment in grading.Course().assignments():
        config.addinivalue_line("markers", f"{_assignment_marker(assignment)}: assignment {assignment}")


def pytest_collection_modifyitems(config, items):
    """Parametrized tests get their assignment's marker. GPU tests skip without CUDA, except under
    `make test-gpu` (DL4PHYS_REQUIRE_GPU=1), where they fail."""
    import torch

    for item in items:
        assignment = getattr(item, "callspec", None) and item.callspec.params.get("assignment")
        if isinstance(assignment, str):
            item.add_marker(getattr(pytest.mark, _assignment_marker(assignment)))
    if torch.cuda.is_available():
        return
    required = os.environ.get("DL4PHYS_REQUIRE_GPU") == "1"
    for item in items:
        if "gpu" in item.keywords:
            if required:
                item.add_marker(pytest.mark.xfail(reason="no CUDA device visible", run=False, strict=True))
            else:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU (run `make test-gpu` on the grading machine)"))


ASSIGNMENTS = grading.Course().assignments()


@dataclass
class GradedCourse:
    """A scratch course in which each assignment is graded once, when a test first asks for it."""

    course: grading.Course
    outcomes: list
    graded: set

    def ensure(self, assignment: str) -> None:
        """Grade the assignment's demo cases, its source and its untouched release (once per session)."""
        if assignment in self.graded:
            return
        self.graded.add(assignment)
        course = self.course
        students = grading.submit_demo_cases(course, assignment)
        submit_notebooks(course, SOURCE_STUDENT, assignment, course.source / assignment)
        submit_notebooks(course, RELEASE_STUDENT, assignment, course.release / assignment)
        # Graded in the sandbox as instructors grade; without bubblewrap (a laptop), the same path unsandboxed.
        self.outcomes += grading.grade(course, assignment, students + [SOURCE_STUDENT, RELEASE_STUDENT],
                                       unsafe=sandbox.bwrap_path() is None, workers=GRADING_WORKERS)

    def score(self, assignment: str, student: str) -> tuple[float, float]:
        self.ensure(assignment)
        for row in grading.scores(self.course):
            if row.assignment == assignment and row.student == student:
                return row.auto_score, row.max_auto_score
        raise KeyError(f"{student} has no graded submission of {assignment}")

    def outcome(self, assignment: str, student: str):
        self.ensure(assignment)
        return next(o for o in self.outcomes if o.assignment == assignment and o.student == student)

    def autograded_notebook(self, assignment: str, student: str) -> Path:
        self.ensure(assignment)
        return next((self.course.autograded / student / assignment).glob("*.ipynb"))


def submit_notebooks(course: grading.Course, student: str, assignment: str, folder: Path) -> None:
    dest = course.submitted / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    for notebook in folder.glob("*.ipynb"):
        shutil.copyfile(notebook, dest / notebook.name)


# Parallel grading on the CI's two cores; results still reach the gradebook through one writer.
GRADING_WORKERS = int(os.environ.get("DL4PHYS_TEST_WORKERS", "2"))


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory) -> GradedCourse:
    """A released scratch course; assignments are graded on first use (see GradedCourse.ensure)."""
    root = tmp_path_factory.mktemp("course")
    course = grading.Course(root=root, release=root / "release")
    grading.release(course)
    return GradedCourse(course, [], set())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

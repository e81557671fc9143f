"""Feedback: one HTML page per graded notebook, without hidden tests (:class:`dl4phys.preprocessors.HideHiddenTests`).

nbgrader copies every file of a student's ``autograded/`` folder into ``feedback/``; only the pages
the grader made stay there.
"""

from __future__ import annotations

import os

from .autograde import GradeOutcome
from .course import Course, CourseError, last_line, nbgrader_api, progress, quiet_nbgrader


def _keep_only_pages(folder) -> None:
    """Remove from a feedback folder everything the grader did not make (links are removed, never followed)."""
    if not folder.is_dir():
        return
    for entry in os.scandir(folder):
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False) or not entry.name.endswith(".html"):
            if entry.is_dir(follow_symlinks=False):
                import shutil

                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)


def feedback(course: Course, assignment: str, students: list[str] | None = None) -> list[GradeOutcome]:
    """Write HTML feedback for every autograded submission of ``assignment``."""
    course.check_assignment(assignment)
    api = nbgrader_api(course)
    students = students or sorted(api.get_autograded_students(assignment))
    if not students:
        raise CourseError(f"nothing autograded for {assignment} yet: run `python -m dl4phys grade {assignment}` first")
    outcomes = []
    for student in progress(students, f"feedback {assignment}"):
        with quiet_nbgrader():
            result = api.generate_feedback(assignment, student, force=True)
        _keep_only_pages(course.feedback / student / assignment)
        outcomes.append(GradeOutcome(student, assignment, result["success"], "" if result["success"] else last_line(result)))
    return outcomes

"""Feedback: one HTML page per graded notebook, without hidden tests (:class:`dl4phys.preprocessors.HideHiddenTests`).

nbgrader copies every file of a student's ``autograded/`` folder into ``feedback/``; only the pages
the grader made stay there, with the two small files nbgrader's ``release_feedback`` reads to name a
page in the exchange (the submission's ``timestamp.txt`` and ``submission_secret.txt``).
"""

from __future__ import annotations

import os

from .autograde import GradeOutcome
from .course import Course, CourseError, last_line, nbgrader_api, progress, quiet_nbgrader

#: What nbgrader's release_feedback reads besides the pages (written by nbgrader's submit and collect).
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


def _keep_only_pages(folder) -> None:
    """Remove from a feedback folder everything the grader did not make (links are removed, never followed)."""
    if not folder.is_dir():
        return
    for entry in os.scandir(folder):
        regular = not entry.is_symlink() and entry.is_file(follow_symlinks=False)
        if regular and entry.name in EXCHANGE_FILES and entry.stat(follow_symlinks=False).st_size < 4096:
            continue
        if not regular or not entry.name.endswith(".html"):
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

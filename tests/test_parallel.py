"""Does grading in parallel give exactly the gradebook that grading one student after another gives?"""

from __future__ import annotations

import pytest

from dl4phys import grading, sandbox

pytestmark = [pytest.mark.grading, pytest.mark.slow]

ASSIGNMENT = "hw02_gradient_descent"


def _graded(root, workers):
    course = grading.Course(root=root, release=root / "release")
    grading.release(course, [ASSIGNMENT])
    students = grading.submit_demo_cases(course, ASSIGNMENT)
    outcomes = grading.grade(course, ASSIGNMENT, students, workers=workers, unsafe=sandbox.bwrap_path() is None)
    assert all(o.ok for o in outcomes), outcomes
    with grading._gradebook(course) as gb:
        cells = {(s, nb.name, g.name): (g.auto_score, g.max_score, g.needs_manual_grade)
                 for s in students for nb in gb.find_submission(ASSIGNMENT, s).notebooks for g in nb.grades}
    return cells, [(o.student, o.notes) for o in outcomes]


def test_two_workers_give_the_same_gradebook_as_one(tmp_path):
    """Are the grades of every cell of every student identical with 1 and with 2 workers?"""
    serial = _graded(tmp_path / "serial", workers=1)
    parallel = _graded(tmp_path / "parallel", workers=2)
    assert serial[0] and serial == parallel

"""The demo: release every assignment, grade its demo submissions, write feedback and the report.

Demo submissions are case files (:mod:`.cases`) under ``tests/submissions/<assignment>/``, built into
notebooks from the current release whenever they are submitted, each with the score it must get.
"""

from __future__ import annotations

from pathlib import Path

from .autograde import GradeOutcome
from .cases import build_notebook, cases_in, load_case
from .course import Course, CourseError
from .feedback import feedback
from .parallel import grade_assignments
from .release import release
from .report import report


def demo_cases(course: Course, assignment: str) -> dict[str, Path]:
    """Case files of an assignment, by case name."""
    return cases_in(course.cases / assignment)


def expected_scores(course: Course, assignment: str) -> dict[str, float | str]:
    """The score each demo case must get (a number, or ``"<N"``: less than full marks N)."""
    return {name: load_case(path).score for name, path in demo_cases(course, assignment).items()}


def submit_demo_cases(course: Course, assignment: str, cases: list[str] | None = None) -> list[str]:
    """Build the demo cases into ``course.submitted`` (student id = case name); return the students.

    Refuses to replace a submission that differs from the demo one, so a real student's work in the
    same course folder is never overwritten.
    """
    students = []
    for name, path in demo_cases(course, assignment).items():
        if cases is not None and name not in cases:
            continue
        case = load_case(path)
        dest = course.submitted / name / assignment
        dest.mkdir(parents=True, exist_ok=True)
        for release_path in sorted((course.release / assignment).glob("*.ipynb")):
            data = build_notebook(case, release_path, course.source / assignment / release_path.name)
            target = dest / release_path.name
            if target.exists() and target.read_bytes() != data:
                raise CourseError(f"{target} exists and is not the demo submission; use another --course-dir for the demo")
            target.write_bytes(data)
        students.append(name)
    return students


def demo(
    course: Course, assignments: list[str] | None = None, *, unsafe: bool = False, workers: int = 1
) -> tuple[list[GradeOutcome], str, Path]:
    """Release the assignments, grade their demo submissions, write feedback and the report."""
    release(course, assignments or course.assignments())
    assignments = assignments or [a for a in course.assignments() if demo_cases(course, a)]
    submissions = {a: students for a in assignments if (students := submit_demo_cases(course, a))}
    # One run for all the assignments: on several workers, none idles between two assignments.
    outcomes = grade_assignments(course, submissions, unsafe=unsafe, workers=workers) if submissions else []
    for assignment in submissions:
        graded = [o.student for o in outcomes if o.assignment == assignment and o.ok]
        if graded:
            outcomes += [o for o in feedback(course, assignment, graded) if not o.ok]
    table, csv_path = report(course)
    return outcomes, table, csv_path

"""Release: the student version of each assignment, made by nbgrader's generate_assignment."""

from __future__ import annotations

from nbgrader.api import MissingEntry

from .course import Course, CourseError, gradebook, last_line, nbgrader_api, quiet_nbgrader, read_notebook


def release(course: Course, assignments: list[str] | None = None) -> list[str]:
    """Generate the student version of each assignment into ``course.release`` (and record it in the gradebook)."""
    assignments = assignments or course.assignments()
    if not assignments:
        raise CourseError(f"no assignments under {course.source}: add source/<assignment>/<notebook>.ipynb")
    for assignment in assignments:
        course.check_assignment(assignment)
        for notebook in (course.source / assignment).glob("*.ipynb"):
            read_notebook(notebook)
    api = nbgrader_api(course)
    for assignment in assignments:
        with quiet_nbgrader():
            result = api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise CourseError(f"could not release {assignment}: {last_line(result)}")
    return assignments


def ensure_in_gradebook(course: Course, assignment: str) -> None:
    """Autograding needs the assignment's cells in the gradebook; releasing records them."""
    with gradebook(course) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    release(course, [assignment])

"""Do the graders give full marks to correct work, zero to untouched releases, and less to wrong work?"""

from __future__ import annotations

import csv

import nbformat
import pytest

from dl4phys import grading

from .conftest import ASSIGNMENTS, RELEASE_STUDENT, SOURCE_STUDENT

pytestmark = pytest.mark.grading

DEMO_CASES = [(a, case) for a in ASSIGNMENTS for case in grading.demo_cases(a)]


def test_course_has_assignments():
    """Is there anything to grade at all?"""
    assert "hw02_gradient_descent" in ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_scores_full_marks(graded_course, assignment):
    """Does the instructor's solution, run as the autograder runs it, get every autograded point?"""
    score, max_score = graded_course.score(assignment, SOURCE_STUDENT)
    assert max_score > 0
    assert score == max_score, _failures(graded_course, assignment, SOURCE_STUDENT)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_scores_zero(graded_course, assignment):
    """Does a student who hands in the release notebook unchanged get zero?"""
    score, max_score = graded_course.score(assignment, RELEASE_STUDENT)
    assert max_score > 0
    assert score == 0


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_demo_case_has_an_expected_score(assignment):
    """Does expected_scores.json list exactly the demo submissions of the assignment, with perfect and blank among them?"""
    cases = set(grading.demo_cases(assignment))
    assert {"perfect", "blank"} <= cases
    assert set(grading.expected_scores(assignment)) == cases


@pytest.mark.parametrize(("assignment", "case"), DEMO_CASES)
def test_demo_submission_gets_expected_score(graded_course, assignment, case):
    """Does each demo submission (perfect, blank, partial, wrong ones) get the score it should?"""
    expected = grading.expected_scores(assignment)[case]
    score, max_score = graded_course.score(assignment, case)
    if isinstance(expected, str):  # "<N": strictly less than full marks N
        assert expected.startswith("<") and float(expected[1:]) == max_score
        assert score < max_score, f"{case} should lose points but scored {score}/{max_score}"
    else:
        assert score == expected, f"{case}: {score}/{max_score}, expected {expected}. " + _failures(graded_course, assignment, case)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_wrong_submissions_lose_points(assignment):
    """Does every assignment have at least one realistic wrong submission that must lose points?"""
    expected = grading.expected_scores(assignment)
    full = expected["perfect"]
    wrong = [c for c, v in expected.items() if c != "blank" and (isinstance(v, str) or v < full)]
    assert wrong, "add a realistic wrong submission under tests/submissions/"


def test_report_lists_every_graded_submission(graded_course):
    """Does the report's table and grades.csv hold one row per graded submission?"""
    graded_course.ensure("hw02_gradient_descent")
    table, path = grading.report(graded_course.course)
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    graded = [o for o in graded_course.outcomes if o.ok]
    assert len(rows) == len(graded)
    assert set(rows[0]) == {"student", "assignment", "auto_score", "max_auto_score", "manual_grading_pending"}
    for outcome in graded:
        assert outcome.student in table


def test_feedback_is_written_for_graded_students(graded_course, tmp_path):
    """Does every autograded notebook get an HTML feedback page?"""
    assignment = "hw02_gradient_descent"
    graded_course.ensure(assignment)
    outcomes = grading.feedback(graded_course.course, assignment, ["perfect", "blank"])
    assert all(o.ok for o in outcomes), outcomes
    for student in ("perfect", "blank"):
        pages = list((graded_course.course.feedback / student / assignment).glob("*.html"))
        assert len(pages) == len(graded_course.course.notebooks(assignment))
        assert "Score" in pages[0].read_text()


@pytest.mark.gpu
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_tests_ran_on_the_gpu(graded_course, assignment):
    """With a GPU present, did the autograder run the perfect submission on CUDA, with full marks?"""
    notebook = nbformat.read(graded_course.autograded_notebook(assignment, "perfect"), as_version=4)
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "cuda" in printed, "the notebook's set-up cell should report the CUDA device"
    score, max_score = graded_course.score(assignment, "perfect")
    assert score == max_score


def _failures(graded_course, assignment: str, student: str) -> str:
    """Which test cells failed and why, for assertion messages."""
    try:
        notebook = nbformat.read(graded_course.autograded_notebook(assignment, student), as_version=4)
    except StopIteration:
        return f"no autograded notebook ({graded_course.outcome(assignment, student).reason})"
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                lines.append(f"{cell.metadata.get('nbgrader', {}).get('grade_id')}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                lines.append(f"{cell.metadata.get('nbgrader', {}).get('grade_id')}: stderr: {output.text[:200]}")
    return "; ".join(lines)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_shows_no_hidden_test_line(graded_course, assignment):
    """Does feedback give each test's points and message without a single line of hidden test code?"""
    import html
    import re

    from .test_release import BLOCK

    students = list(grading.demo_cases(assignment))
    graded_course.ensure(assignment)
    outcomes = grading.feedback(graded_course.course, assignment, students)
    assert all(o.ok for o in outcomes), outcomes
    source = "\n".join(nbformat.read(p, as_version=4).cells[i].source
                       for p in sorted((grading.REPO_ROOT / "source" / assignment).glob("*.ipynb"))
                       for i in range(len(nbformat.read(p, as_version=4).cells)))
    hidden = {line.strip() for block in BLOCK.finditer(source) if block.group(1) == "HIDDEN TESTS"
              for line in block.group(2).splitlines()}
    visible = BLOCK.sub("", source)
    hidden = {line for line in hidden if len(line) > 12 and line not in visible}
    assert hidden
    for student in students:
        for page in (graded_course.course.feedback / student / assignment).glob("*.html"):
            text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
            own = (graded_course.course.submitted / student / assignment / f"{page.stem}.ipynb").read_text()
            own = "\n".join(c.source for c in nbformat.reads(own, as_version=4).cells)
            leaked = [line for line in hidden if line in text and line not in own]  # a student may write the same line
            assert not leaked, f"{page} shows hidden test lines: {leaked[:2]}"
            assert "Score" in text

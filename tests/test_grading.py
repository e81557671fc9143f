"""Do the graders give full marks to correct work, zero to untouched releases, and less to wrong work?"""

from __future__ import annotations

import csv
import html
import re

import nbformat
import pytest

from dl4phys import grading
from dl4phys.grading.cases import load_case
from dl4phys.judging.reference import probed_cells

from .conftest import ASSIGNMENTS, REPO, SOURCE, scratch_course, selected_assignments

pytestmark = pytest.mark.grading

COURSE = scratch_course(REPO / ".unused")  # only to list cases; nothing is written there
DEMO_CASES = [(a, case) for a in ASSIGNMENTS for case in grading.demo_cases(COURSE, a)]
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def test_course_has_assignments():
    """Is there anything to grade at all?"""
    assert "hw02_gradient_descent" in ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_assignment_has_perfect_blank_and_wrong_cases(assignment):
    """Does every assignment have a perfect, a blank and at least one realistic wrong demo case, each saying why?"""
    cases = {name: load_case(path) for name, path in grading.demo_cases(COURSE, assignment).items()}
    assert {"perfect", "blank"} <= set(cases)
    assert cases["perfect"].base == "solution" and not cases["perfect"].cells
    assert cases["blank"].base == "release" and cases["blank"].score == 0
    full = cases["perfect"].score
    assert any(isinstance(c.score, str) or c.score < full for name, c in cases.items() if name != "blank"), (
        "add a realistic wrong submission under tests/submissions/"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_is_judged_outside_the_kernel(assignment):
    """Does every autograded test cell of the source record its hidden tests with a probe (so the grader, not the kernel, decides)?"""
    for path in sorted((SOURCE / assignment).glob("*.ipynb")):
        tests = [
            c.metadata["nbgrader"]["grade_id"]
            for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == "code"
            and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")
        ]
        assert tests and set(probed_cells(path)) == set(tests), (
            f"test cells without a probe: {set(tests) - set(probed_cells(path))}"
        )


@pytest.mark.parametrize(("assignment", "case"), DEMO_CASES)
def test_demo_submission_gets_expected_score(graded_course, assignment, case):
    """Does each demo submission (perfect, blank, alternative-correct, wrong ones) get the score it should?"""
    expected = grading.expected_scores(graded_course.course, assignment)[case]
    score, max_score = graded_course.score(assignment, case)
    if isinstance(expected, str):  # "<N": strictly less than full marks N
        assert float(expected[1:]) == max_score
        assert score < max_score, f"{case} should lose points but scored {score}/{max_score}"
    else:
        assert score == expected, f"{case}: {score}/{max_score}, expected {expected}. " + _failures(
            graded_course, assignment, case
        )
    if case == "perfect":
        assert score == max_score > 0


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


def test_a_failed_visible_assert_is_why_the_hidden_tests_did_not_run(graded_course):
    """When a test cell stops at its own visible assert, does the student read that assert's message, and that the
    hidden tests did not run because of it (not a vaguer reason)?"""
    notebook = nbformat.read(graded_course.autograded_notebook("hw02_gradient_descent", "sgd-step-not-in-place"), as_version=4)
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_sgd_step")
    printed = "".join(o.text for o in cell.outputs if o.output_type == "stream")
    assert "The cell stopped at an error: AssertionError: expected" in printed
    assert [o.evalue for o in cell.outputs if o.output_type == "error"] == [
        "the hidden tests did not run: the cell stopped at the error above"
    ]


def _skipped_in_source(assignment: str) -> set[str]:
    from dl4phys.check import skipped_when_grading

    return {g for path in (SOURCE / assignment).glob("*.ipynb") for g in skipped_when_grading(nbformat.read(path, as_version=4))}


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if _skipped_in_source(a)])
def test_demonstrations_tagged_in_the_source_are_not_run_when_grading(graded_course, assignment):
    """Does the grader skip, with a note, exactly the source's read-only demonstrations tagged skip-when-grading?"""
    from dl4phys.check import SKIPPED_NOTE

    for student in ("perfect", "alternative-correct"):
        notebook = nbformat.read(graded_course.autograded_notebook(assignment, student), as_version=4)
        noted = {
            c.metadata.get("nbgrader", {}).get("grade_id")
            for c in notebook.cells
            if c.cell_type == "code" and any(o.get("text") == SKIPPED_NOTE for o in c.get("outputs", []))
        }
        assert noted == _skipped_in_source(assignment)


@pytest.mark.gpu
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_tests_ran_on_the_gpu(graded_course, assignment):
    """With a GPU present, did the autograder run the perfect submission on CUDA, with full marks?"""
    notebook = nbformat.read(graded_course.autograded_notebook(assignment, "perfect"), as_version=4)
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "cuda" in printed, "the notebook's set-up cell should report the CUDA device"
    score, max_score = graded_course.score(assignment, "perfect")
    assert score == max_score


@pytest.fixture(scope="module")
def demo_feedback(request, graded_course) -> dict:
    """``assignment -> outcomes`` of `feedback` on the demo cases of each assignment whose feedback test is
    selected, two assignments at a time: they come after all the grading, where one process writing every
    page would leave the other core idle."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    selected = selected_assignments(request.session, "test_feedback_shows_each_test_without_hidden_test_lines")
    for assignment in selected:
        graded_course.ensure(assignment)
    course = graded_course.course
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {a: pool.submit(grading.feedback, course, a, list(grading.demo_cases(course, a))) for a in selected}
        return {a: future.result() for a, future in futures.items()}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_shows_each_test_without_hidden_test_lines(graded_course, demo_feedback, assignment):
    """Does feedback give each test's points and the judge's message without a single line of hidden test code?"""
    students = list(grading.demo_cases(graded_course.course, assignment))
    outcomes = demo_feedback[assignment]
    assert sorted(o.student for o in outcomes) == sorted(students)
    assert all(o.ok for o in outcomes), outcomes
    hidden, visible = set(), []
    for path in sorted((SOURCE / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            hidden |= {line.strip() for block in HIDDEN.findall(cell.source) for line in block.splitlines()}
            visible.append(HIDDEN.sub("", cell.source))
    visible_text = "\n".join(visible)
    hidden = {line for line in hidden if len(line) > 12 and line not in visible_text}
    assert hidden
    for student in students:
        pages = list((graded_course.course.feedback / student / assignment).glob("*"))
        assert pages and all(p.suffix == ".html" for p in pages), "feedback holds the grader's pages and nothing else"
        for page in pages:
            text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
            own = (graded_course.course.submitted / student / assignment / f"{page.stem}.ipynb").read_text()
            try:
                own = "\n".join(c.source for c in nbformat.reads(own, as_version=4).cells)
            except Exception:  # a case whose notebook is not JSON
                pass
            leaked = [line for line in hidden if line in text and line not in own]  # a student may write the same line
            assert not leaked, f"{page} shows hidden test lines: {leaked[:2]}"
            assert "Score" in text

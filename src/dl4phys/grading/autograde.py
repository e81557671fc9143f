"""Autograde one student's submission, whatever state it is in, and note what a human should know.

nbgrader's autograde runs the sanitize steps (restore read-only and test cells from the source, put
the tamper guard in front of test cells) and the autograde steps (execute in the sandbox, judge the
probed test cells, save the grades) of ``nbgrader_config.py``. Around it:

* a notebook nbgrader would choke on is graded as a repaired copy (not JSON: the untouched release in
  its place, so zero; duplicated grade ids: the last copy keeps its id), and the student's files are
  never modified;
* every change to the graded structure (deleted, retyped or edited read-only cells), every kernel death,
  timeout or tamper-guard failure, anything the kernel left that the grader ignored, and the static
  tamper scan become one-line notes for the report.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field

import nbformat

from .course import Course, gradebook, last_line, nbgrader_api, quiet_nbgrader

#: Error names the grading pipeline itself writes into cells, with how the report words them.
RUN_PROBLEMS = {
    "KernelDied": "kernel stopped",
    "CellTimeoutError": "cell timed out",
    "TamperError": "tamper guard",
    "stderr": "wrote to stderr (nbgrader scores such a test cell zero)",
}


TAMPER_PREFIX = "tamper guard: "  # dl4phys.sandbox.guard.REPORT_PREFIX (not imported: it runs in kernels)
JUDGED_ERROR = re.compile(r"^The cell stopped at an error: (\w+): ?(.*)")


@dataclass
class GradeOutcome:
    """What happened to one submission: graded or not (``reason``), and what a human should look at."""

    student: str
    assignment: str
    ok: bool
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def autograde_student(course: Course, assignment: str, student: str) -> GradeOutcome:
    """Autograde one submission into ``course``'s gradebook and note what a human should know."""
    from ..preprocessors.sandboxed_execute import RUN_NOTES
    from .tamper import scan_submission

    started = time.perf_counter()
    problem = submission_problem(course, assignment, student)
    if problem:
        outcome = _grade_repaired_copy(course, assignment, student, problem)
    else:
        with quiet_nbgrader():
            result = nbgrader_api(course).autograde(assignment, student, force=True, create=True)
        outcome = GradeOutcome(student, assignment, result["success"], "" if result["success"] else last_line(result))
    if outcome.ok:
        outcome.notes += structure_problems(course, assignment, student) + run_problems(course, assignment, student)
    for name in course.notebooks(assignment):
        ignored = RUN_NOTES.pop((student, assignment, name), [])
        if ignored:
            outcome.notes.append(f"the kernel left files the grader ignored in {name}: {'; '.join(ignored[:3])}"[:300])
    outcome.notes += scan_submission(course.submitted / student / assignment, course.source / "header.ipynb")
    outcome.seconds = time.perf_counter() - started
    return outcome


def submission_problem(course: Course, assignment: str, student: str) -> str:
    """What in a submission nbgrader cannot grade as it is ('' when nothing)."""
    folder = course.submitted / student / assignment
    for name in course.notebooks(assignment):
        path = folder / f"{name}.ipynb"
        if not path.exists():
            continue  # nbgrader scores a missing notebook as zero
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception:
            return f"graded zero: {name}.ipynb is not a valid notebook (not JSON or not nbformat 4); ask the student to resubmit"
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells]
        duplicates = sorted({i for i in ids if i and ids.count(i) > 1})
        if duplicates:
            return f"duplicated cell {', '.join(duplicates)} (the last copy was graded)"
    return ""


def _grade_repaired_copy(course: Course, assignment: str, student: str, problem: str) -> GradeOutcome:
    """Grade a repaired copy of a submission nbgrader would choke on; the student's files stay as they are.

    Unreadable notebooks are replaced by the release notebook (every test fails, so zero); of cells sharing a
    grade id, the last keeps it (as nbgrader's DeduplicateIds does) and the others become plain cells.
    """
    staging = course.root / ".staging" / student  # one per student: parallel workers must not collide
    folder = staging / student / assignment
    shutil.rmtree(staging, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in (course.submitted / student / assignment).glob("*.ipynb"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception:
            # Graded as the untouched release notebook in its place: every test fails, so zero.
            shutil.copyfile(course.release / assignment / path.name, folder / path.name)
            continue
        seen = set()
        for cell in reversed(notebook.cells):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in seen:
                del cell.metadata["nbgrader"]
            elif grade_id:
                seen.add(grade_id)
        nbformat.write(notebook, folder / path.name)
    repaired = course.with_overrides({"CourseDirectory": {"submitted_directory": str(staging)}})
    try:
        with quiet_nbgrader():
            result = nbgrader_api(repaired).autograde(assignment, student, force=True, create=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not result["success"]:
        return GradeOutcome(student, assignment, False, f"{problem}; {last_line(result)}")
    return GradeOutcome(student, assignment, True, notes=[problem])


def is_hidden_variant(source: str, submitted: str) -> bool:
    """The release shows a test cell without its hidden part; that difference is not an edit."""
    from nbformat.notebooknode import NotebookNode
    from nbgrader.preprocessors import ClearHiddenTests

    cell = NotebookNode(cell_type="code", source=source, metadata={})
    ClearHiddenTests(enforce_metadata=False)._remove_hidden_test_region(cell)
    return cell.source.strip() == submitted.strip()


def structure_problems(course: Course, assignment: str, student: str) -> list[str]:
    """Changes to the notebook's graded structure, which nbgrader repairs from the source; one line each."""
    from nbgrader.api import MissingEntry

    notes = []
    with gradebook(course) as gb:
        for name in course.notebooks(assignment):
            path = course.submitted / student / assignment / f"{name}.ipynb"
            try:
                cells = nbformat.read(path, as_version=4).cells
                reference = {c.name: c for c in gb.find_notebook(name, assignment).source_cells}
            except (OSError, MissingEntry, ValueError):
                continue
            seen: dict[str, int] = {}
            for cell in cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id in reference:
                    seen[grade_id] = seen.get(grade_id, 0) + 1
                    source = reference[grade_id]
                    if cell.cell_type != source.cell_type:
                        notes.append(f"changed the type of cell {grade_id} (restored)")
                    elif (
                        source.locked
                        and cell.source.strip() != source.source.strip()
                        and not is_hidden_variant(source.source, cell.source)
                    ):
                        notes.append(f"edited read-only cell {grade_id} (restored)")
            notes += [f"deleted cell {g} (restored)" for g, c in reference.items() if c.locked and g not in seen]
    return notes


def run_problems(course: Course, assignment: str, student: str) -> list[str]:
    """Kernel deaths, timeouts and tamper-guard failures recorded in the autograded notebooks, one line each."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in sorted((course.autograded / student / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            graded = cell.metadata.get("nbgrader", {}).get("grade", False)
            for output in cell.get("outputs", []):
                ename = output.get("ename") or ("stderr" if graded and output.get("name") == "stderr" else None)
                text = output.get("text", "") if output.get("name") == "stdout" else ""
                stopped = JUDGED_ERROR.match(text)
                if stopped:  # the judge keeps a judged cell's kernel error as a line of text
                    ename, output = stopped.group(1), {"evalue": stopped.group(2)}
                elif TAMPER_PREFIX in text:
                    line = (
                        next(li for li in text.splitlines() if li.startswith(TAMPER_PREFIX))
                        if any(li.startswith(TAMPER_PREFIX) for li in text.splitlines())
                        else ""
                    )
                    if line:
                        ename, output = "TamperError", {"evalue": line[len(TAMPER_PREFIX) :]}
                if ename in RUN_PROBLEMS:
                    message, cells = found.setdefault(ename, (output.get("evalue") or output.get("text", "")[:80].strip(), []))
                    cells.append(cell.metadata.get("nbgrader", {}).get("grade_id") or "an ungraded cell")
                    break
    return [
        f"{RUN_PROBLEMS[ename]} in {', '.join(cells[:3])}{' and later cells' if len(cells) > 3 else ''}: "
        + " ".join(message.split())[:200]
        for ename, (message, cells) in found.items()
    ]

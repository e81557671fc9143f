"""The grader's notes and the score table.

Per ``student/assignment``, the latest grading run's notes (kernel deaths, timeouts, tamper flags,
repaired structure) and grading time are kept in ``grading_notes.json`` in the course root, for the
report. Scores come from nbgrader's gradebook as a pandas table, written to ``grades.csv`` and printed
one row per student, one column per assignment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .course import Course, CourseError, gradebook

NOTES_FILE = "grading_notes.json"
SCORE_COLUMNS = ["student", "assignment", "auto_score", "max_auto_score", "manual_grading_pending"]


def _log(course: Course) -> dict:
    path = course.root / NOTES_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def save_notes(course: Course, outcomes) -> None:
    """Keep, per ``student/assignment``, the latest run's notes and grading time."""
    log = _log(course)
    for o in outcomes:
        log[f"{o.student}/{o.assignment}"] = {
            "notes": o.notes + ([f"not graded: {o.reason}"] if not o.ok else []),
            "seconds": round(o.seconds, 2),
        }
    (course.root / NOTES_FILE).write_text(json.dumps(log, indent=1, sort_keys=True) + "\n")


def grading_notes(course: Course) -> dict[str, list[str]]:
    """``student/assignment`` -> notes of the latest grading run (kernel deaths, timeouts, tamper flags)."""
    return {key: entry["notes"] for key, entry in _log(course).items() if entry["notes"]}


def grading_times(course: Course) -> dict[str, float]:
    """``student/assignment`` -> seconds the latest grading of that submission took."""
    return {key: entry["seconds"] for key, entry in _log(course).items()}


def scores(course: Course) -> pd.DataFrame:
    """Autograded scores of every submission in the gradebook (columns: SCORE_COLUMNS), sorted."""
    url = course.db_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise CourseError(f"no gradebook at {url[len('sqlite:///') :]}: grade something first")
    rows = []
    with gradebook(course) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                rows.append(
                    (
                        submission.student.id,
                        assignment.name,
                        float(submission.code_score),
                        float(submission.max_code_score),
                        bool(submission.needs_manual_grade),
                    )
                )
    return pd.DataFrame(rows, columns=SCORE_COLUMNS).sort_values(["student", "assignment"], ignore_index=True)


def score_of(course: Course, assignment: str, student: str) -> tuple[float, float]:
    """(autograded points, maximum) of one submission; KeyError when it was not graded."""
    table = scores(course)
    row = table[(table.assignment == assignment) & (table.student == student)]
    if row.empty:
        raise KeyError(f"{student} has no graded submission of {assignment}")
    return float(row.auto_score.iloc[0]), float(row.max_auto_score.iloc[0])


def write_grades_csv(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False, float_format="%g")
    return path


def score_table(table: pd.DataFrame) -> str:
    """A plain-text table, one row per student and one column per assignment (``score/max``, * = written answers pending)."""
    if table.empty:
        return "no graded submissions"
    cells = table.assign(
        cell=[
            f"{s:g}/{m:g}" + ("*" if p else "")
            for s, m, p in zip(table.auto_score, table.max_auto_score, table.manual_grading_pending)
        ]
    )
    wide = cells.pivot(index="student", columns="assignment", values="cell").fillna("-")
    wide.columns.name = None
    text = wide.reset_index().to_string(index=False, justify="left")
    if table.manual_grading_pending.any():
        text += "\n* written answers still to be graded by hand (formgrader); scores are autograded points only"
    return text

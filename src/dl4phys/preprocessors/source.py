"""The instructor's source notebook of the notebook being graded: what the grader trusts, never the submission."""

from __future__ import annotations

from pathlib import Path

from nbgrader.coursedir import CourseDirectory


def source_notebook(config, assignment: str, notebook: str) -> Path:
    """``source/<assignment>/<notebook>.ipynb`` of the course that ``config`` describes (it may not exist)."""
    coursedir = CourseDirectory(config=config)
    return Path(coursedir.format_path(coursedir.source_directory, ".", assignment)) / f"{notebook}.ipynb"

"""Author nbgrader notebooks from Python, for those who prefer a diff-able script to the Jupyter toolbar.

Each helper returns one nbformat cell with the nbgrader metadata that the "Create Assignment" toolbar
would write (schema version 3). Build a notebook with ``notebook(cells)`` and write it with
``nbformat.write``. Once written, the ``.ipynb`` under ``source/`` is the source of truth.

    from tools.nbbuild import md, code, solution, tests, written, notebook
"""

from __future__ import annotations

import textwrap

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _clean(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


def md(source: str, grade_id: str | None = None) -> nbformat.NotebookNode:
    """A markdown cell; with ``grade_id`` it is read-only for students."""
    cell = new_markdown_cell(_clean(source))
    if grade_id:
        cell.metadata.update(_meta(grade_id, grade=False, solution=False, locked=True))
    return cell


def code(source: str, grade_id: str | None = None) -> nbformat.NotebookNode:
    """A code cell; with ``grade_id`` it is read-only (restored from source at grading time)."""
    cell = new_code_cell(_clean(source))
    if grade_id:
        cell.metadata.update(_meta(grade_id, grade=False, solution=False, locked=True))
    return cell


def solution(source: str, grade_id: str) -> nbformat.NotebookNode:
    """An exercise cell: the student's answer goes between the solution markers."""
    return new_code_cell(_clean(source), metadata=_meta(grade_id, grade=False, solution=True, locked=False))


def tests(source: str, grade_id: str, points: float) -> nbformat.NotebookNode:
    """An autograded test cell (visible asserts, and hidden ones between the hidden-test markers)."""
    return new_code_cell(_clean(source), metadata=_meta(grade_id, grade=True, solution=False, locked=True, points=points))


def written(source: str, grade_id: str, points: float) -> nbformat.NotebookNode:
    """A manually graded markdown answer cell."""
    return new_markdown_cell(_clean(source), metadata=_meta(grade_id, grade=True, solution=True, locked=False, points=points))


def notebook(cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb

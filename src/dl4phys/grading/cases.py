"""Demo and hostile submissions as small patch files, built into notebooks from the current release.

A *case* is a TOML file ``<case>.toml``: the cells a student's submission changes (by ``grade_id``),
what else was done to the notebook, the score it must get and why. :func:`build_case` applies it to
the assignment's release notebook, so a case can never go stale when the release changes::

    base = "solution"   # "solution": the release with every answer cell filled in from source/
                        # "release": the release as students get it (nothing answered)
    score = 14          # autograded points it must get, or "<20" (strictly less than full marks 20)
    why = "divides the attention logits by d instead of sqrt(d)"
    note = ""           # (optional) words the grader's report must note for this submission

    [cells]             # answer cells replaced, by grade_id: their whole new source
    attention = '''
    def scaled_dot_product_attention(q, k, v, mask=None):
        ...
    '''

    [[edits]]           # structural changes, in order, after [cells]:
    delete = "test_fit"                 # remove a cell
    # duplicate = "mse"                 # a second copy right after it (with ``source``: that source)
    # retype = "test_mse"               # code <-> markdown
    # insert_after = "imports"          # a new cell after this one, with
    # source = '''...'''                #   this source and
    # cell_type = "code"                #   this type (default code)
    # tag = "data"                      # set a cell's tags, to
    # tags = ["skip-when-grading"]      #   these
    # raw = '''...'''                   # the notebook file is these bytes instead (not a notebook)
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
EDIT_KINDS = ("delete", "duplicate", "retype", "insert_after", "tag", "raw")


class CaseError(ValueError):
    """A case file that cannot be applied (unknown grade_id, unknown key); says which and where."""


@dataclass(frozen=True)
class Case:
    name: str
    base: str
    score: float | str
    why: str
    note: str = ""
    cells: dict[str, str] = field(default_factory=dict)
    edits: tuple[dict, ...] = ()


def load_case(path: Path) -> Case:
    """Read and check a case file."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as err:
        raise CaseError(f"{path}: not valid TOML ({err})") from err
    unknown = set(data) - {"base", "score", "why", "note", "cells", "edits"}
    if unknown:
        raise CaseError(f"{path}: unknown keys {sorted(unknown)}")
    if data.get("base") not in ("solution", "release"):
        raise CaseError(f"{path}: base must be 'solution' or 'release'")
    score = data.get("score")
    if not (isinstance(score, (int, float)) or isinstance(score, str) and re.fullmatch(r"<\d+(\.\d+)?", score)):
        raise CaseError(f"{path}: score must be a number or '<N' (less than full marks N)")
    if not data.get("why"):
        raise CaseError(f"{path}: say why the case gets its score (why = ...)")
    for edit in data.get("edits", []):
        if sum(key in edit for key in EDIT_KINDS) != 1:
            raise CaseError(f"{path}: each [[edits]] entry needs exactly one of {', '.join(EDIT_KINDS)}")
    return Case(
        Path(path).stem,
        data["base"],
        score,
        data["why"],
        data.get("note", ""),
        dict(data.get("cells", {})),
        tuple(data.get("edits", [])),
    )


def cases_in(folder: Path) -> dict[str, Path]:
    """The case files of a folder, by case name."""
    return {p.stem: p for p in sorted(Path(folder).glob("*.toml"))} if Path(folder).is_dir() else {}


def answered(release_cell, source_cell) -> str:
    """What a student who writes the instructor's solution puts in an answer cell."""
    return SOLUTION_MARKER.sub("", source_cell.source).strip("\n")


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def build_notebook(case: Case, release_path: Path, source_path: Path) -> bytes:
    """The submitted notebook of ``case``: the release with the case's answers and edits, as file bytes."""
    for edit in case.edits:
        if "raw" in edit:
            return edit["raw"].encode()
    notebook = nbformat.read(release_path, as_version=4)
    if case.base == "solution":
        source = {_grade_id(c): c for c in nbformat.read(source_path, as_version=4).cells if _grade_id(c)}
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and _grade_id(cell) in source:
                cell.source = answered(cell, source[_grade_id(cell)])
    by_id = {_grade_id(c): c for c in notebook.cells if _grade_id(c)}
    for grade_id, new_source in case.cells.items():
        if grade_id not in by_id:
            raise CaseError(f"case {case.name}: no cell {grade_id!r} in {release_path.name}")
        by_id[grade_id].source = new_source.strip("\n")
    for number, edit in enumerate(case.edits):
        kind = next(key for key in EDIT_KINDS if key in edit)
        target = edit[kind]
        index = next((i for i, c in enumerate(notebook.cells) if _grade_id(c) == target), None)
        if index is None:
            raise CaseError(f"case {case.name}: no cell {target!r} to {kind.replace('_', ' ')} in {release_path.name}")
        cell = notebook.cells[index]
        if kind == "delete":
            del notebook.cells[index]
        elif kind == "duplicate":
            twin = copy.deepcopy(cell)
            twin["id"] = f"{case.name}-copy-{number}"[:64]
            if "source" in edit:
                twin.source = edit["source"].strip("\n")
            notebook.cells.insert(index + 1, twin)
        elif kind == "retype":
            maker = nbformat.v4.new_markdown_cell if cell.cell_type == "code" else nbformat.v4.new_code_cell
            retyped = maker(cell.source, metadata=cell.metadata)
            retyped["id"] = cell.get("id", f"{case.name}-retyped-{number}")
            notebook.cells[index] = retyped
        elif kind == "insert_after":
            maker = nbformat.v4.new_markdown_cell if edit.get("cell_type") == "markdown" else nbformat.v4.new_code_cell
            new = maker(edit.get("source", "").strip("\n"))
            new["id"] = f"{case.name}-insert-{number}"[:64]
            notebook.cells.insert(index + 1, new)
        elif kind == "tag":
            cell.metadata["tags"] = list(edit.get("tags", []))
    return nbformat.writes(notebook).encode() + b"\n"


def build_case(case_file: Path, release_folder: Path, source_folder: Path, dest: Path) -> Case:
    """Write the submission of the case at ``case_file`` into the folder ``dest``; return the case."""
    case = load_case(case_file)
    dest.mkdir(parents=True, exist_ok=True)
    for release_path in sorted(Path(release_folder).glob("*.ipynb")):
        data = build_notebook(case, release_path, Path(source_folder) / release_path.name)
        (dest / release_path.name).write_bytes(data)
    return case

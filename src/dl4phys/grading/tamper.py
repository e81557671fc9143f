"""Static tamper report: code in a submission that looks like an attempt to cheat the grader.

:func:`scan_notebook` reads the cells a student wrote (every code cell except the locked and test
cells, whose source the autograder restores anyway) and flags

* assignments to attributes of torch, numpy, builtins, math, unittest, the course package or the
  testing helpers (``torch.allclose = ...``, ``np.testing.assert_allclose = ...``,
  ``setattr(builtins, ...)``, ``sys.modules[...] = ...``);
* file access outside the submission: a path literal that is absolute (other than ``/tmp``) or
  climbs with ``..``, such as ``open("../../source/...")`` or ``sqlite3.connect("../gradebook.db")``.

Flags never change a score; they are listed in the report for a human to look at.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

WATCHED_MODULES = {
    "torch",
    "numpy",
    "builtins",
    "math",
    "unittest",
    "dl4phys",
    "sklearn",
    "pandas",
    "nbgrader",
    "pytest",
    "sys",
    "importlib",
}
MAGIC_LINE = re.compile(r"^\s*[%!].*$", re.M)


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover
        return "?"


def _suspicious_path(value: str) -> bool:
    """A path literal that climbs out of the submission (``..``) or is absolute (other than /tmp)."""
    if not value or len(value) > 300 or any(ch.isspace() for ch in value):
        return False
    climbs = value == ".." or value.startswith("../") or "/../" in value or value.endswith("/..")
    absolute = value.startswith("/") and len(value) > 1 and not value.startswith(("//", "/tmp"))
    return climbs or absolute


def scan_source(source: str) -> list[str]:
    """Flags for one cell's Python source (IPython magics are ignored)."""
    try:
        tree = ast.parse(MAGIC_LINE.sub("", source))
    except SyntaxError:
        return []
    aliases = {"__builtins__": "builtins"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in WATCHED_MODULES:
                    aliases[(alias.asname or alias.name).split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in WATCHED_MODULES:
            for alias in node.names:
                aliases[alias.asname or alias.name] = node.module.split(".")[0]
    # The usual short names count even without an import in the same cell.
    aliases.update(
        {
            k: v
            for k, v in {
                "torch": "torch",
                "np": "numpy",
                "numpy": "numpy",
                "builtins": "builtins",
                "math": "math",
                "sys": "sys",
            }.items()
            if k not in aliases
        }
    )
    flags = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            if isinstance(target, (ast.Attribute, ast.Subscript)) and _root_name(target) in aliases:
                flags.append(f"replaces {_dotted(target)}")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in ("setattr", "delattr") and node.args and _root_name(node.args[0]) in aliases | {"torch": 1}:
                flags.append(f"{name} on {_dotted(node.args[0])}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _suspicious_path(node.value):
            flags.append(f"names the path {node.value!r} outside the submission")
    return flags


def _course_cells(header: Path | None) -> set[str]:
    """Sources of the cells every release notebook starts with (the set-up cell), which are the course's own."""
    try:
        return {c.source.strip() for c in nbformat.read(header, as_version=4).cells} if header else set()
    except (OSError, ValueError):
        return set()


def scan_notebook(path: Path, header: Path | None = None) -> list[str]:
    """Flags for the student-written cells of a notebook (empty for an unreadable notebook).

    ``header``: the course's set-up notebook (``source/header.ipynb``), whose cells are not the student's.
    """
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception:
        return []
    flags = []
    course_cells = _course_cells(header)
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("locked") or (meta.get("grade") and not meta.get("solution")):
            continue
        if cell.source.strip() in course_cells:
            continue
        flags += [f"{meta.get('grade_id', 'cell')}: {flag}" for flag in scan_source(cell.source)]
    return list(dict.fromkeys(flags))


def scan_submission(folder: Path, header: Path | None = None) -> list[str]:
    """Flags for every notebook of one student's submission folder."""
    return [f"tamper? {p.name} {flag}" for p in sorted(folder.glob("*.ipynb")) for flag in scan_notebook(p, header)]
